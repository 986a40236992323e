/* SPDX-License-Identifier: MIT */
/* Tree blobs: one encoded directory (docs/repository.md, "Trees"). */
#ifndef CS_REPO_TREE_H
#define CS_REPO_TREE_H

#include <stddef.h>
#include <stdint.h>
#include "repo/repo.h"
#include "util/buf.h"

enum { CS_NODE_FILE = 1, CS_NODE_DIR, CS_NODE_SYMLINK, CS_NODE_FIFO, CS_NODE_SOCKET,
       CS_NODE_CHR, CS_NODE_BLK };
#define CS_NODE_SPARSE 0x1

#define CS_TREE_MAX_NODES 1000000
#define CS_NAME_MAX 4095
#define CS_XATTR_VALUE_MAX (64 * 1024)
#define CS_XATTR_MAX_COUNT 1024

typedef struct cs_xattr {
    char *name;       /* NUL-terminated */
    uint8_t *value;
    uint32_t len;
} cs_xattr;

struct cs_node {
    uint8_t type;
    char *name;       /* raw bytes, NUL-terminated (names never contain NUL or '/') */
    uint16_t name_len;
    uint32_t mode, uid, gid;
    char *user, *group; /* "" when unknown */
    int64_t mtime_s, ctime_s;
    uint32_t mtime_ns, ctime_ns;
    uint64_t size, inode, dev, rdev;
    uint32_t nlink, flags;
    char *link;       /* symlink target, NULL otherwise */
    uint16_t link_len;
    cs_xattr *xattrs;
    uint16_t nxattrs;
    cs_id *content;   /* file chunks */
    uint32_t ncontent;
    cs_id subtree;    /* directories */
};

typedef struct cs_tree {
    cs_node *nodes;
    size_t n;
} cs_tree;

/* nodes must be sorted by cs_name_cmp. */
int cs_tree_encode(const cs_node *nodes, size_t n, cs_buf *out);
int cs_tree_parse(const uint8_t *data, size_t len, cs_tree *out);
void cs_tree_free(cs_tree *t);
void cs_node_clear(cs_node *n);
int cs_name_cmp(const char *a, size_t al, const char *b, size_t bl);
/* Load and parse a tree blob. */
int cs_tree_load(cs_repo *r, const cs_id *id, cs_tree *out);

#endif
