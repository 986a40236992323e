/* SPDX-License-Identifier: MIT */
/* check, prune and stats: the operations that look at the whole repository. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macros.h"

/* ---- listing data/ with sizes, sorted by id for lookups ---- */
static int plist_cb(const char *key, const cs_object_stat *st, void *ud)
{
    cs_plist *p = ud;
    const char *slash = strrchr(key, '/');
    cs_id id;

    if (!slash || cs_id_parse(slash + 1, &id) < 0)
        return 0;
    if (CS_GREEDY_REALLOC(p->v, p->cap, p->n + 1) < 0)
        return -ENOMEM;
    p->v[p->n++] = (cs_pent){ id, st->size, false };
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CS_ID_LEN);
}

int cs_plist_load(cs_repo *r, cs_plist *p)
{
    char prefix[1200];
    int rc;

    memset(p, 0, sizeof(*p));
    snprintf(prefix, sizeof(prefix), "%sdata/", r->prefix);
    rc = cs_storage_list(r->st, prefix, plist_cb, p);
    if (rc == 0 && p->n > 1)
        qsort(p->v, p->n, sizeof(cs_pent), id_cmp);
    return rc;
}

cs_pent *cs_plist_find(cs_plist *p, const cs_id *id)
{
    return p->n ? bsearch(id, p->v, p->n, sizeof(cs_pent), id_cmp) : NULL;
}

void cs_plist_free(cs_plist *p)
{
    free(p->v);
    memset(p, 0, sizeof(*p));
}

static void reset_marks(cs_repo *r)
{
    cs_index_clear_used(&r->index);
    for (size_t i = 0; i < r->index.npacks; i++)
        r->index.packs[i].flag = 0;
}

typedef struct marks {
    uint64_t errors, trees;
    uint64_t unindexed; /* blobs found only through a pack's own header */
} marks;

/* What "not found" means depends on whether the packs' headers were read
 * (check) or only the index (prune). */
static const char *where(const cs_repo *r)
{
    return r->headers_read ? "in no index object and no pack header" : "missing from the index";
}

static void mark_entry(cs_repo *r, cs_ientry *e, marks *m)
{
    if (!e->used && r->index.packs[e->pack].unindexed)
        m->unindexed++;
    e->used = 1;
}

/* The path of the tree being marked, for messages: one buffer for the
 * walk, a name appended on the way down and cut on the way up (a string
 * made for every node cost the walk more than its index lookups). */
typedef struct walk_path {
    char *s;
    size_t len, cap;
} walk_path;

static int path_push(walk_path *p, const cs_node *nd)
{
    if (CS_GREEDY_REALLOC(p->s, p->cap, p->len + nd->name_len + 2) < 0)
        return -ENOMEM;
    p->s[p->len++] = '/';
    memcpy(p->s + p->len, nd->name, nd->name_len);
    p->len += nd->name_len;
    p->s[p->len] = '\0';
    return 0;
}

static void path_cut(walk_path *p, size_t len)
{
    p->len = len;
    p->s[len] = '\0';
}

static void blob_error(const cs_repo *r, const char *kind, const cs_id *id, const char *path, int rc,
                       marks *m)
{
    char hex[65];

    cs_id_hex(id, hex);
    log_error("%s: %s blob %s is %s", path, kind, hex, rc != -ENOENT ? "damaged" : where(r));
    m->errors++;
}

/* ---- reading the trees of a walk level by pack ---- */

/* Trees decoded at once: a level's trees are read in chunks of at most
 * this many plaintext bytes (one tree at least, which may be CS_MAX_TREE). */
#define TREE_BYTES_AT_ONCE (8u << 20)
/* Bytes of other blobs read over between two trees of a pack rather than
 * a request more (a backup's packs mix trees with small files' data): the
 * gap restore reads over. */
#define TREE_GAP_MAX (256u << 10)
/* A run's bytes: eight run buffers of 9 MiB (the repack's runs) cost more
 * page faults than the few requests they save. */
#define TREE_RUN_MAX (1u << 20)

static int by_place(const void *a, const void *b)
{
    const cs_ientry *x = *(cs_ientry *const *)a, *y = *(cs_ientry *const *)b;

    if (x->pack != y->pack)
        return x->pack < y->pack ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The end of the run of blobs starting at v[i] (v sorted by pack and
 * offset): those of one pack that follow each other with gaps of at most
 * gap bytes, at most max (<= CS_MAX_BLOB) bytes from the first's start to
 * the last's end, read with one ranged read (a read per blob was a
 * request per blob on S3). */
static size_t run_end(cs_ientry *const *v, size_t i, size_t n, uint32_t gap, uint32_t max)
{
    uint64_t start = v[i]->offset, end = start + v[i]->enc_len;
    size_t j = i + 1;

    for (; j < n && v[j]->pack == v[i]->pack && v[j]->offset >= end && v[j]->offset - end <= gap &&
           v[j]->offset + (uint64_t)v[j]->enc_len - start <= max;
         j++)
        end = v[j]->offset + (uint64_t)v[j]->enc_len;
    return j;
}

