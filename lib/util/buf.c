/* SPDX-License-Identifier: MIT */
/* Growable byte buffer with a limit. */
#include "util/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util/secmem.h"

/* The caller may fill what it reserved before it moves len (cs_unseal
 * decrypts into the reservation and fails before it does): count it. */
static void mark_written(cs_buf *b, size_t end)
{
    if (b->len > end)
        end = b->len;
    if (end > b->written)
        b->written = end;
}

int cs_buf_reserve(cs_buf *b, size_t extra)
{
    size_t limit = b->limit ? b->limit : SIZE_MAX / 2;
    size_t need, ncap;
    uint8_t *n;

    if (extra > limit || b->len > limit - extra)
        return -EMSGSIZE;
    need = b->len + extra;
    if (need <= b->cap) {
        mark_written(b, need);
        return 0;
    }
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > limit / 2 ? limit : ncap * 2;
    if (!b->data && ncap >= CS_BUF_ALIGNED_MIN) {
        /* big buffers (packs) start page-aligned, so that the file backend
         * can hand them to the disk with O_DIRECT instead of copying them */
        void *p;
        if (posix_memalign(&p, 4096, ncap) != 0)
            return -ENOMEM;
        n = p;
    } else {
        n = realloc(b->data, ncap);
    }
    if (!n)
        return -ENOMEM;
    b->data = n;
    b->cap = ncap;
    mark_written(b, need);
    return 0;
}

int cs_buf_append(cs_buf *b, const void *data, size_t len)
{
    int r = cs_buf_reserve(b, len);

    if (r < 0)
        return r;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void cs_buf_reset(cs_buf *b)
{
    mark_written(b, b->len);
    b->len = 0;
}

void cs_buf_free_ciphertext(cs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = b->written = 0;
}

void cs_buf_wipe(cs_buf *b)
{
    mark_written(b, b->len);
    if (b->data && b->written)
        cs_wipe(b->data, b->written < b->cap ? b->written : b->cap);
    b->len = b->written = 0;
}

void cs_buf_free(cs_buf *b)
{
    cs_buf_wipe(b);
    cs_buf_free_ciphertext(b);
}
