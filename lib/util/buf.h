/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a hard size limit.
 * Used for every object read from disk or network: the limit is how a
 * hostile peer is kept from making us allocate without bound. */
#ifndef CS_UTIL_BUF_H
#define CS_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 = no limit other than SIZE_MAX/2 */
    /* Bytes from data that may have held data: the largest len seen and the
     * end of every reservation (writers fill a reservation past len before
     * they move len).  The wipe stops here: wiping the whole capacity faulted
     * in pages never written, just to zero them. */
    size_t written;
    /* Holds file contents only (the blob compression scratch), none of the
     * secrets and plaintext the rules want wiped (keys, keybags, trees,
     * indexes): grows by a bare realloc, which keeps a big block's pages
     * (mremap) instead of wiping them, faulting in new ones and copying. */
    bool file_data;
} cs_buf;

#define CS_BUF_INIT { NULL, 0, 0, 0, 0, false }

/* A first allocation of at least this size is page-aligned. */
#define CS_BUF_ALIGNED_MIN (1u << 20)

/* Ensure room for `extra` more bytes; -EMSGSIZE past limit, -ENOMEM.
 * Growth never leaves a copy behind: the bytes that may have been written
 * move to the new block and the old one is wiped before it is freed (any
 * cs_buf may hold a key file, a decrypted keybag or tree read through
 * cs_read_file()/cs_unseal(), so none but file_data ones grows by a bare
 * realloc).  An empty buffer (len 0) carries nothing over; otherwise what
 * may have been written (`written`) is.  Encoders that know their size
 * reserve it up front: each growth costs a copy, a wipe and, for big
 * blocks, page faults that realloc's mremap would not. */
int cs_buf_reserve(cs_buf *b, size_t extra);
int cs_buf_append(cs_buf *b, const void *data, size_t len);
void cs_buf_reset(cs_buf *b);    /* len = 0, keeps memory */
/* Zeroes every byte that may have been written (see `written`), len = 0,
 * keeps memory.  A writer must reserve before it writes past len, or move
 * len over what it wrote before it makes len smaller. */
void cs_buf_wipe(cs_buf *b);
void cs_buf_free(cs_buf *b);     /* wipes (cs_buf_wipe), frees, zeroes the struct */
/* Frees without the wipe, for buffers that only ever end up holding
 * ciphertext (pack buffers): wiping 16 MiB of capacity per pack, most of it
 * never touched, faulted in and cleared pages for nothing. */
void cs_buf_free_ciphertext(cs_buf *b);

static inline void cs_buf_freep(cs_buf *b) { cs_buf_free(b); }
#define _cleanup_buf_ __attribute__((cleanup(cs_buf_freep)))

#endif