static int read_run(cs_repo *r, cs_ientry *const *v, size_t i, size_t j, cs_buf *run)
{
    uint64_t start = v[i]->offset, len = (uint64_t)v[j - 1]->offset + v[j - 1]->enc_len - start;
    char key[CS_REPO_KEY_MAX];
    int rc = cs_repo_key(r, "data", &r->index.packs[v[i]->pack].id, key, sizeof(key));

    cs_buf_reset(run);
    if (rc == 0)
        rc = cs_storage_get(r->st, key, start, len, CS_MAX_BLOB, run);
    if (rc == 0 && run->len != len)
        rc = -EBADMSG; /* shorter than the index says */
    return rc;
}

/* A tree's plaintext, parsed when its directory is marked: parsed trees
 * take several times the memory (check of the real tree peaked at 47.5
 * instead of 39.0 MB, with 9 MiB runs). */
typedef struct tree_got {
    cs_buf pt;
    int rc; /* 0: pt holds the tree; < 0: not read here (cs_tree_load names why) */
} tree_got;

/* One run being read and opened, on a task of cs_storage_run_tasks. */
typedef struct run_slot {
    struct tree_reader *tr;
    size_t i, j;
    cs_buf run, tmp;
} run_slot;

/* A chunk's trees: v sorted by pack and offset, got[k] is v[k]'s; the
 * slots' buffers are kept from run to run (memory given back to the
 * kernel and faulted in again costs here, see bench/README.md). */
typedef struct tree_reader {
    cs_repo *r;
    cs_ientry **v;
    tree_got *got;
    size_t n, vcap, gcap;
    run_slot slot[CS_REPO_FETCH_AT_ONCE];
} tree_reader;

/* Each tree verified (AEAD and id) as cs_tree_load does. */
static int run_task(void *arg)
{
    run_slot *s = arg;
    tree_reader *tr = s->tr;
    uint32_t start = tr->v[s->i]->offset;
    int rc = read_run(tr->r, tr->v, s->i, s->j, &s->run);

    for (size_t k = s->i; k < s->j; k++) {
        const cs_ientry *e = tr->v[k];
        tree_got *g = &tr->got[k];
        g->rc = rc;
        if (g->rc == 0)
            g->rc = cs_blob_open_dctx(tr->r->keys, CS_BLOB_TREE, &e->id, s->run.data + (e->offset - start),
                                      e->enc_len, e->raw_len, &s->tmp, &g->pt, NULL, true);
    }
    return 0;
}

static void reader_drop(tree_reader *tr)
{
    for (size_t k = 0; k < tr->n; k++)
        cs_buf_free(&tr->got[k].pt);
    tr->n = 0;
}

static void reader_free(tree_reader *tr)
{
    reader_drop(tr);
    free(tr->v);
    free(tr->got);
    for (size_t s = 0; s < CS_REPO_FETCH_AT_ONCE; s++) {
        cs_buf_free(&tr->slot[s].run);
        cs_buf_free(&tr->slot[s].tmp);
    }
}

/* Read tr->v's trees: a ranged read a run, CS_REPO_FETCH_AT_ONCE runs at
 * once (of several packs). */
static void reader_read(tree_reader *tr)
{
    cs_storage_task t[CS_REPO_FETCH_AT_ONCE];

    for (size_t i = 0; i < tr->n;) {
        size_t nt = 0;
        for (; i < tr->n && nt < CS_REPO_FETCH_AT_ONCE; nt++) {
            run_slot *s = &tr->slot[nt];
            s->tr = tr;
            s->i = i;
            s->j = i = run_end(tr->v, i, tr->n, TREE_GAP_MAX, TREE_RUN_MAX);
            t[nt] = (cs_storage_task){ .fn = run_task, .arg = s };
        }
        cs_storage_run_tasks(tr->r->st, t, nt);
    }
}

/* The tree read for e, parsed into t, or -ENOENT when it was not. */
static int reader_take(tree_reader *tr, cs_ientry *e, cs_tree *t)
{
    cs_ientry **hit = e && tr->n ? bsearch(&e, tr->v, tr->n, sizeof(*tr->v), by_place) : NULL;
    tree_got *g;

    if (!hit || (g = &tr->got[hit - tr->v])->rc < 0)
        return -ENOENT;
    g->rc = -ENOENT;
    return cs_tree_parse(g->pt.data, g->pt.len, t) < 0 ? -ENOENT : 0;
}

/* ---- marking what the snapshots use, level by level ---- */

/* A directory to mark: its tree and its path (for messages). */
typedef struct tree_item {
    cs_id id;
    char *path;
} tree_item;

