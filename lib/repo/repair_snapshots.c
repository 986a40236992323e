/* SPDX-License-Identifier: MIT */
/* repair snapshots: a snapshot whose trees or data are damaged or missing
 * is rewritten to keep everything still readable.  A file any of whose
 * blobs is lost is left out (never restored with a hole), a directory whose
 * listing is lost becomes empty; each is named.  New trees are stored
 * (packs and index) before the new snapshot names them, and the original
 * is removed only after the new snapshot is stored. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/log.h"
#include "util/macros.h"

/* A tree entry is TREE_WHOLE once a walk found nothing lost beneath it
 * and it rewrote to itself: the snapshots that share it (most of a
 * directory tree, from one backup to the next) take it as it is instead of
 * reading it all again, which made the repair O(snapshots x files). */
enum { BLOB_UNKNOWN = 0, BLOB_OK = 1, BLOB_LOST = 2, TREE_WHOLE = 3 };

typedef struct rctx {
    cs_repo *r;
    cs_plist pl;
    cs_pack_writer *writer;
    bool read_data, dry_run;
    bool unindexed; /* a needed blob is only in a pack no index names */
    uint64_t lost;  /* in the snapshot being rewritten */
    uint64_t trees; /* distinct trees read */
    char snap[9];
} rctx;

/* Is the blob there: in the index, in a pack that is in data/ with the
 * size the index says, and (read_data) decrypting to its id?  Memoised in
 * the entry's scratch byte. */
static int blob_state(rctx *c, const cs_id *id, int type)
{
    cs_ientry *e = cs_index_find(&c->r->index, id);
    const cs_ipack *ip;
    cs_pent *pe;

    if (!e || e->pack == CS_PACK_PENDING)
        return e ? BLOB_OK : BLOB_LOST; /* pending: a tree this repair stored */
    if (e->type != type)
        return BLOB_LOST;
    if (e->used)
        return e->used;
    ip = &c->r->index.packs[e->pack];
    pe = cs_plist_find(&c->pl, &ip->id);
    e->used = pe && pe->size == ip->size ? BLOB_OK : BLOB_LOST;
    if (e->used == BLOB_OK && ip->unindexed)
        c->unindexed = true;
    if (e->used == BLOB_OK && c->read_data && type == CS_BLOB_DATA) {
        _cleanup_buf_ cs_buf out = CS_BUF_INIT;
        if (cs_repo_load_blob(c->r, id, type, &out) == -EBADMSG)
            e->used = BLOB_LOST;
    }
    return e->used;
}

static int store_tree(rctx *c, const cs_node *nodes, size_t n, cs_id *out)
{
    _cleanup_buf_ cs_buf enc = CS_BUF_INIT, sealed = CS_BUF_INIT;
    cs_ientry *e;
    int rc = cs_tree_encode(nodes, n, &enc);

    if (rc < 0)
        return rc;
    cs_blob_id(c->r->keys, enc.data, enc.len, out);
    if (c->dry_run)
        return 0;
    pthread_mutex_lock(&c->r->index.lock);
    rc = cs_index_claim(&c->r->index, out, CS_BLOB_TREE, &e);
    pthread_mutex_unlock(&c->r->index.lock);
    if (rc <= 0)
        return rc; /* stored already (or -ENOMEM) */
    rc = cs_blob_seal(c->r->keys, CS_BLOB_TREE, out, enc.data, enc.len, NULL, &sealed);
    if (rc == 0)
        rc = cs_pack_writer_add(c->writer, CS_BLOB_TREE, out, sealed.data, sealed.len, (uint32_t)enc.len);
    return rc;
}

static void lost(rctx *c, const char *path, const char *what)
{
    log_warning("snapshot %s: %s: %s", c->snap, path[0] ? path : "/", what);
    c->lost++;
}

