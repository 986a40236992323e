/* SPDX-License-Identifier: MIT */
/* Little-endian fixed-width encoding with a bounded reader: every read past
 * the end sets err and returns zeros, so parsers check once at the end of
 * each record instead of after every field. */
#include <errno.h>
#include <string.h>
#include "repo/repo_int.h"

const uint8_t *cs_rd_bytes(cs_rd *r, size_t n)
{
    const uint8_t *p;

    if (r->err || n > r->n) {
        r->err = -EBADMSG;
        return NULL;
    }
    p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

static uint64_t rd_le(cs_rd *r, size_t n)
{
    const uint8_t *p = cs_rd_bytes(r, n);
    uint64_t v = 0;

    if (!p)
        return 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t cs_rd_u8(cs_rd *r) { return (uint8_t)rd_le(r, 1); }
uint16_t cs_rd_u16(cs_rd *r) { return (uint16_t)rd_le(r, 2); }
uint32_t cs_rd_u32(cs_rd *r) { return (uint32_t)rd_le(r, 4); }
uint64_t cs_rd_u64(cs_rd *r) { return rd_le(r, 8); }

static int wr_le(cs_buf *b, uint64_t v, size_t n)
{
    uint8_t t[8];

    for (size_t i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return cs_buf_append(b, t, n);
}

int cs_wr_u8(cs_buf *b, uint8_t v) { return wr_le(b, v, 1); }
int cs_wr_u16(cs_buf *b, uint16_t v) { return wr_le(b, v, 2); }
int cs_wr_u32(cs_buf *b, uint32_t v) { return wr_le(b, v, 4); }
int cs_wr_u64(cs_buf *b, uint64_t v) { return wr_le(b, v, 8); }