typedef struct tree_level {
    tree_item *v;
    size_t n, cap;
} tree_level;

static void level_clear(tree_level *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    l->n = 0;
}

static int level_add(tree_level *l, const cs_id *id, const char *path)
{
    char *s = strdup(path);

    if (!s || CS_GREEDY_REALLOC(l->v, l->cap, l->n + 1) < 0) {
        free(s);
        return -ENOMEM;
    }
    l->v[l->n++] = (tree_item){ *id, s };
    return 0;
}

/* The items of l from 'from' whose trees (not yet marked, located in a
 * pack) make up TREE_BYTES_AT_ONCE into tr->v, each once.  Returns the
 * chunk's end. */
static int reader_plan(tree_reader *tr, const tree_level *l, size_t from, size_t *to)
{
    uint64_t bytes = 0;
    size_t i = from, n = 0;

    for (; i < l->n && (i == from || bytes < TREE_BYTES_AT_ONCE); i++) {
        cs_ientry *e = cs_index_find(&tr->r->index, &l->v[i].id);
        if (!e || e->used || e->pack == CS_PACK_PENDING || e->pack >= tr->r->index.npacks ||
            e->type != CS_BLOB_TREE)
            continue; /* marked already, or cs_tree_load's to name */
        if (CS_GREEDY_REALLOC(tr->v, tr->vcap, n + 1) < 0 || CS_GREEDY_REALLOC(tr->got, tr->gcap, n + 1) < 0)
            return -ENOMEM;
        tr->v[n++] = e;
        bytes += e->raw_len;
    }
    qsort(tr->v, n, sizeof(*tr->v), by_place);
    tr->n = 0;
    for (size_t k = 0; k < n; k++)
        if (tr->n == 0 || tr->v[tr->n - 1] != tr->v[k]) /* a tree two directories share */
            tr->got[tr->n] = (tree_got){ .pt = CS_BUF_INIT, .rc = -ENOENT }, tr->v[tr->n++] = tr->v[k];
    *to = i;
    return 0;
}

/* Mark the blobs of the tree of item (read by tr, or else one by one),
 * its subdirectories into next; errors are counted and named. */
static int mark_item(cs_repo *r, tree_reader *tr, const tree_item *item, walk_path *p, tree_level *next, marks *m)
{
    cs_ientry *e = cs_index_find(&r->index, &item->id);
    size_t len;
    cs_tree t;
    int rc;

    if (e && e->used)
        return 0;
    if (reader_take(tr, e, &t) < 0 && (rc = cs_tree_load(r, &item->id, &t)) < 0) {
        blob_error(r, "tree", &item->id, item->path, rc, m);
        return rc == -ENOMEM ? rc : 0;
    }
    mark_entry(r, cs_index_find(&r->index, &item->id), m);
    m->trees++;
    len = strlen(item->path);
    rc = CS_GREEDY_REALLOC(p->s, p->cap, len + 1);
    if (rc == 0) {
        memcpy(p->s, item->path, len + 1);
        p->len = len;
    }
    for (size_t i = 0; i < t.n && rc == 0; i++) {
        const cs_node *nd = &t.nodes[i];
        if ((rc = path_push(p, nd)) < 0)
            break;
        for (uint32_t c = 0; c < nd->ncontent; c++) {
            cs_ientry *ce = cs_index_find(&r->index, &nd->content[c]);
            if (!ce || ce->pack == CS_PACK_PENDING || ce->type != CS_BLOB_DATA)
                blob_error(r, "data", &nd->content[c], p->s, -ENOENT, m);
            else
                mark_entry(r, ce, m);
        }
        if (nd->type == CS_NODE_DIR)
            rc = level_add(next, &nd->subtree, p->s);
        path_cut(p, len);
    }
    cs_tree_free(&t);
    return rc;
}

/* Mark every blob reachable from a snapshot's tree, breadth-first: all
 * trees of depth d, then d + 1, so that a level's trees are read pack by
 * pack in runs, several packs at once (read one at a time, in walk order,
 * they were a request each: 16 753 for a million files). */
static int mark_tree(cs_repo *r, const cs_id *root, const char *name, tree_reader *tr, marks *m)
{
    tree_level lv[2] = { { 0 } };
    walk_path p = { 0 };
    int rc = level_add(&lv[0], root, name);

    for (unsigned d = 0; rc == 0 && lv[d & 1].n; d++) {
        tree_level *cur = &lv[d & 1], *next = &lv[(d + 1) & 1];
        for (size_t i = 0, to; i < cur->n && rc == 0; i = to) {
            if ((rc = reader_plan(tr, cur, i, &to)) < 0)
                break;
            reader_read(tr);
            for (size_t k = i; k < to && rc == 0; k++)
                rc = mark_item(r, tr, &cur->v[k], &p, next, m);
            reader_drop(tr);
        }
        level_clear(cur);
    }
    for (unsigned k = 0; k < 2; k++) {
        level_clear(&lv[k]);
        free(lv[k].v);
    }
    free(p.s);
    return rc;
}

