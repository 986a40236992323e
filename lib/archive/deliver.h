/* SPDX-License-Identifier: MIT */
/* Fetching bodies from packs and delivering them into the Maildir, several
 * packs at a time: on high-latency storage the round trips overlap, and
 * decryption and decompression use every CPU. */
#ifndef CS_ARCHIVE_DELIVER_H
#define CS_ARCHIVE_DELIVER_H

#include <stddef.h>
#include <stdint.h>
#include "archive/maildir.h"
#include "archive/seal.h"
#include "archive/state.h"
#include "storage/storage.h"

typedef struct cs_arch_delivery {
    const cs_arch_inst *in;           /* what to deliver (read only meanwhile) */
    char name[CS_MD_NAME_MAX + 1];    /* its file name */
    int result;                       /* 0 delivered, -EEXIST name taken, -EBADMSG tampered, -errno */
} cs_arch_delivery;

/* Deliver every item (sorted here by pack and offset); each item's result
 * says what happened.  Returns 0, or the first storage error (items of that
 * pack get it as their result too). */
typedef void (*cs_arch_progress_fn)(void *userdata, const char *phase, uint64_t done, uint64_t total);

int cs_arch_deliver_all(cs_storage *s, const char *prefix, const cs_arch_keys *k, int rootfd,
                        cs_arch_delivery *v, size_t n, uint64_t *bytes_downloaded,
                        cs_arch_progress_fn progress, void *userdata);

#endif