/* Rewrite the tree id (at path) into *out, leaving out what is lost. */
static int rewrite_tree(rctx *c, const cs_id *id, const char *path, cs_id *out)
{
    cs_ientry *e = cs_index_find(&c->r->index, id);
    uint64_t lost_before = c->lost;
    cs_tree t;
    cs_node *keep = NULL;
    size_t nk = 0;
    int rc;

    if (e && e->used == TREE_WHOLE) {
        *out = *id;
        return 0;
    }
    rc = blob_state(c, id, CS_BLOB_TREE) == BLOB_LOST ? -ENOENT : cs_tree_load(c->r, id, &t);
    if (rc == 0)
        c->trees++;

    if (rc < 0 && rc != -ENOENT && rc != -EBADMSG)
        return rc; /* storage unreachable: nothing is lost */
    if (rc < 0) {
        lost(c, path, "directory listing lost: kept as an empty directory");
        return store_tree(c, NULL, 0, out);
    }
    keep = calloc(t.n ? t.n : 1, sizeof(*keep));
    if (!keep) {
        cs_tree_free(&t);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t.n && rc == 0; i++) {
        cs_node *nd = &t.nodes[i];
        char *p = NULL;
        bool ok = true;
        if (asprintf(&p, "%s/%s", path, nd->name) < 0) {
            rc = -ENOMEM;
            break;
        }
        for (uint32_t k = 0; k < nd->ncontent && ok; k++)
            ok = blob_state(c, &nd->content[k], CS_BLOB_DATA) == BLOB_OK;
        if (!ok)
            lost(c, p, "file data lost: left out");
        else if (nd->type == CS_NODE_DIR)
            rc = rewrite_tree(c, &nd->subtree, p, &nd->subtree);
        if (ok && rc == 0)
            keep[nk++] = *nd; /* shallow: t owns the node */
        free(p);
    }
    if (rc == 0)
        rc = store_tree(c, keep, nk, out);
    if (rc == 0 && e && c->lost == lost_before && memcmp(out->b, id->b, CS_ID_LEN) == 0)
        e->used = TREE_WHOLE;
    free(keep);
    cs_tree_free(&t);
    return rc;
}

void cs_repair_snapshots_result_free(cs_repair_snapshots_result *res)
{
    free(res->repaired);
    memset(res, 0, sizeof(*res));
}

static int add_result(cs_repair_snapshots_result *res, const cs_id *old, const cs_id *new_id, uint64_t n)
{
    cs_repair_snap *nv = realloc(res->repaired, (res->nrepaired + 1) * sizeof(*nv));

    if (!nv)
        return -ENOMEM;
    res->repaired = nv;
    nv[res->nrepaired].old_id = *old;
    memset(&nv[res->nrepaired].new_id, 0, sizeof(cs_id));
    if (new_id)
        nv[res->nrepaired].new_id = *new_id;
    nv[res->nrepaired++].lost = n;
    return 0;
}

int cs_snapshot_write(cs_repo *r, cs_snapshot *s);

/* The new snapshot: the original's metadata, the new tree, tag "repaired". */
static int write_repaired(cs_repo *r, const cs_snapshot *orig, const cs_id *tree, uint64_t n, cs_id *out)
{
    cs_snapshot s = *orig;
    char **tags = calloc(orig->ntags + 1, sizeof(char *));
    bool tagged = false;
    int rc;

    if (!tags)
        return -ENOMEM;
    for (size_t i = 0; i < orig->ntags; i++) {
        tags[i] = orig->tags[i];
        tagged |= strcmp(orig->tags[i], "repaired") == 0;
    }
    if (!tagged)
        tags[orig->ntags] = "repaired";
    s.tags = tags;
    s.ntags = orig->ntags + !tagged;
    s.tree = *tree;
    s.summary.lost += n;
    rc = cs_snapshot_write(r, &s);
    if (rc == 0)
        *out = s.id;
    free(tags);
    return rc;
}

/* An unreadable snapshot object: nothing of it can be kept. */
static int drop_unreadable(cs_repo *r, bool dry_run, cs_repair_snapshots_result *res)
{
    cs_id *ids = NULL;
    size_t n = 0;
    int rc = cs_repo_list_ids(r, "snapshots", &ids, &n);

    for (size_t i = 0; i < n && rc == 0; i++) {
        _cleanup_buf_ cs_buf pt = CS_BUF_INIT;
        cs_snapshot s;
        char hex[65];
        int g = cs_repo_get_sealed(r, "snapshots", CS_OBJ_SNAPSHOT, &ids[i], &pt);
        if (g == 0 && (g = cs_snapshot_parse(pt.data, pt.len, &s)) == 0)
            cs_snapshot_clear(&s);
        if (g != -EBADMSG)
            continue;
        cs_id_hex(&ids[i], hex);
        log_warning("snapshot object snapshots/%s is damaged: nothing in it can be read; %s", hex,
                    dry_run ? "it would be removed" : "removed");
        rc = add_result(res, &ids[i], NULL, 1);
        if (rc == 0 && !dry_run)
            rc = cs_snapshot_delete(r, &ids[i]);
    }
    free(ids);
    return rc;
}