/* Blobs a snapshot needs that only a pack header located (the index lacks
 * them) are an error: prune would delete them, a backup upload them again. */
static int mark_all(cs_repo *r, cs_snapshot *snaps, size_t n, marks *m)
{
    tree_reader tr = { .r = r };
    int rc = 0;

    reset_marks(r);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char hex[65], name[32];
        uint64_t before = m->unindexed;
        cs_id_hex(&snaps[i].id, hex);
        snprintf(name, sizeof(name), "snapshot %.8s:", hex);
        rc = mark_tree(r, &snaps[i].tree, name, &tr, m);
        if (m->unindexed > before) {
            log_error("snapshot %.8s: %llu blob(s) it needs are in packs no index object names; "
                      "run 'cloudseal repair index'", hex, (unsigned long long)(m->unindexed - before));
            m->errors++;
        }
    }
    reader_free(&tr);
    return rc;
}

/* Read one whole pack: its hash, header and every blob the index locates
 * in it (bp: the index's entries by pack). */
static uint64_t check_pack(cs_repo *r, const cs_index_bypack *bp, uint32_t pidx)
{
    _cleanup_buf_ cs_buf pack = CS_BUF_INIT, tmp = CS_BUF_INIT, out = CS_BUF_INIT;
    const cs_ipack *ip = &r->index.packs[pidx];
    cs_pack_blob *blobs = NULL;
    size_t nb = 0;
    char key[1200], hex[65];
    uint64_t errors = 0;
    int rc;

    cs_id_hex(&ip->id, hex);
    cs_repo_key(r, "data", &ip->id, key, sizeof(key));
    rc = cs_storage_get(r->st, key, 0, 0, CS_MAX_PACK, &pack);
    if (rc < 0) {
        log_error_errno(rc, "pack data/%.2s/%s cannot be read", hex, hex);
        return 1;
    }
    rc = cs_pack_read_header(r->keys, pack.data, pack.len, &blobs, &nb);
    if (rc < 0) {
        log_error("pack data/%.2s/%s is damaged: its header does not authenticate", hex, hex);
        errors++;
    }
    /* every index entry pointing here must decrypt and hash to its id */
    for (size_t k = 0; k < cs_index_bypack_count(bp, pidx); k++) {
        cs_ientry *e = cs_index_bypack_at(&r->index, bp, pidx, k);
        char bhex[65];
        if ((uint64_t)e->offset + e->enc_len > pack.len ||
            cs_blob_open(r->keys, e->type, &e->id, pack.data + e->offset, e->enc_len, e->raw_len, &tmp, &out) < 0) {
            cs_id_hex(&e->id, bhex); /* for the damaged only: 0.8 % of a check --read-data */
            log_error("%s blob %s in pack data/%.2s/%s is damaged", e->type == CS_BLOB_TREE ? "tree" : "data",
                      bhex, hex, hex);
            errors++;
        }
    }
    free(blobs);
    return errors;
}

/* Lock objects are rewritten in place: one that does not authenticate
 * (damage, or another key) is named; prune removes it. */
