/* SPDX-License-Identifier: MIT */
/* Reading snapshots piece by piece: bounded LRU caches of trees and data
 * blobs (browse.h).  One structure serves both kinds; an entry a caller
 * holds (pinned) is never evicted, so the bound applies to the rest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>
#include "repo/browse.h"
#include "repo/repo_int.h"
#include "util/log.h"

#define BUCKETS 4096
#define DEFAULT_TREE_BYTES (64u << 20)
#define DEFAULT_BLOB_BYTES (32u << 20)

struct cs_bref {
    cs_id id;
    struct cs_bref *hnext;       /* hash chain */
    struct cs_bref *prev, *next; /* LRU order, most recent first */
    struct lru *owner;
    unsigned refs;
    size_t size;
    cs_tree tree;                /* tree cache */
    cs_buf data;                 /* blob cache */
};

typedef struct lru {
    cs_bref *tab[BUCKETS];
    cs_bref *head, *tail;
    size_t bytes, limit;
    uint64_t loads, hits;
    bool trees;
} lru;

#define ZERO_IDS 8

struct cs_browse {
    cs_repo *r;
    struct { uint32_t len; cs_id id; } zero[ZERO_IDS]; /* ids of all-zero chunks by length */
    size_t nzero;
    lru trees, blobs;
    cs_buf raw, tmp;
    ZSTD_DCtx *dctx;
};

static size_t bucket(const cs_id *id)
{
    uint64_t h;

    memcpy(&h, id->b, sizeof(h));
    return h % BUCKETS;
}

