/* SPDX-License-Identifier: MIT */
/* Turning new local messages into stored bodies, fast:
 *   - cs_arch_seal_batch: content ids and sealed bodies of a batch of
 *     messages, computed on all CPUs (BLAKE2b, zstd and XChaCha20 are most
 *     of an initial sync's time);
 *   - cs_arch_packer: appends sealed bodies to a pack and uploads full packs in a
 *     background thread, so hashing the next pack overlaps the PUT (and its
 *     fsync, or its network round trips).  Storage backends are thread-safe
 *     (storage.h). */
#ifndef CS_ARCHIVE_INGEST_H
#define CS_ARCHIVE_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "archive/entry.h"
#include "archive/seal.h"
#include "storage/storage.h"

typedef struct cs_arch_job {
    const char *path;                 /* in: the message file, relative to dirfd */
    cs_buf msg;                       /* out: its bytes */
    uint8_t id[CS_ARCH_ID_BYTES];     /* out: content id */
    cs_buf sealed;                    /* out: sealed body (when sealing) */
    int err;                          /* out: 0 or -errno */
} cs_arch_job;

/* Read every job's file (at most CS_ARCH_MSG_MAX bytes; err -ENOENT when
 * it vanished, -EFBIG when too large), then fill id and, when seal is true,
 * sealed.  In parallel: several readers keep a cold disk busy, and the
 * hashing and sealing use every CPU. */
int cs_arch_seal_batch(const cs_arch_keys *k, int dirfd, cs_arch_job *jobs, size_t n, bool seal);

typedef struct cs_arch_packer cs_arch_packer;

int cs_arch_packer_new(cs_storage *s, const char *prefix, size_t target, cs_arch_packer **out);
/* Append a sealed body; fills ref.  Starts the upload of a full pack. */
int cs_arch_packer_append(cs_arch_packer *p, const uint8_t *sealed, size_t len, uint32_t size, cs_arch_ref *ref);
/* Upload what is pending and wait for every upload: 0 or the first error. */
int cs_arch_packer_finish(cs_arch_packer *p);
void cs_arch_packer_free(cs_arch_packer *p);
uint64_t cs_arch_packer_packs(const cs_arch_packer *p);
uint64_t cs_arch_packer_bytes(const cs_arch_packer *p);

#endif