static uint64_t check_locks(cs_repo *r)
{
    cs_lock_entry *v = NULL;
    size_t n = 0;
    uint64_t bad = 0;

    if (cs_repo_list_locks(r, &v, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        if (!v[i].unreadable)
            continue;
        cs_id_hex(&v[i].id, hex);
        log_error("lock object locks/%s is damaged (it does not authenticate): "
                  "'cloudseal locks --remove-stale' removes it", hex);
        bad++;
    }
    free(v);
    return bad;
}

/* Packs in data/ that no index object names: after the pack-header
 * fallback, those holding blobs a snapshot needs are counted apart. */
static void count_unindexed(cs_repo *r, cs_check_result *res)
{
    for (size_t i = 0; i < r->index.count; i++) {
        cs_ientry *e = cs_index_at(&r->index, i);
        if (e->used && e->pack != CS_PACK_PENDING && r->index.packs[e->pack].unindexed)
            r->index.packs[e->pack].flag = 1;
    }
    for (size_t i = 0; i < r->index.npacks; i++)
        if (r->index.packs[i].unindexed && r->index.packs[i].flag)
            res->unindexed_needed++;
}

int cs_check(cs_repo *r, const cs_check_opts *o, cs_check_result *res)
{
    cs_snapshot *snaps = NULL;
    cs_index_bypack bp = { 0 };
    size_t nsnaps = 0, damaged = 0, nindexed = r->index.npacks;
    uint64_t bad_headers = 0;
    bool *missing = NULL;
    marks m = { 0 };
    cs_plist pl;
    int rc;

    assert(r && res);
    memset(res, 0, sizeof(*res));
    res->errors += r->damaged_index;
    res->errors += r->config_err != 0; /* named at open, with what to run */
    rc = cs_plist_load(r, &pl);
    if (rc == 0 && !(missing = calloc(nindexed + 1, sizeof(bool))))
        rc = -ENOMEM;
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < nindexed; i++) {
        cs_ipack *ip = &r->index.packs[i];
        cs_pent *pe = cs_plist_find(&pl, &ip->id);
        char hex[65];
        cs_id_hex(&ip->id, hex);
        if (!pe) {
            log_error("pack data/%.2s/%s named by the index is missing", hex, hex);
            res->errors++;
            missing[i] = true;
        } else {
            pe->known = true;
            if (pe->size != ip->size) {
                log_error("pack data/%.2s/%s has %llu bytes, the index says %llu: it is damaged", hex, hex,
                          (unsigned long long)pe->size, (unsigned long long)ip->size);
                res->errors++;
            }
        }
    }
    res->packs = nindexed;
    for (size_t i = 0; i < pl.n; i++)
        if (!pl.v[i].known)
            res->unreferenced_packs++;
    /* what the index lacks, the packs' own headers tell */
    if (res->unreferenced_packs && (rc = cs_repo_index_unindexed(r, &bad_headers)) < 0)
        goto out;
    res->errors += res->unindexed_damaged = bad_headers;
    rc = cs_snapshot_list(r, &snaps, &nsnaps, &damaged);
    if (rc < 0)
        goto out;
    res->errors += damaged;
    res->snapshots = nsnaps;
    rc = mark_all(r, snaps, nsnaps, &m);
    if (rc < 0)
        goto out;
    res->errors += m.errors;
    res->trees = m.trees;
    count_unindexed(r, res);
    res->blobs = r->index.count;
    res->errors += res->locks_damaged = check_locks(r);
    if ((rc = cs_repo_temp_objects(r, 0, &res->temp_objects, &res->temp_bytes)) < 0)
        goto out;
    if (o && o->read_data_percent > 0 && (rc = cs_index_bypack_build(&r->index, &bp)) < 0)
        goto out;
    if (o && o->read_data_percent > 0) {
        for (uint32_t i = 0; i < r->index.npacks; i++) {
            if (i < nindexed && missing[i])
                continue; /* reported */
            if (o->read_data_percent < 100 && randombytes_uniform(100) >= (uint32_t)o->read_data_percent)
                continue;
            res->errors += check_pack(r, &bp, i);
            res->packs_read++;
        }
    }
    rc = res->errors ? -EBADMSG : 0;
out:
    cs_snapshots_free(snaps, nsnaps);
    cs_index_bypack_free(&bp);
    cs_plist_free(&pl);
    free(missing);
    return rc;
}

/* ------------------------------------------------------------------ prune */

/* A blob listed by two index objects keeps one location (index.c).  If
 * that location is a pack that is gone (an index object an earlier prune
 * deleted, put back by the store), the pack that really holds the blob
 * looks unused: pruning would delete the only copy.  So every pack a live
 * blob is located in must be in storage, whole, before anything is
 * deleted. */
static int check_used_packs_exist(cs_repo *r, cs_plist *pl, const uint64_t *used_bytes)
{
    int rc = 0;

    for (uint32_t p = 0; p < r->index.npacks; p++) {
        const cs_ipack *ip = &r->index.packs[p];
        cs_pent *pe;
        char hex[65];
        if (!used_bytes[p])
            continue;
        pe = cs_plist_find(pl, &ip->id);
        if (pe && pe->size == ip->size)
            continue;
        cs_id_hex(&ip->id, hex);
        log_error("prune refuses to run: pack data/%.2s/%s, which holds data the snapshots need, is %s; "
                  "run 'cloudseal check'", hex, hex, pe ? "damaged (wrong size)" : "missing from storage");
        rc = -EBADMSG;
    }
    return rc;
}

enum pack_fate { PACK_KEEP, PACK_DELETE, PACK_REPACK };

/* What prune found and decided for each pack of the index as loaded (the
 * packs a repack writes come after npacks and are kept). */
typedef struct prune_plan {
    uint32_t npacks;
    uint64_t *used, *unused, *unused_blobs; /* bytes, bytes, blobs */
    enum pack_fate *fate;
    cs_plist pl; /* data/ as listed: packs no index names are deleted */
} prune_plan;

static void plan_free(prune_plan *pp)
{
    free(pp->used);
    free(pp->unused);
    free(pp->unused_blobs);
    free(pp->fate);
    cs_plist_free(&pp->pl);
}

