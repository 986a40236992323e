/* SPDX-License-Identifier: MIT */
/* Bounded binary reader and writer (util/bytes.h). */
#include "util/bytes.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

int cs_rd_end(const cs_reader *rd)
{
    return rd->err ? rd->err : rd->left ? -EBADMSG : 0;
}

int cs_rd_fail(cs_reader *rd)
{
    if (!rd->err)
        rd->err = -EBADMSG;
    return rd->err;
}

int cs_get_bytes(cs_reader *rd, size_t n, const uint8_t **p)
{
    *p = NULL;
    if (rd->err || n > rd->left)
        return cs_rd_fail(rd);
    *p = rd->p;
    rd->p += n;
    rd->left -= n;
    return 0;
}

int cs_get_copy(cs_reader *rd, void *dst, size_t n)
{
    const uint8_t *p;
    int r = cs_get_bytes(rd, n, &p);

    if (r < 0)
        memset(dst, 0, n);
    else if (n)
        memcpy(dst, p, n);
    return r;
}

/* n bytes, least significant first (le) or last (be); 0 on failure. */
static int get_uint(cs_reader *rd, size_t n, bool le, uint64_t *v)
{
    const uint8_t *p;
    int r = cs_get_bytes(rd, n, &p);

    *v = 0;
    for (size_t i = 0; r == 0 && i < n; i++)
        *v |= (uint64_t)p[le ? i : n - 1 - i] << (8 * i);
    return r;
}

#define GETTER(name, type, n, le)                    \
    int name(cs_reader *rd, type *v)                 \
    {                                                \
        uint64_t x;                                  \
        int r = get_uint(rd, n, le, &x);             \
                                                     \
        *v = (type)x;                                \
        return r;                                    \
    }

GETTER(cs_get_u8, uint8_t, 1, true)
GETTER(cs_get_le16, uint16_t, 2, true)
GETTER(cs_get_le32, uint32_t, 4, true)
GETTER(cs_get_le64, uint64_t, 8, true)
GETTER(cs_get_be32, uint32_t, 4, false)
GETTER(cs_get_be64, uint64_t, 8, false)

int cs_get_lp8(cs_reader *rd, const uint8_t **p, size_t *n)
{
    uint8_t len;
    int r;

    cs_get_u8(rd, &len);
    r = cs_get_bytes(rd, len, p);
    *n = r < 0 ? 0 : len;
    return r;
}

int cs_get_lp_be32(cs_reader *rd, const uint8_t **p, size_t *n)
{
    uint32_t len;
    int r;

    cs_get_be32(rd, &len);
    r = cs_get_bytes(rd, len, p);
    *n = r < 0 ? 0 : len;
    return r;
}

int cs_get_str8(cs_reader *rd, char *dst, size_t cap)
{
    const uint8_t *p;
    size_t n;

    if (cap)
        dst[0] = '\0';
    if (cs_get_lp8(rd, &p, &n) < 0 || n >= cap || memchr(p, '\0', n))
        return cs_rd_fail(rd);
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

static int put_uint(cs_buf *b, uint64_t v, size_t n, bool le)
{
    uint8_t x[8];

    for (size_t i = 0; i < n; i++)
        x[le ? i : n - 1 - i] = (uint8_t)(v >> (8 * i));
    return cs_buf_append(b, x, n);
}

int cs_put_u8(cs_buf *b, uint8_t v) { return put_uint(b, v, 1, true); }
int cs_put_le16(cs_buf *b, uint16_t v) { return put_uint(b, v, 2, true); }
int cs_put_le32(cs_buf *b, uint32_t v) { return put_uint(b, v, 4, true); }
int cs_put_le64(cs_buf *b, uint64_t v) { return put_uint(b, v, 8, true); }
int cs_put_be32(cs_buf *b, uint32_t v) { return put_uint(b, v, 4, false); }
int cs_put_be64(cs_buf *b, uint64_t v) { return put_uint(b, v, 8, false); }

int cs_put_lp8(cs_buf *b, const void *p, size_t n)
{
    int r = n > UINT8_MAX ? -EMSGSIZE : cs_put_u8(b, (uint8_t)n);

    return r < 0 ? r : cs_buf_append(b, p, n);
}

int cs_put_lp_be32(cs_buf *b, const void *p, size_t n)
{
    int r = n > UINT32_MAX ? -EMSGSIZE : cs_put_be32(b, (uint32_t)n);

    return r < 0 ? r : cs_buf_append(b, p, n);
}

int cs_put_str8(cs_buf *b, const char *s)
{
    size_t n = strlen(s);

    return n > UINT8_MAX ? -ENAMETOOLONG : cs_put_lp8(b, s, n);
}
