/* SPDX-License-Identifier: MIT */
/* The local file-change cache: path -> (inode, size, mtime, ctime, content
 * ids), so that an unchanged file is never read again.  Stored sealed with
 * the local-cache subkey in <cache dir>/<repo id>/files (0600), keyed by a
 * keyed hash of the path so the file names no path even if decrypted keys
 * were not needed (they are).  Used from one thread only. */
#ifndef CS_REPO_FILECACHE_H
#define CS_REPO_FILECACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include "repo/repo_int.h"

typedef struct cs_fcache cs_fcache;

/* Load (a missing or unreadable cache is an empty cache, logged at debug). */
int cs_fcache_load(cs_repo *r, const char *cache_dir, cs_fcache **out);
/* Returns 1 and the ids when path is cached with exactly this stat; 0 when
 * unknown; 2 when known but changed (ids not returned). Marks it seen.
 * *no_xattrs: the file had no extended attributes at this stat, so that the
 * walk need not ask (setting or removing one changes the ctime). */
int cs_fcache_lookup(cs_fcache *c, const char *path, const struct stat *st, const cs_id **ids, uint32_t *n,
                     bool *no_xattrs);
/* no_xattrs only when none was seen between two stats equal to st. */
int cs_fcache_put(cs_fcache *c, const char *path, const struct stat *st, const cs_id *ids, uint32_t n,
                  bool no_xattrs);
/* Write entries seen in this run plus recent unseen ones, atomically.  The
 * entries are released once the image is built (the last use of a cache):
 * a million files need ~100 MB for the image and as much for its sealed copy. */
int cs_fcache_save(cs_fcache *c);
void cs_fcache_free(cs_fcache *c);
/* Parse a decrypted cache image (for fuzzing). */
int cs_fcache_parse(cs_fcache *c, const uint8_t *data, size_t len);
int cs_fcache_new_empty(const uint8_t key[32], cs_fcache **out);

#endif