static int plan_count(cs_repo *r, prune_plan *pp, cs_prune_result *res)
{
    size_t n = r->index.npacks + 1;

    pp->npacks = (uint32_t)r->index.npacks;
    pp->used = calloc(n, sizeof(uint64_t));
    pp->unused = calloc(n, sizeof(uint64_t));
    pp->unused_blobs = calloc(n, sizeof(uint64_t));
    pp->fate = calloc(n, sizeof(enum pack_fate));
    if (!pp->used || !pp->unused || !pp->unused_blobs || !pp->fate)
        return -ENOMEM;
    for (size_t i = 0; i < r->index.count; i++) {
        cs_ientry *e = cs_index_at(&r->index, i);
        if (e->pack == CS_PACK_PENDING)
            continue;
        if (e->used) {
            pp->used[e->pack] += e->enc_len;
            res->blobs_kept++;
        } else {
            pp->unused[e->pack] += e->enc_len;
            pp->unused_blobs[e->pack]++;
        }
    }
    return 0;
}

/* A pack is deleted when nothing in it is used, repacked (its used blobs
 * copied into new packs) when over 20% is unused, or when it is small and
 * another small pack of its kind is repacked too.  A repack must leave
 * fewer packs or fewer bytes, or every prune would redo it (the new pack of
 * a lone small pack is as small): so a prune right after a prune does
 * nothing. */
static void plan_fates(cs_repo *r, prune_plan *pp)
{
    size_t merge[2] = { 0, 0 }; /* packs of each kind whose blobs may share new packs */

    for (uint32_t p = 0; p < pp->npacks; p++) {
        cs_ipack *ip = &r->index.packs[p];
        int tree = ip->type == CS_BLOB_TREE;
        if (!pp->used[p])
            pp->fate[p] = PACK_DELETE;
        else if (pp->unused[p] * 100 > ip->size * 20)
            pp->fate[p] = PACK_REPACK, merge[tree]++;
        else if (ip->size < CS_PACK_TARGET / 8)
            merge[tree]++;
    }
    for (uint32_t p = 0; p < pp->npacks; p++) {
        cs_ipack *ip = &r->index.packs[p];
        int tree = ip->type == CS_BLOB_TREE;
        if (pp->fate[p] == PACK_KEEP && pp->used[p] && ip->size < CS_PACK_TARGET / 8 && merge[tree] > 1)
            pp->fate[p] = PACK_REPACK;
    }
}

static int by_garbage(const void *a, const void *b, void *ud)
{
    const uint64_t *unused = ud;
    uint64_t x = unused[*(const uint32_t *)a], y = unused[*(const uint32_t *)b];

    return x < y ? 1 : x > y ? -1 : 0;
}

/* After the bound, a lone small pack left to repack in its kind would only
 * be copied into a pack as small: keep it for a run that merges it. */
static void drop_lone_merges(cs_repo *r, prune_plan *pp, cs_prune_result *res)
{
    size_t n[2] = { 0, 0 };
    uint32_t last[2] = { 0, 0 };

    for (uint32_t p = 0; p < pp->npacks; p++)
        if (pp->fate[p] == PACK_REPACK) {
            int tree = r->index.packs[p].type == CS_BLOB_TREE;
            n[tree]++;
            last[tree] = p;
        }
    for (int k = 0; k < 2; k++) {
        cs_ipack *ip = &r->index.packs[last[k]];
        if (n[k] != 1 || pp->unused[last[k]] * 100 > ip->size * 20)
            continue;
        pp->fate[last[k]] = PACK_KEEP;
        res->bytes_repacked -= ip->size;
        res->bytes_repack_left += ip->size;
        res->packs_repack_left++;
    }
}

/* With max_repack, repack the packs with the most garbage first, up to
 * max_repack bytes of packs read; the others are kept for the next prune
 * (what a repack costs is reading and writing them; deleting is cheap and
 * not bounded). */
static int plan_bound(cs_repo *r, prune_plan *pp, uint64_t max_repack, cs_prune_result *res)
{
    _cleanup_free_ uint32_t *order = calloc(pp->npacks + 1, sizeof(uint32_t));
    uint32_t n = 0;

    if (!order)
        return -ENOMEM;
    for (uint32_t p = 0; p < pp->npacks; p++)
        if (pp->fate[p] == PACK_REPACK)
            order[n++] = p;
    qsort_r(order, n, sizeof(uint32_t), by_garbage, pp->unused);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t size = r->index.packs[order[i]].size;
        if (max_repack && res->bytes_repacked + size > max_repack) {
            pp->fate[order[i]] = PACK_KEEP;
            res->bytes_repack_left += size;
            res->packs_repack_left++;
        } else {
            res->bytes_repacked += size;
        }
    }
    if (max_repack && res->packs_repack_left)
        drop_lone_merges(r, pp, res);
    return 0;
}

