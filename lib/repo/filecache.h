/* SPDX-License-Identifier: MIT */
/* The local file-change cache: path -> (inode, size, mtime, ctime, content
 * ids), so that an unchanged file is never read again.  Stored in
 * <cache dir>/<repo id>/files (0600) as a stream of segments sealed with the
 * local-cache subkey (docs/repository.md, "The file-change cache"), in the
 * order the backup walks: directories in post-order (a directory after its
 * subdirectories, siblings by name), the files of one directory by name.
 * Neither the old nor the new cache is held whole: the old one is read by a
 * cursor as the walk goes (cs_fcache_dir_open), the new one written as
 * directories are finished (cs_fcache_dir_close) to a temporary file renamed
 * at the end; an unchanged cache is not rewritten.  Used from one thread. */
#ifndef CS_REPO_FILECACHE_H
#define CS_REPO_FILECACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include "repo/repo_int.h"

typedef struct cs_fcache cs_fcache;
typedef struct cs_fcache_dir cs_fcache_dir;

/* Open (a missing or unreadable cache is an empty cache; unreadable is logged). */
int cs_fcache_load(cs_repo *r, const char *cache_dir, cs_fcache **out);
/* The same for a file at path sealed for repo_id (tests, fuzzing). */
int cs_fcache_open(const uint8_t key[32], const cs_id *repo_id, const char *path, cs_fcache **out);

/* The cached entries of directory path ("" for /), to be called for each
 * directory of the walk in post-order (see above); entries of directories
 * passed over are carried to the new cache as unseen.  Never fails: NULL
 * only without memory (the directory's files are then read). */
cs_fcache_dir *cs_fcache_dir_open(cs_fcache *c, const char *path);
/* Returns 1 and the ids when name is cached with exactly this stat; 0 when
 * unknown; 2 when known but changed (ids not returned).  Marks it seen.
 * *no_xattrs: the file had no extended attributes at this stat, so that the
 * walk need not ask (setting or removing one changes the ctime).  The ids
 * are valid until the next call on d. */
int cs_fcache_dir_lookup(cs_fcache_dir *d, const char *name, const struct stat *st, const cs_id **ids,
                         uint32_t *n, bool *no_xattrs);
/* What this run knows of name; no_xattrs only when none was seen between two
 * stats equal to st. */
int cs_fcache_dir_put(cs_fcache_dir *d, const char *name, const struct stat *st, const cs_id *ids, uint32_t n,
                      bool no_xattrs);
/* The directory is finished: its entries go to the new cache (in the order
 * the directories were opened); frees d.  cs_fcache_dir_free() drops d
 * instead (its entries are then lost to the new cache). */
int cs_fcache_dir_close(cs_fcache_dir *d);
void cs_fcache_dir_free(cs_fcache_dir *d);

/* Finish the new cache (the rest of the old one carried as unseen) and put it
 * in place atomically; nothing is written when nothing changed. */
int cs_fcache_save(cs_fcache *c);
void cs_fcache_free(cs_fcache *c);

/* Version 1 and 2 caches (one sealed image keyed by a keyed hash of the
 * path): read whole into a table; kept to read a cache written before
 * version 3.  An empty table, its parser (fuzzing), and lookups by path. */
int cs_fcache_new_empty(const uint8_t key[32], cs_fcache **out);
int cs_fcache_parse(cs_fcache *c, const uint8_t *data, size_t len);
int cs_fcache_lookup(cs_fcache *c, const char *path, const struct stat *st, const cs_id **ids, uint32_t *n,
                     bool *no_xattrs);
int cs_fcache_put(cs_fcache *c, const char *path, const struct stat *st, const cs_id *ids, uint32_t n,
                  bool no_xattrs);

/* The walk's order of directories: < 0 when a comes before b. */
int cs_fcache_dir_cmp(const char *a, size_t al, const char *b, size_t bl);

#endif
