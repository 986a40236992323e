/* SPDX-License-Identifier: MIT */
/* Fixed-width binary fields, the one way every binary format is read and
 * written (repository objects, archive log and state, keybag MAC input).
 *
 * A cs_reader walks (ptr, len) and never reads past the end.  Every getter
 * returns 0 or -EBADMSG; the first error sticks (like OpenSSH's sshbuf):
 * once a getter failed, every later one fails too and zero-fills its output,
 * so a parser may read a whole record and check once, with cs_rd_end() or
 * rd->err.  The byte order is in each name: le (little-endian, the
 * repository and archive), be (big-endian, the keybag's MAC input).
 *
 * The writers append to a cs_buf (whose limit bounds them) and return 0,
 * -ENOMEM or -EMSGSIZE. */
#ifndef CS_UTIL_BYTES_H
#define CS_UTIL_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"

typedef struct cs_reader {
    const uint8_t *p; /* the next byte */
    size_t left;      /* bytes from p to the end */
    int err;          /* 0, or the first error (-EBADMSG): sticky */
} cs_reader;

static inline cs_reader cs_rd_init(const void *p, size_t len)
{
    cs_reader rd = { p, len, 0 };

    return rd;
}

/* Bytes not yet read (0 once failed). */
static inline size_t cs_rd_left(const cs_reader *rd) { return rd->err ? 0 : rd->left; }
/* The record is over: 0 if all was read without error, else -EBADMSG
 * (an earlier error, or trailing bytes). */
int cs_rd_end(const cs_reader *rd);
/* Mark the reader failed (a field the caller found invalid); returns -EBADMSG. */
int cs_rd_fail(cs_reader *rd);

/* Little-endian loads from a record already bounds-checked with
 * cs_get_bytes(): fixed-size records decode without a call per field. */
static inline uint16_t cs_load_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t cs_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t cs_load_le64(const uint8_t *p) { return cs_load_le32(p) | (uint64_t)cs_load_le32(p + 4) << 32; }
/* Little-endian stores into space already reserved for a whole record;
 * each returns the byte after the field. */
static inline uint8_t *cs_store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static inline uint8_t *cs_store_le32(uint8_t *p, uint32_t v)
{
    return cs_store_le16(cs_store_le16(p, (uint16_t)v), (uint16_t)(v >> 16));
}
static inline uint8_t *cs_store_le64(uint8_t *p, uint64_t v)
{
    return cs_store_le32(cs_store_le32(p, (uint32_t)v), (uint32_t)(v >> 32));
}

/* n bytes in place: *p points into the input (NULL on failure). */
int cs_get_bytes(cs_reader *rd, size_t n, const uint8_t **p);
/* n bytes copied to dst (zero-filled on failure). */
int cs_get_copy(cs_reader *rd, void *dst, size_t n);
int cs_get_u8(cs_reader *rd, uint8_t *v);
int cs_get_le16(cs_reader *rd, uint16_t *v);
int cs_get_le32(cs_reader *rd, uint32_t *v);
int cs_get_le64(cs_reader *rd, uint64_t *v);
int cs_get_be32(cs_reader *rd, uint32_t *v);
int cs_get_be64(cs_reader *rd, uint64_t *v);
/* Length-prefixed bytes in place: a u8 / be32 length, then that many bytes
 * (*p NULL and *n 0 on failure). */
int cs_get_lp8(cs_reader *rd, const uint8_t **p, size_t *n);
int cs_get_lp_be32(cs_reader *rd, const uint8_t **p, size_t *n);
/* A u8-length-prefixed string copied into dst (cap >= length + 1) and
 * NUL-terminated; too long for dst or an embedded NUL is -EBADMSG. */
int cs_get_str8(cs_reader *rd, char *dst, size_t cap);

int cs_put_u8(cs_buf *b, uint8_t v);
int cs_put_le16(cs_buf *b, uint16_t v);
int cs_put_le32(cs_buf *b, uint32_t v);
int cs_put_le64(cs_buf *b, uint64_t v);
int cs_put_be32(cs_buf *b, uint32_t v);
int cs_put_be64(cs_buf *b, uint64_t v);
/* A u8 / be32 length, then the bytes; -EMSGSIZE if n does not fit. */
int cs_put_lp8(cs_buf *b, const void *p, size_t n);
int cs_put_lp_be32(cs_buf *b, const void *p, size_t n);
/* A C string as cs_put_lp8; -ENAMETOOLONG past 255 bytes. */
int cs_put_str8(cs_buf *b, const char *s);

#endif