/* The counts are what is done: unused blobs in kept packs stay. */
static void plan_result(cs_repo *r, const prune_plan *pp, cs_prune_result *res)
{
    for (uint32_t p = 0; p < pp->npacks; p++) {
        cs_ipack *ip = &r->index.packs[p];
        switch (pp->fate[p]) {
        case PACK_DELETE:
            res->packs_deleted++;
            res->bytes_freed += ip->size;
            res->blobs_removed += pp->unused_blobs[p];
            break;
        case PACK_REPACK:
            res->packs_rewritten++;
            res->bytes_freed += pp->unused[p];
            res->blobs_removed += pp->unused_blobs[p];
            break;
        case PACK_KEEP:
            res->packs_kept++;
            res->blobs_unused_kept += pp->unused_blobs[p];
            break;
        }
    }
    for (size_t i = 0; i < pp->pl.n; i++) {
        if (!pp->pl.v[i].known) {
            res->packs_deleted++;
            res->bytes_freed += pp->pl.v[i].size;
        }
    }
}

/* Refuses when the repository is damaged in a way that would make prune
 * delete data a snapshot needs; else decides every pack's fate. */
static int plan(cs_repo *r, uint64_t max_repack, prune_plan *pp, cs_prune_result *res)
{
    cs_snapshot *snaps = NULL;
    size_t nsnaps = 0, damaged = 0;
    marks m = { 0 };
    int rc;

    if (r->damaged_index) {
        log_error("prune refuses to run while an index object is damaged: it could delete packs only that "
                  "object names; run 'cloudseal repair index' first");
        return -EBADMSG;
    }
    rc = cs_snapshot_list(r, &snaps, &nsnaps, &damaged);
    if (rc == 0 && damaged) {
        log_error("prune refuses to run while a snapshot is damaged: it could delete data that snapshot needs");
        rc = -EBADMSG;
    }
    if (rc == 0)
        rc = mark_all(r, snaps, nsnaps, &m);
    cs_snapshots_free(snaps, nsnaps);
    if (rc == 0 && m.errors) {
        log_error("prune refuses to run: the snapshots need data that is missing or damaged; run 'cloudseal check'");
        rc = -EBADMSG;
    }
    if (rc == 0)
        rc = plan_count(r, pp, res);
    if (rc == 0)
        rc = cs_plist_load(r, &pp->pl);
    if (rc < 0)
        return rc;
    for (uint32_t p = 0; p < pp->npacks; p++) {
        cs_pent *pe = cs_plist_find(&pp->pl, &r->index.packs[p].id);
        if (pe)
            pe->known = true;
    }
    if ((rc = check_used_packs_exist(r, &pp->pl, pp->used)) < 0)
        return rc;
    plan_fates(r, pp);
    if ((rc = plan_bound(r, pp, max_repack, res)) < 0)
        return rc;
    plan_result(r, pp, res);
    return 0;
}

/* The used blobs of a pack being repacked (v: scratch for them), read in
 * runs (run_end) and copied as they are: the blob's AEAD binds its type and
 * id, not its pack. */
static int repack_pack(cs_repo *r, const cs_index_bypack *bp, uint32_t p, cs_pack_writer *w, cs_buf *run,
                       cs_ientry ***v, size_t *cap)
{
    size_t n = 0, count = cs_index_bypack_count(bp, p);
    int rc = 0;

    if (CS_GREEDY_REALLOC(*v, *cap, count + 1) < 0)
        return -ENOMEM;
    for (size_t k = 0; k < count; k++) {
        cs_ientry *e = cs_index_bypack_at(&r->index, bp, p, k);
        if (e->used)
            (*v)[n++] = e;
    }
    qsort(*v, n, sizeof(**v), by_place);
    for (size_t i = 0, j; i < n && rc == 0; i = j) {
        uint64_t start = (*v)[i]->offset;
        j = run_end(*v, i, n, 0, CS_MAX_BLOB);
        rc = read_run(r, *v, i, j, run); /* -EBADMSG: changed since plan() */
        for (size_t k = i; k < j && rc == 0; k++) {
            cs_ientry *e = (*v)[k];
            pthread_mutex_lock(&r->index.lock);
            e->pack = CS_PACK_PENDING;
            pthread_mutex_unlock(&r->index.lock);
            rc = cs_pack_writer_add(w, e->type, &e->id, run->data + (e->offset - start), e->enc_len, e->raw_len);
        }
    }
    return rc;
}

/* Copy the used blobs of the packs being repacked into new packs. */
static int repack(cs_repo *r, const prune_plan *pp, const cs_index_bypack *bp)
{
    _cleanup_buf_ cs_buf run = CS_BUF_INIT;
    _cleanup_free_ cs_ientry **v = NULL;
    cs_pack_writer *writer = NULL;
    size_t cap = 0;
    int rc = cs_pack_writer_new(r, 2, &writer);

    for (uint32_t p = 0; p < pp->npacks && rc == 0; p++)
        if (pp->fate[p] == PACK_REPACK)
            rc = repack_pack(r, bp, p, writer, &run, &v, &cap);
    if (rc == 0)
        rc = cs_pack_writer_finish(writer); /* writes the index object of the new packs */
    cs_pack_writer_free(writer);
    return rc;
}

