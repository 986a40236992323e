/* SPDX-License-Identifier: MIT */
/* Encoding and parsing of tree blobs.  The parser is fed authenticated data
 * but still bounds every length by what remains (fuzzed: fuzz_tree). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "repo/tree.h"

#define TREE_VERSION 1
/* the fixed part of a node: every field but the variable-length ones */
#define NODE_MIN_BYTES (1 + 2 + 12 + 1 + 1 + 12 + 12 + 8 * 4 + 4 + 4 + 2 + 2)

int cs_name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* The encoding writes each node into space reserved for all of it at once:
 * one bounds check per node instead of one per field (a no-change backup
 * encodes every node of the tree to compare its id). */
static uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

static size_t str8_len(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n > 255 ? 255 : n;
}

static uint8_t *put_str8(uint8_t *p, const char *s)
{
    size_t n = str8_len(s);

    *p++ = (uint8_t)n;
    return put_bytes(p, s, n);
}

/* type, name, mode/uid/gid, user, group, 2 x (s, ns), size, inode, dev,
 * nlink, rdev, flags, link, xattrs, then content ids or the subtree id */
static size_t node_size(const cs_node *d)
{
    size_t n = 1 + 2 + d->name_len + 12 + 1 + str8_len(d->user) + 1 + str8_len(d->group) + 12 + 12 + 24 + 4 +
               8 + 4 + 2 + d->link_len + 2;

    for (uint16_t x = 0; x < d->nxattrs; x++)
        n += 1 + str8_len(d->xattrs[x].name) + 4 + d->xattrs[x].len;
    if (d->type == CS_NODE_FILE)
        n += 4 + (size_t)d->ncontent * CS_ID_LEN;
    else if (d->type == CS_NODE_DIR)
        n += CS_ID_LEN;
    return n;
}

static void encode_node(const cs_node *d, uint8_t *p)
{
    *p++ = d->type;
    p = put_bytes(cs_store_le16(p, d->name_len), d->name, d->name_len);
    p = cs_store_le32(cs_store_le32(cs_store_le32(p, d->mode), d->uid), d->gid);
    p = put_str8(put_str8(p, d->user), d->group);
    p = cs_store_le32(cs_store_le64(p, (uint64_t)d->mtime_s), d->mtime_ns);
    p = cs_store_le32(cs_store_le64(p, (uint64_t)d->ctime_s), d->ctime_ns);
    p = cs_store_le64(cs_store_le64(cs_store_le64(p, d->size), d->inode), d->dev);
    p = cs_store_le32(cs_store_le64(cs_store_le32(p, d->nlink), d->rdev), d->flags);
    p = put_bytes(cs_store_le16(p, d->link_len), d->link, d->link_len);
    p = cs_store_le16(p, d->nxattrs);
    for (uint16_t x = 0; x < d->nxattrs; x++)
        p = put_bytes(cs_store_le32(put_str8(p, d->xattrs[x].name), d->xattrs[x].len), d->xattrs[x].value,
                      d->xattrs[x].len);
    if (d->type == CS_NODE_FILE) {
        p = cs_store_le32(p, d->ncontent);
        for (uint32_t c = 0; c < d->ncontent; c++)
            p = put_bytes(p, d->content[c].b, CS_ID_LEN);
    } else if (d->type == CS_NODE_DIR) {
        put_bytes(p, d->subtree.b, CS_ID_LEN);
    }
}

