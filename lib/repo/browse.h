/* SPDX-License-Identifier: MIT */
/* Reading snapshots piece by piece (find, dump, mount): trees and data
 * blobs by id through one bounded LRU cache each, so that a tree shared by
 * many snapshots is read once and a read decrypts only the blobs covering
 * its range.  Not thread-safe: one caller at a time. */
#ifndef CS_REPO_BROWSE_H
#define CS_REPO_BROWSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "repo/repo.h"
#include "repo/tree.h"

typedef struct cs_browse cs_browse;
typedef struct cs_bref cs_bref; /* a pinned cache entry */

/* tree_bytes, blob_bytes: what each cache may hold beyond the pinned
 * entries (0 = a default: 64 MiB of trees, 32 MiB of blobs). */
int cs_browse_new(cs_repo *r, size_t tree_bytes, size_t blob_bytes, cs_browse **out);
void cs_browse_free(cs_browse *b);
/* A tree, pinned until cs_browse_put(ref). */
int cs_browse_tree(cs_browse *b, const cs_id *id, cs_bref **ref, const cs_tree **out);
/* A data blob's bytes, pinned until cs_browse_put(ref). */
int cs_browse_data(cs_browse *b, const cs_id *id, cs_bref **ref, const uint8_t **data, size_t *len);
void cs_browse_put(cs_browse *b, cs_bref *ref);
/* The plaintext length of a data blob, from the index (no read). */
int cs_browse_blob_len(cs_browse *b, const cs_id *id, uint32_t *len);
/* The node at path ("/a/b", "" or "/" = the root: *node NULL, 0 returned)
 * below tree root; the node lives in the tree pinned in *ref (NULL for the
 * root).  -ENOENT, -ENOTDIR. */
int cs_browse_lookup(cs_browse *b, const cs_id *root, const char *path, cs_bref **ref, const cs_node **node);
/* The node called name in t, or NULL (binary search). */
const cs_node *cs_tree_find(const cs_tree *t, const char *name);
/* A file's chunks with their end offsets, to read any range. */
typedef struct cs_bfile {
    cs_id *ids;
    uint64_t *ends; /* ends[i]: offset just past chunk i */
    uint32_t n;
    uint64_t size;
} cs_bfile;
/* -EBADMSG when the chunks do not add up to the recorded size, -ENOENT
 * when one is not in the index. */
int cs_bfile_open(cs_browse *b, const cs_node *n, cs_bfile *f);
/* Up to len bytes at off (fewer only at the end); decrypts only the blobs
 * the range covers.  Returns the count or a negative errno. */
ssize_t cs_bfile_read(cs_browse *b, const cs_bfile *f, void *buf, size_t len, uint64_t off);
void cs_bfile_close(cs_bfile *f);
/* lseek's SEEK_DATA and SEEK_HOLE over f (sparse: whether the node had
 * CS_NODE_SPARSE): holes are the all-zero chunks, found by their id
 * without reading them.  -ENXIO past the end. */
int64_t cs_bfile_seek(cs_browse *b, const cs_bfile *f, bool sparse, uint64_t off, bool data);
/* st_mode for a node: its type's S_IF* bits and its permission bits. */
uint32_t cs_node_st_mode(const cs_node *n);
/* "file", "dir", "symlink", "fifo", "socket", "chardev", "blockdev" ("?" otherwise). */
const char *cs_node_type_name(const cs_node *n);
/* Re-read the index (new snapshots' blobs): for a long-running reader. */
int cs_browse_refresh(cs_browse *b);
/* Cache figures (tests, bench). */
typedef struct cs_browse_stats {
    uint64_t tree_loads, tree_hits, blob_loads, blob_hits;
    size_t tree_bytes, blob_bytes;
} cs_browse_stats;
void cs_browse_stats_get(const cs_browse *b, cs_browse_stats *out);

#endif
