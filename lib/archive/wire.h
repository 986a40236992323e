/* SPDX-License-Identifier: MIT */
/* Bounded little-endian readers and writers for the archive's binary
 * formats (log entries, local state).  A reader never reads past its
 * length: every accessor returns -EBADMSG on truncation instead. */
#ifndef CS_ARCHIVE_WIRE_H
#define CS_ARCHIVE_WIRE_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "util/buf.h"

typedef struct cs_wreader {
    const uint8_t *p;
    size_t len;
    size_t off;
} cs_wreader;

static inline size_t cs_wr_left(const cs_wreader *r) { return r->len - r->off; }

static inline int cs_rd_bytes(cs_wreader *r, size_t n, const uint8_t **out)
{
    if (cs_wr_left(r) < n)
        return -EBADMSG;
    *out = r->p + r->off;
    r->off += n;
    return 0;
}

static inline int cs_rd_copy(cs_wreader *r, void *dst, size_t n)
{
    const uint8_t *p;
    int ret = cs_rd_bytes(r, n, &p);

    if (ret == 0 && n)
        memcpy(dst, p, n);
    return ret;
}

static inline int cs_rd_u8(cs_wreader *r, uint8_t *v) { return cs_rd_copy(r, v, 1); }

static inline int cs_rd_u16(cs_wreader *r, uint16_t *v)
{
    const uint8_t *p;
    int ret = cs_rd_bytes(r, 2, &p);

    if (ret == 0)
        *v = (uint16_t)(p[0] | p[1] << 8);
    return ret;
}

static inline int cs_rd_u32(cs_wreader *r, uint32_t *v)
{
    const uint8_t *p;
    int ret = cs_rd_bytes(r, 4, &p);

    if (ret == 0)
        *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return ret;
}

static inline int cs_rd_u64(cs_wreader *r, uint64_t *v)
{
    uint32_t lo, hi;
    int ret = cs_rd_u32(r, &lo);

    if (ret == 0)
        ret = cs_rd_u32(r, &hi);
    if (ret == 0)
        *v = (uint64_t)hi << 32 | lo;
    return ret;
}

/* A string of at most 255 bytes, length-prefixed by one byte, copied into
 * dst (cap >= 256) and NUL-terminated.  An embedded NUL is malformed. */
static inline int cs_rd_str8(cs_wreader *r, char *dst, size_t cap)
{
    uint8_t n;
    int ret = cs_rd_u8(r, &n);

    if (ret < 0)
        return ret;
    if ((size_t)n + 1 > cap)
        return -EBADMSG;
    ret = cs_rd_copy(r, dst, n);
    if (ret < 0)
        return ret;
    dst[n] = '\0';
    return memchr(dst, '\0', n) ? -EBADMSG : 0;
}

static inline int cs_wb_u8(cs_buf *b, uint8_t v) { return cs_buf_append(b, &v, 1); }

static inline int cs_wb_u16(cs_buf *b, uint16_t v)
{
    uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

    return cs_buf_append(b, x, 2);
}

static inline int cs_wb_u32(cs_buf *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

    return cs_buf_append(b, x, 4);
}

static inline int cs_wb_u64(cs_buf *b, uint64_t v)
{
    int r = cs_wb_u32(b, (uint32_t)v);

    return r < 0 ? r : cs_wb_u32(b, (uint32_t)(v >> 32));
}

static inline int cs_wb_str8(cs_buf *b, const char *s)
{
    size_t n = strlen(s);
    int r;

    if (n > 255)
        return -ENAMETOOLONG;
    r = cs_wb_u8(b, (uint8_t)n);
    return r < 0 ? r : cs_buf_append(b, s, n);
}

#endif
