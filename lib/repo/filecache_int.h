/* SPDX-License-Identifier: MIT */
/* Between filecache.c (version 3: the sealed stream in walk order) and
 * filecache_legacy.c (versions 1 and 2: one sealed image, a table keyed by a
 * keyed hash of the path, read whole). */
#ifndef CS_REPO_FILECACHE_INT_H
#define CS_REPO_FILECACHE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include "repo/repo_int.h"

#define FC_MAX_AGE 10 /* forget a path after 10 backups without it */
#define FC_NO_XATTRS 0x01 /* the file had no extended attributes at this ctime */

typedef struct fc_table fc_table;

/* One file's cached facts (ids elsewhere). */
typedef struct fc_stat {
    uint64_t ino, size;
    int64_t mtime_s, ctime_s;
    uint32_t mtime_ns, ctime_ns;
} fc_stat;

static inline fc_stat fc_stat_of(const struct stat *st)
{
    return (fc_stat){ (uint64_t)st->st_ino, (uint64_t)st->st_size, st->st_mtim.tv_sec, st->st_ctim.tv_sec,
                      (uint32_t)st->st_mtim.tv_nsec, (uint32_t)st->st_ctim.tv_nsec };
}

static inline bool fc_stat_eq(const fc_stat *a, const fc_stat *b)
{
    return a->ino == b->ino && a->size == b->size && a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
           a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

int fc_table_new(fc_table **out);
void fc_table_free(fc_table *t);
/* A decrypted version 1 or 2 image. */
int fc_table_parse(fc_table *t, const uint8_t *data, size_t len);
/* 1 (ids, flags), 0 unknown, 2 changed, as cs_fcache_dir_lookup. */
int fc_table_lookup(fc_table *t, const uint8_t key[32], const char *path, const struct stat *st, const cs_id **ids,
                    uint32_t *n, uint8_t *flags);
int fc_table_put(fc_table *t, const uint8_t key[32], const char *path, const struct stat *st, const cs_id *ids,
                 uint32_t n, uint8_t flags);

#endif