/* One index object for every pack kept as it is (the repack moved only
 * entries of the packs it rewrote: bp still holds the kept ones). */
static int write_kept_index(cs_repo *r, const prune_plan *pp, const cs_index_bypack *bp)
{
    cs_index_pack_blobs *v = calloc(pp->npacks + 1, sizeof(*v));
    size_t nv = 0;
    int rc = v ? 0 : -ENOMEM;

    for (uint32_t p = 0; p < pp->npacks && rc == 0; p++) {
        if (pp->fate[p] != PACK_KEEP)
            continue;
        rc = cs_index_pack_view(&r->index, bp, p, &v[nv]);
        if (rc == 0)
            nv++;
    }
    if (rc == 0 && nv && (rc = cs_repo_write_index(r, v, nv)) > 0)
        rc = 0;
    for (size_t i = 0; i < nv; i++)
        free(v[i].blobs);
    free(v);
    return rc;
}

static int delete_object(cs_repo *r, const char *kind, const cs_id *id)
{
    char key[1200];
    int rc;

    cs_repo_key(r, kind, id, key, sizeof(key));
    rc = cs_storage_del(r->st, key);
    return rc == -ENOENT ? 0 : rc;
}

/* Only once the new index objects are written: forget the old ones, then
 * delete the packs (an interruption in between leaves packs no index
 * names, which the next prune deletes). */
static int delete_old(cs_repo *r, const prune_plan *pp, const cs_id *old_index, size_t nold)
{
    int rc = 0;

    for (size_t i = 0; i < nold && rc == 0; i++)
        rc = delete_object(r, "index", &old_index[i]);
    for (uint32_t p = 0; p < pp->npacks && rc == 0; p++)
        if (pp->fate[p] != PACK_KEEP)
            rc = delete_object(r, "data", &r->index.packs[p].id);
    for (size_t i = 0; i < pp->pl.n && rc == 0; i++)
        if (!pp->pl.v[i].known)
            rc = delete_object(r, "data", &pp->pl.v[i].id);
    return rc;
}

int cs_prune(cs_repo *r, const cs_prune_opts *o, cs_prune_result *res)
{
    static const cs_prune_opts defaults = { 0 };
    cs_index_bypack bp = { 0 };
    prune_plan pp = { 0 };
    int rc;

    assert(r && res); /* o may be NULL: the defaults */
    memset(res, 0, sizeof(*res));
    if (!o)
        o = &defaults;
    rc = cs_repo_lock(r, true);
    if (rc < 0)
        return rc;
    rc = cs_repo_reload_index(r);
    if (rc < 0)
        goto out;
    cs_repo_remove_stale_locks(r);
    rc = plan(r, o->max_repack, &pp, res);
    /* leftovers of interrupted writes: a writer holding a lock would have
     * kept us out, and a write going on keeps its file's mtime current */
    if (rc == 0)
        rc = cs_repo_temp_objects(r, o->dry_run ? 0 : r->lock_time, &res->temp_removed, &res->temp_bytes);
    if (rc < 0)
        goto out;
    res->bytes_freed += res->temp_bytes;
    if (o->dry_run || (!res->packs_deleted && !res->packs_rewritten))
        goto out;
    /* the index by pack, for both: grouped once */
    rc = cs_index_bypack_build(&r->index, &bp);
    if (rc == 0)
        rc = repack(r, &pp, &bp);
    if (rc == 0)
        rc = write_kept_index(r, &pp, &bp);
    if (rc == 0)
        rc = delete_old(r, &pp, r->index_ids, r->nindex_ids);
out:
    cs_index_bypack_free(&bp);
    plan_free(&pp);
    cs_repo_unlock(r);
    return rc;
}

int cs_repo_stats_get(cs_repo *r, cs_repo_stats *st)
{
    cs_snapshot *snaps = NULL;
    size_t n = 0;
    int rc = cs_snapshot_list(r, &snaps, &n, NULL);

    memset(st, 0, sizeof(*st));
    if (rc < 0)
        return rc;
    cs_snapshots_free(snaps, n);
    st->snapshots = n;
    st->packs = r->index.npacks;
    st->index_files = r->index_files;
    for (size_t i = 0; i < r->index.npacks; i++)
        st->stored_bytes += r->index.packs[i].size;
    for (size_t i = 0; i < r->index.count; i++) {
        const cs_ientry *e = cs_index_at(&r->index, i);
        if (e->pack == CS_PACK_PENDING)
            continue;
        st->blobs++;
        st->raw_bytes += e->raw_len;
        if (e->type == CS_BLOB_TREE)
            st->tree_blobs++;
        else
            st->data_blobs++;
    }
    return 0;
}