int cs_tree_encode(const cs_node *nodes, size_t n, cs_buf *out)
{
    size_t size = 8;
    int r;

    /* sized up front: a cs_buf that grows copies and wipes (util/buf.h) */
    for (size_t i = 0; i < n; i++)
        size += node_size(&nodes[i]);
    if ((r = cs_buf_reserve(out, size)) < 0)
        return r;
    r = cs_put_le32(out, TREE_VERSION) | cs_put_le32(out, (uint32_t)n);

    for (size_t i = 0; i < n && r == 0; i++) {
        size_t len = node_size(&nodes[i]);
        if ((r = cs_buf_reserve(out, len)) == 0) {
            encode_node(&nodes[i], out->data + out->len);
            out->len += len;
        }
    }
    return r ? -ENOMEM : 0;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int rd_str8(cs_reader *rd, char **out)
{
    const uint8_t *p;
    size_t n;

    if (cs_get_lp8(rd, &p, &n) < 0 || memchr(p, 0, n))
        return -EBADMSG;
    *out = dup_bytes(p, n);
    return *out ? 0 : -ENOMEM;
}

void cs_node_clear(cs_node *d)
{
    free(d->name);
    free(d->user);
    free(d->group);
    free(d->link);
    for (uint16_t x = 0; x < d->nxattrs && d->xattrs; x++) {
        free(d->xattrs[x].name);
        free(d->xattrs[x].value);
    }
    free(d->xattrs);
    free(d->content);
    memset(d, 0, sizeof(*d));
}

void cs_tree_free(cs_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        cs_node_clear(&t->nodes[i]);
    free(t->nodes);
    t->nodes = NULL;
    t->n = 0;
}

static int parse_node(cs_reader *rd, cs_node *d)
{
    const uint8_t *p;
    int r;

    cs_get_u8(rd, &d->type);
    if (d->type < CS_NODE_FILE || d->type > CS_NODE_BLK)
        return -EBADMSG;
    cs_get_le16(rd, &d->name_len);
    if (cs_get_bytes(rd, d->name_len, &p) < 0 || d->name_len == 0 || d->name_len > CS_NAME_MAX || memchr(p, 0, d->name_len) ||
        memchr(p, '/', d->name_len) || (d->name_len == 1 && p[0] == '.') ||
        (d->name_len == 2 && p[0] == '.' && p[1] == '.'))
        return -EBADMSG;
    if (!(d->name = dup_bytes(p, d->name_len)))
        return -ENOMEM;
    cs_get_le32(rd, &d->mode);
    cs_get_le32(rd, &d->uid);
    cs_get_le32(rd, &d->gid);
    if ((r = rd_str8(rd, &d->user)) < 0 || (r = rd_str8(rd, &d->group)) < 0)
        return r;
    cs_get_le64(rd, (uint64_t *)&d->mtime_s);
    cs_get_le32(rd, &d->mtime_ns);
    cs_get_le64(rd, (uint64_t *)&d->ctime_s);
    cs_get_le32(rd, &d->ctime_ns);
    cs_get_le64(rd, &d->size);
    cs_get_le64(rd, &d->inode);
    cs_get_le64(rd, &d->dev);
    cs_get_le32(rd, &d->nlink);
    cs_get_le64(rd, &d->rdev);
    cs_get_le32(rd, &d->flags);
    if (d->mtime_ns >= 1000000000u || d->ctime_ns >= 1000000000u)
        return -EBADMSG;
    cs_get_le16(rd, &d->link_len);
    if (d->link_len) {
        if (cs_get_bytes(rd, d->link_len, &p) < 0 || d->type != CS_NODE_SYMLINK || d->link_len > CS_NAME_MAX || memchr(p, 0, d->link_len))
            return -EBADMSG;
        if (!(d->link = dup_bytes(p, d->link_len)))
            return -ENOMEM;
    }
    cs_get_le16(rd, &d->nxattrs);
    if (rd->err || d->nxattrs > CS_XATTR_MAX_COUNT || (size_t)d->nxattrs * 5 > cs_rd_left(rd))
        return -EBADMSG;
    if (d->nxattrs) {
        /* calloc'd: cs_node_clear frees whatever was filled in on failure */
        if (!(d->xattrs = calloc(d->nxattrs, sizeof(*d->xattrs))))
            return -ENOMEM;
        for (uint16_t x = 0; x < d->nxattrs; x++) {
            cs_xattr *xa = &d->xattrs[x];
            if ((r = rd_str8(rd, &xa->name)) < 0)
                return r;
            cs_get_le32(rd, &xa->len);
            if (cs_get_bytes(rd, xa->len, &p) < 0 || xa->len > CS_XATTR_VALUE_MAX || !xa->name[0])
                return -EBADMSG;
            if (!(xa->value = malloc(xa->len ? xa->len : 1)))
                return -ENOMEM;
            memcpy(xa->value, p, xa->len);
        }
    }
    if (d->type == CS_NODE_FILE) {
        cs_get_le32(rd, &d->ncontent);
        if (rd->err || (uint64_t)d->ncontent * CS_ID_LEN > cs_rd_left(rd))
            return -EBADMSG;
        if (d->ncontent) {
            if (!(d->content = malloc((size_t)d->ncontent * CS_ID_LEN)))
                return -ENOMEM;
            cs_get_copy(rd, d->content, (size_t)d->ncontent * CS_ID_LEN);
        }
    } else if (d->type == CS_NODE_DIR) {
        cs_get_copy(rd, d->subtree.b, CS_ID_LEN);
    }
    return rd->err ? -EBADMSG : 0;
}

int cs_tree_parse(const uint8_t *data, size_t len, cs_tree *out)
{
    cs_reader rd = cs_rd_init(data, len);
    uint32_t version, n;
    int r = 0;

    memset(out, 0, sizeof(*out));
    if (len > CS_MAX_TREE || cs_get_le32(&rd, &version) < 0 || version != TREE_VERSION)
        return -EBADMSG;
    cs_get_le32(&rd, &n);
    if (rd.err || n > CS_TREE_MAX_NODES || (uint64_t)n * NODE_MIN_BYTES > cs_rd_left(&rd))
        return -EBADMSG;
    out->nodes = calloc(n ? n : 1, sizeof(*out->nodes));
    if (!out->nodes)
        return -ENOMEM;
    for (uint32_t i = 0; i < n && r == 0; i++) {
        out->n = i + 1;
        r = parse_node(&rd, &out->nodes[i]);
        /* names strictly increasing: no duplicates, a canonical encoding */
        if (r == 0 && i > 0 &&
            cs_name_cmp(out->nodes[i - 1].name, out->nodes[i - 1].name_len, out->nodes[i].name,
                        out->nodes[i].name_len) >= 0)
            r = -EBADMSG;
    }
    if (r == 0 && cs_rd_end(&rd) < 0)
        r = -EBADMSG;
    if (r < 0)
        cs_tree_free(out);
    return r;
}

int cs_tree_load(cs_repo *r, const cs_id *id, cs_tree *out)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    int rc = cs_repo_load_blob(r, id, CS_BLOB_TREE, &b);

    if (rc < 0)
        return rc;
    return cs_tree_parse(b.data, b.len, out);
}
