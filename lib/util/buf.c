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

/* A new block of ncap bytes for b, holding what b's may have held (len
 * and past it: a writer may fill a reservation before it moves len); NULL
 * when out of memory (b's block then still b's).  No copy is left behind:
 * realloc would leave the old block (a key, a decrypted keybag, a tree) in
 * the heap unwiped whenever it moves it, so data is copied and the old
 * block wiped before it is freed.  An empty buffer (reset, as scratch
 * buffers are before each use) has nothing to keep: wiped first, it is
 * realloc'd, which for a big block remaps its pages instead of faulting in
 * new ones.  A file_data buffer grows by realloc as it is. */
static uint8_t *grow(cs_buf *b, size_t ncap)
{
    size_t used = b->written > b->len ? b->written : b->len;
    uint8_t *n;

    if (!b->data && ncap >= CS_BUF_ALIGNED_MIN) {
        /* big buffers (packs) start page-aligned, so that the file backend
         * can hand them to the disk with O_DIRECT instead of copying them */
        void *p;
        return posix_memalign(&p, 4096, ncap) == 0 ? p : NULL;
    }
    if (b->file_data)
        return realloc(b->data, ncap);
    if (b->len == 0) {
        cs_buf_wipe(b);
        return realloc(b->data, ncap);
    }
    if (!(n = malloc(ncap)))
        return NULL;
    if (used > b->cap)
        used = b->cap;
    memcpy(n, b->data, used);
    cs_wipe(b->data, used);
    free(b->data);
    return n;
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
    n = grow(b, ncap);
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