static void unlink_lru(lru *c, cs_bref *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(lru *c, cs_bref *e)
{
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void drop(lru *c, cs_bref *e)
{
    cs_bref **p = &c->tab[bucket(&e->id)];

    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    unlink_lru(c, e);
    c->bytes -= e->size;
    if (c->trees)
        cs_tree_free(&e->tree);
    else
        cs_buf_free(&e->data);
    free(e);
}

/* Evict unpinned entries, least recently used first, down to the bound. */
static void shrink(lru *c)
{
    for (cs_bref *e = c->tail; e && c->bytes > c->limit;) {
        cs_bref *prev = e->prev;
        if (e->refs == 0)
            drop(c, e);
        e = prev;
    }
}

static size_t tree_size(const cs_tree *t)
{
    size_t s = sizeof(*t) + t->n * sizeof(cs_node);

    for (size_t i = 0; i < t->n; i++) {
        const cs_node *n = &t->nodes[i];
        s += n->name_len + n->link_len + n->ncontent * sizeof(cs_id) + strlen(n->user) + strlen(n->group) + 4;
        for (size_t k = 0; k < n->nxattrs; k++)
            s += sizeof(cs_xattr) + strlen(n->xattrs[k].name) + n->xattrs[k].len;
    }
    return s;
}

/* A tree the index lacks may be in a pack no index object names (an
 * interrupted backup): look there once, as ls and diff do. */
static int load_tree(cs_browse *b, const cs_id *id, cs_tree *t)
{
    int rc = cs_tree_load(b->r, id, t);

    if (rc == -ENOENT && cs_repo_index_unindexed(b->r, NULL) > 0)
        rc = cs_tree_load(b->r, id, t);
    return rc;
}

static int load(cs_browse *b, lru *c, cs_bref *e)
{
    int rc;

    if (c->trees) {
        if ((rc = load_tree(b, &e->id, &e->tree)) < 0)
            return rc;
        e->size = sizeof(*e) + tree_size(&e->tree);
        return 0;
    }
    rc = cs_repo_load_blob2(b->r, &e->id, CS_BLOB_DATA, &b->raw, &b->tmp, &e->data, b->dctx);
    if (rc < 0)
        return rc;
    e->size = sizeof(*e) + e->data.cap;
    return 0;
}

static int get(cs_browse *b, lru *c, const cs_id *id, cs_bref **out)
{
    size_t h = bucket(id);
    cs_bref *e;
    int rc;

    for (e = c->tab[h]; e; e = e->hnext)
        if (memcmp(e->id.b, id->b, CS_ID_LEN) == 0)
            break;
    if (e) {
        c->hits++;
        unlink_lru(c, e);
    } else {
        if (!(e = calloc(1, sizeof(*e))))
            return -ENOMEM;
        e->id = *id;
        e->owner = c;
        if ((rc = load(b, c, e)) < 0) {
            cs_buf_free(&e->data);
            free(e);
            return rc;
        }
        c->loads++;
        e->hnext = c->tab[h];
        c->tab[h] = e;
        c->bytes += e->size;
    }
    push_front(c, e);
    e->refs++;
    shrink(c);
    *out = e;
    return 0;
}

int cs_browse_new(cs_repo *r, size_t tree_bytes, size_t blob_bytes, cs_browse **out)
{
    cs_browse *b = calloc(1, sizeof(*b));

    if (!b || !(b->dctx = ZSTD_createDCtx())) {
        free(b);
        return -ENOMEM;
    }
    b->r = r;
    b->trees.trees = true;
    b->trees.limit = tree_bytes ? tree_bytes : DEFAULT_TREE_BYTES;
    b->blobs.limit = blob_bytes ? blob_bytes : DEFAULT_BLOB_BYTES;
    *out = b;
    return 0;
}

static void lru_free(lru *c)
{
    while (c->head)
        drop(c, c->head);
}

void cs_browse_free(cs_browse *b)
{
    if (!b)
        return;
    lru_free(&b->trees);
    lru_free(&b->blobs);
    cs_buf_free(&b->raw);
    cs_buf_free(&b->tmp);
    ZSTD_freeDCtx(b->dctx);
    free(b);
}

int cs_browse_tree(cs_browse *b, const cs_id *id, cs_bref **ref, const cs_tree **out)
{
    int rc = get(b, &b->trees, id, ref);

    if (rc == 0)
        *out = &(*ref)->tree;
    return rc;
}

int cs_browse_data(cs_browse *b, const cs_id *id, cs_bref **ref, const uint8_t **data, size_t *len)
{
    int rc = get(b, &b->blobs, id, ref);

    if (rc == 0) {
        *data = (*ref)->data.data;
        *len = (*ref)->data.len;
    }
    return rc;
}

void cs_browse_put(cs_browse *b, cs_bref *ref)
{
    if (!ref)
        return;
    ref->refs--;
    shrink(ref->owner);
}

int cs_browse_blob_len(cs_browse *b, const cs_id *id, uint32_t *len)
{
    const cs_ientry *e = cs_index_find(&b->r->index, id);

    if (!e || e->pack == CS_PACK_PENDING)
        return -ENOENT;
    if (e->type != CS_BLOB_DATA)
        return -EBADMSG;
    *len = e->raw_len;
    return 0;
}

const cs_node *cs_tree_find(const cs_tree *t, const char *name)
{
    size_t lo = 0, hi = t->n, len = strlen(name);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cs_name_cmp(t->nodes[mid].name, t->nodes[mid].name_len, name, len);
        if (c == 0)
            return &t->nodes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int cs_browse_lookup(cs_browse *b, const cs_id *root, const char *path, cs_bref **ref, const cs_node **node)
{
    cs_id cur = *root;
    cs_bref *held = NULL;
    const cs_node *n = NULL;
    int rc = 0;

    for (const char *p = path; *p;) {
        char name[CS_NAME_MAX + 1];
        size_t len = strcspn(p, "/");
        const cs_tree *t;
        if (len == 0 || (len == 1 && p[0] == '.')) {
            p += len + (p[len] == '/');
            continue;
        }
        if (len > CS_NAME_MAX) {
            rc = -ENAMETOOLONG;
            break;
        }
        if (n && n->type != CS_NODE_DIR) {
            rc = -ENOTDIR;
            break;
        }
        if (n)
            cur = n->subtree;
        memcpy(name, p, len);
        name[len] = '\0';
        cs_bref *next;
        if ((rc = cs_browse_tree(b, &cur, &next, &t)) < 0)
            break;
        cs_browse_put(b, held);
        held = next;
        if (!(n = cs_tree_find(t, name))) {
            rc = -ENOENT;
            break;
        }
        p += len + (p[len] == '/');
    }
    if (rc < 0) {
        cs_browse_put(b, held);
        return rc;
    }
    *ref = held;
    *node = n;
    return 0;
}

int cs_browse_refresh(cs_browse *b)
{
    /* the caches hold only immutable content-addressed objects: they stay */
    return cs_repo_reload_index(b->r);
}

void cs_browse_stats_get(const cs_browse *b, cs_browse_stats *out)
{
    *out = (cs_browse_stats){ b->trees.loads, b->trees.hits, b->blobs.loads, b->blobs.hits,
                              b->trees.bytes, b->blobs.bytes };
}

int cs_bfile_open(cs_browse *b, const cs_node *n, cs_bfile *f)
{
    uint64_t end = 0;
    int rc;

    *f = (cs_bfile){ 0 };
    if (n->type != CS_NODE_FILE)
        return -EINVAL;
    f->ids = malloc((n->ncontent ? n->ncontent : 1) * sizeof(cs_id));
    f->ends = malloc((n->ncontent ? n->ncontent : 1) * sizeof(uint64_t));
    if (!f->ids || !f->ends) {
        cs_bfile_close(f);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n->ncontent; i++) {
        uint32_t len;
        if ((rc = cs_browse_blob_len(b, &n->content[i], &len)) < 0) {
            cs_bfile_close(f);
            return rc;
        }
        end += len;
        f->ids[i] = n->content[i];
        f->ends[i] = end;
    }
    if (end != n->size) {
        cs_bfile_close(f);
        return -EBADMSG;
    }
    f->n = n->ncontent;
    f->size = end;
    return 0;
}

/* The chunk holding offset off (off < f->size). */
static uint32_t chunk_at(const cs_bfile *f, uint64_t off)
{
    uint32_t lo = 0, hi = f->n - 1;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->ends[mid] <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

ssize_t cs_bfile_read(cs_browse *b, const cs_bfile *f, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    if (off >= f->size)
        return 0;
    if (len > f->size - off)
        len = f->size - off;
    for (uint32_t i = chunk_at(f, off); done < len && i < f->n; i++) {
        uint64_t start = i ? f->ends[i - 1] : 0, at = off + done - start;
        const uint8_t *data;
        size_t dlen, take;
        cs_bref *ref;
        int rc = cs_browse_data(b, &f->ids[i], &ref, &data, &dlen);
        if (rc < 0)
            return rc;
        if (dlen != f->ends[i] - start) {
            cs_browse_put(b, ref);
            return -EBADMSG;
        }
        take = dlen - at < len - done ? dlen - at : len - done;
        memcpy((uint8_t *)buf + done, data + at, take);
        cs_browse_put(b, ref);
        done += take;
    }
    return (ssize_t)done;
}

void cs_bfile_close(cs_bfile *f)
{
    free(f->ids);
    free(f->ends);
    *f = (cs_bfile){ 0 };
}

uint32_t cs_node_st_mode(const cs_node *n)
{
    static const uint32_t fmt[] = { 0, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK };

    return (n->type < sizeof(fmt) / sizeof(fmt[0]) ? fmt[n->type] : 0) | (n->mode & 07777);
}

const char *cs_node_type_name(const cs_node *n)
{
    static const char *const names[] = { "?", "file", "dir", "symlink", "fifo", "socket", "chardev", "blockdev" };

    return names[n->type < sizeof(names) / sizeof(names[0]) ? n->type : 0];
}

/* Is chunk i all zeros?  Its id is the keyed hash of its bytes: compare
 * with the hash of as many zeros (a few lengths remembered). */
static int chunk_is_zero(cs_browse *b, const cs_bfile *f, uint32_t i)
{
    uint32_t len = (uint32_t)(f->ends[i] - (i ? f->ends[i - 1] : 0));
    size_t k;

    for (k = 0; k < b->nzero && b->zero[k].len != len; k++)
        ;
    if (k == b->nzero) {
        uint8_t *zeros = calloc(1, len ? len : 1);
        if (!zeros)
            return -ENOMEM;
        k = b->nzero < ZERO_IDS ? b->nzero++ : len % ZERO_IDS;
        b->zero[k].len = len;
        cs_blob_id(b->r->keys, zeros, len, &b->zero[k].id);
        free(zeros);
    }
    return memcmp(b->zero[k].id.b, f->ids[i].b, CS_ID_LEN) == 0;
}

int64_t cs_bfile_seek(cs_browse *b, const cs_bfile *f, bool sparse, uint64_t off, bool data)
{
    if (off >= f->size)
        return -ENXIO;
    if (!sparse)
        return data ? (int64_t)off : (int64_t)f->size;
    for (uint32_t i = chunk_at(f, off); i < f->n; i++) {
        int z = chunk_is_zero(b, f, i);
        uint64_t start = i ? f->ends[i - 1] : 0;
        if (z < 0)
            return z;
        if (z != data)
            return (int64_t)(start > off ? start : off);
    }
    return data ? -ENXIO : (int64_t)f->size;
}
