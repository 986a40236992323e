/* SPDX-License-Identifier: MIT */
/* Growable byte buffer with a limit. */
#include "util/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util/secmem.h"

int cs_buf_reserve(cs_buf *b, size_t extra)
{
    size_t limit = b->limit ? b->limit : SIZE_MAX / 2;
    size_t need, ncap;
    uint8_t *n;

    if (extra > limit || b->len > limit - extra)
        return -EMSGSIZE;
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
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
    b->len = 0;
}

void cs_buf_free_ciphertext(cs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cs_buf_free(cs_buf *b)
{
    if (b->data)
        cs_wipe(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