static int repair_all(rctx *c, cs_repair_snapshots_result *res)
{
    cs_snapshot *snaps = NULL;
    size_t n = 0;
    cs_id *roots = NULL;
    uint64_t *nlost = NULL;
    int rc = cs_snapshot_list(c->r, &snaps, &n, NULL);

    if (rc < 0)
        return rc;
    res->snapshots = n;
    roots = calloc(n + 1, sizeof(*roots));
    nlost = calloc(n + 1, sizeof(*nlost));
    rc = roots && nlost ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char hex[65];
        cs_id_hex(&snaps[i].id, hex);
        snprintf(c->snap, sizeof(c->snap), "%.8s", hex);
        c->lost = 0;
        rc = rewrite_tree(c, &snaps[i].tree, "", &roots[i]);
        nlost[i] = c->lost;
    }
    res->trees = c->trees;
    if (rc == 0 && c->unindexed) {
        log_error("repair snapshots refuses to run: the snapshots need data in packs the index does not "
                  "name; run 'cloudseal repair index' first");
        rc = -EBADMSG;
    }
    /* the new trees are stored (packs, then their index) before any
     * snapshot names them */
    if (rc == 0 && !c->dry_run)
        rc = cs_pack_writer_finish(c->writer);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cs_id nid = { 0 };
        if (!nlost[i])
            continue;
        if (!c->dry_run && (rc = write_repaired(c->r, &snaps[i], &roots[i], nlost[i], &nid)) == 0)
            rc = cs_snapshot_delete(c->r, &snaps[i].id);
        if (rc == 0)
            rc = add_result(res, &snaps[i].id, &nid, nlost[i]);
    }
    free(roots);
    free(nlost);
    cs_snapshots_free(snaps, n);
    return rc;
}

/* Index entries in packs that are gone would shadow the trees this repair
 * stores (one blob, one location): 'repair index' drops them first. */
static int missing_packs(cs_repo *r, cs_plist *pl)
{
    size_t n = 0;

    for (size_t i = 0; i < r->index.npacks; i++) {
        cs_pent *pe = cs_plist_find(pl, &r->index.packs[i].id);
        n += !pe || pe->size != r->index.packs[i].size;
    }
    if (!n)
        return 0;
    log_error("repair snapshots refuses to run: %zu pack(s) named by the index are missing or damaged; run "
              "'cloudseal repair index' first (it indexes only what the packs hold), then this again", n);
    return -EBADMSG;
}

int cs_repair_snapshots(cs_repo *r, bool dry_run, bool read_data, cs_repair_snapshots_result *res)
{
    rctx c = { .r = r, .read_data = read_data, .dry_run = dry_run };
    int rc;

    memset(res, 0, sizeof(*res));
    rc = cs_repo_lock(r, true);
    if (rc < 0)
        return rc;
    rc = cs_repo_reload_index(r);
    if (rc == 0 && r->damaged_index) {
        log_error("repair snapshots refuses to run while an index object is damaged: it would drop data "
                  "that is only unindexed; run 'cloudseal repair index' first");
        rc = -EBADMSG;
    }
    if (rc == 0)
        rc = cs_repo_index_unindexed(r, NULL);
    if (rc >= 0)
        rc = cs_plist_load(r, &c.pl);
    if (rc == 0)
        rc = missing_packs(r, &c.pl);
    if (rc == 0)
        cs_index_clear_used(&r->index); /* BLOB_UNKNOWN */
    if (rc == 0)
        rc = drop_unreadable(r, dry_run, res);
    if (rc == 0 && !dry_run)
        rc = cs_pack_writer_new(r, 1, &c.writer);
    if (rc == 0)
        rc = repair_all(&c, res);
    cs_pack_writer_free(c.writer);
    cs_plist_free(&c.pl);
    cs_repo_unlock(r);
    return rc;
}
