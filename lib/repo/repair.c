/* SPDX-License-Identifier: MIT */
/* Healing the repository from what it still holds: the pack-header
 * fallback (restore and check read the headers of packs no index object
 * names), `repair index` (a new index from every pack's own header, each
 * blob verified).  Packs are
 * self-describing (pack.c) so that no damaged or lost index object can
 * strand intact data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "util/log.h"
#include "util/macros.h"

#define HEADER_TAIL (64u << 10) /* one ranged read holds the header of any usual pack */

/* ---- the pack-header fallback ---- */

/* Fetch and open the header of a pack of size bytes: usually one ranged
 * read of its tail. */
static int fetch_header(cs_repo *r, const cs_id *pid, uint64_t size, cs_pack_blob **blobs, size_t *n)
{
    _cleanup_buf_ cs_buf tail = CS_BUF_INIT, hdr = CS_BUF_INIT;
    uint64_t want = size < HEADER_TAIL ? size : HEADER_TAIL;
    char key[1200];
    uint32_t hlen;
    int rc;

    if (size < 8 + CS_SEAL_OVERHEAD || size > CS_MAX_PACK)
        return -EBADMSG;
    cs_repo_key(r, "data", pid, key, sizeof(key));
    rc = cs_storage_get(r->st, key, size - want, want, HEADER_TAIL, &tail);
    if (rc == -EINVAL)
        rc = -EBADMSG; /* shorter than listed */
    if (rc < 0)
        return rc;
    if (tail.len != want)
        return -EBADMSG;
    if ((rc = cs_pack_trailer(tail.data, tail.len, size, &hlen)) < 0)
        return rc;
    if ((uint64_t)hlen + 8 <= tail.len)
        return cs_pack_open_header(r->keys, tail.data + tail.len - 8 - hlen, hlen, size, blobs, n);
    rc = cs_storage_get(r->st, key, size - 8 - hlen, hlen, CS_MAX_OBJECT, &hdr);
    if (rc < 0)
        return rc == -EINVAL ? -EBADMSG : rc;
    if (hdr.len != hlen)
        return -EBADMSG;
    return cs_pack_open_header(r->keys, hdr.data, hlen, size, blobs, n);
}

/* Headers are fetched by a few threads at once: on S3 each is a round
 * trip, and a lost index means one per pack. */
#define HEADER_FETCHERS 8
typedef struct hfetch {
    cs_repo *r;
    cs_pent **todo;
    size_t n;
    size_t next;        /* under mu */
    pthread_mutex_t mu;
    struct hres { cs_pack_blob *blobs; size_t nb; int rc; } *res;
} hfetch;

static void *fetch_thread(void *arg)
{
    hfetch *h = arg;

    for (;;) {
        size_t i;
        pthread_mutex_lock(&h->mu);
        i = h->next++;
        pthread_mutex_unlock(&h->mu);
        if (i >= h->n)
            return NULL;
        h->res[i].rc = fetch_header(h->r, &h->todo[i]->id, h->todo[i]->size, &h->res[i].blobs, &h->res[i].nb);
    }
}

static void fetch_all(hfetch *h)
{
    pthread_t th[HEADER_FETCHERS];
    int nt = 0;

    pthread_mutex_init(&h->mu, NULL);
    for (size_t i = 1; i < h->n && nt < HEADER_FETCHERS - 1; i++)
        if (pthread_create(&th[nt], NULL, fetch_thread, h) == 0)
            nt++;
    fetch_thread(h); /* this thread works too (and alone if none could start) */
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&h->mu);
}

/* Merge what fetch_all found; returns packs added or -errno. */
static int merge_headers(cs_repo *r, hfetch *h, uint64_t *damaged)
{
    int rc = 0, added = 0;

    for (size_t i = 0; i < h->n; i++) {
        struct hres *x = &h->res[i];
        char hex[65];
        uint32_t pidx;
        if (x->rc == -ENOMEM || x->rc == -EHOSTUNREACH || x->rc == -ETIMEDOUT || x->rc == -ECONNRESET)
            rc = rc ? rc : x->rc;
        if (rc < 0 || x->rc == -ENOENT) /* gone since the listing (a prune) */
            continue;
        if (x->rc < 0) {
            cs_id_hex(&h->todo[i]->id, hex);
            log_error_errno(x->rc, "pack data/%.2s/%s is not indexed and its header is damaged (%m): its blobs "
                            "cannot be located", hex, hex);
            if (damaged)
                (*damaged)++;
            continue;
        }
        {
            cs_index_pack_blobs p = { h->todo[i]->id, h->todo[i]->size, (uint32_t)x->nb, x->blobs };
            rc = cs_index_merge_pack(&r->index, &p);
        }
        if (rc == 0 && (rc = cs_index_add_pack(&r->index, &h->todo[i]->id, h->todo[i]->size, &pidx)) == 0) {
            r->index.packs[pidx].unindexed = 1;
            added++;
        }
    }
    return rc < 0 ? rc : added;
}

int cs_repo_index_unindexed(cs_repo *r, uint64_t *damaged)
{
    hfetch h = { .r = r };
    cs_plist pl;
    int rc;

    if (damaged)
        *damaged = 0;
    if (r->headers_read)
        return 0;
    rc = cs_plist_load(r, &pl);
    if (rc == 0 && (!(h.todo = calloc(pl.n + 1, sizeof(*h.todo))) || !(h.res = calloc(pl.n + 1, sizeof(*h.res)))))
        rc = -ENOMEM;
    for (size_t i = 0; i < pl.n && rc == 0; i++)
        if (!cs_index_has_pack(&r->index, &pl.v[i].id)) /* named by no index object */
            h.todo[h.n++] = &pl.v[i];
    if (rc == 0 && h.n)
        fetch_all(&h);
    if (rc == 0)
        rc = merge_headers(r, &h, damaged);
    for (size_t i = 0; h.res && i < h.n; i++)
        free(h.res[i].blobs);
    free(h.res);
    free(h.todo);
    cs_plist_free(&pl);
    if (rc < 0)
        return rc;
    r->headers_read = true;
    if (rc > 0)
        log_notice("%d pack(s) not named by the index were read from their own headers", rc);
    return rc;
}

/* ---- repair index ---- */

typedef struct rebuild {
    cs_repo *r;
    cs_pack_writer *writer;         /* new packs for blobs salvaged from packs whose header is damaged */
    cs_id *dead;        /* those packs: deleted once the new index is stored */
    size_t ndead;
    cs_index_bypack bp; /* the old index by pack: built at the first salvage */
    cs_repair_index_result *res;
} rebuild;

/* The header does not authenticate: the blobs the old index located in
 * this pack are verified and copied into new packs (their AEAD binds type
 * and id, not the pack), then the pack goes.  Without a header or an index
 * entry a blob cannot be found at all. */
static int salvage(rebuild *b, const cs_pent *pe, const cs_buf *pack)
{
    _cleanup_buf_ cs_buf tmp = CS_BUF_INIT, plain = CS_BUF_INIT;
    cs_repo *r = b->r;
    uint64_t saved = 0, bad = 0;
    uint32_t pidx;
    char hex[65];
    cs_id *nd;
    int rc = 0;

    cs_id_hex(&pe->id, hex);
    if (!b->bp.start && (rc = cs_index_bypack_build(&r->index, &b->bp)) < 0)
        return rc;
    if (!cs_index_find_pack(&r->index, &pe->id, &pidx) || pidx >= b->bp.npacks) {
        log_error("pack data/%.2s/%s is damaged: its header does not authenticate and no index object "
                  "locates its blobs; it is left in place, not indexed ('repair snapshots' then 'prune' "
                  "remove it)", hex, hex);
        b->res->damaged_packs++;
        return 0;
    }
    for (size_t k = 0; k < cs_index_bypack_count(&b->bp, pidx) && rc == 0; k++) {
        cs_ientry *e = cs_index_bypack_at(&r->index, &b->bp, pidx, k);
        if ((uint64_t)e->offset + e->enc_len > pack->len ||
            cs_blob_open(r->keys, e->type, &e->id, pack->data + e->offset, e->enc_len, e->raw_len, &tmp,
                         &plain) < 0) {
            bad++;
            continue;
        }
        pthread_mutex_lock(&r->index.lock);
        e->pack = CS_PACK_PENDING;
        pthread_mutex_unlock(&r->index.lock);
        rc = cs_pack_writer_add(b->writer, e->type, &e->id, pack->data + e->offset, e->enc_len, e->raw_len);
        saved++;
    }
    if (rc < 0)
        return rc;
    if (!(nd = realloc(b->dead, (b->ndead + 1) * sizeof(*nd))))
        return -ENOMEM;
    b->dead = nd;
    b->dead[b->ndead++] = pe->id;
    log_error("pack data/%.2s/%s is damaged: its header does not authenticate; %llu blob(s) the old index "
              "located in it were copied into a new pack, %llu were damaged; the pack is removed", hex, hex,
              (unsigned long long)saved, (unsigned long long)bad);
    b->res->damaged_packs++;
    b->res->damaged_blobs += bad;
    b->res->blobs += saved;
    return 0;
}

/* Read one whole pack; put its verified blobs in *out (caller frees
 * out->blobs).  Returns 1 when the pack can be indexed, 0 when not
 * (reported), or a -errno that stops the repair. */
static int verify_pack(rebuild *b, const cs_pent *pe, cs_index_pack_blobs *out)
{
    _cleanup_buf_ cs_buf pack = CS_BUF_INIT, tmp = CS_BUF_INIT, plain = CS_BUF_INIT;
    cs_repo *r = b->r;
    cs_pack_blob *blobs = NULL;
    size_t nb = 0, good = 0;
    char key[1200], hex[65];
    int rc;

    cs_id_hex(&pe->id, hex);
    cs_repo_key(r, "data", &pe->id, key, sizeof(key));
    rc = cs_storage_get(r->st, key, 0, 0, CS_MAX_PACK, &pack);
    if (rc == -ENOENT)
        return 0; /* gone since the listing */
    if (rc == -EMSGSIZE) {
        log_error("pack data/%.2s/%s is larger than any pack cloudseal writes: left in place, not indexed",
                  hex, hex);
        b->res->damaged_packs++;
        return 0;
    }
    if (rc < 0)
        return rc;
    rc = cs_pack_read_header(r->keys, pack.data, pack.len, &blobs, &nb);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        return salvage(b, pe, &pack);
    for (size_t i = 0; i < nb; i++) {
        char bhex[65];
        /* decrypt and recompute the keyed hash: the id is what it claims */
        if (cs_blob_open(r->keys, blobs[i].type, &blobs[i].id, pack.data + blobs[i].offset, blobs[i].enc_len,
                         blobs[i].raw_len, &tmp, &plain) == 0) {
            blobs[good++] = blobs[i];
            continue;
        }
        cs_id_hex(&blobs[i].id, bhex);
        log_error("%s blob %s in pack data/%.2s/%s is damaged: not indexed",
                  blobs[i].type == CS_BLOB_TREE ? "tree" : "data", bhex, hex, hex);
        b->res->damaged_blobs++;
    }
    if (!good) {
        free(blobs);
        return 0;
    }
    *out = (cs_index_pack_blobs){ pe->id, pack.len, (uint32_t)good, blobs };
    b->res->blobs += good;
    b->res->packs++;
    return 1;
}

static int delete_all(cs_repo *r, const char *kind, const cs_id *ids, size_t n, uint64_t *count)
{
    for (size_t i = 0; i < n; i++) {
        char key[1200];
        int d;
        cs_repo_key(r, kind, &ids[i], key, sizeof(key));
        d = cs_storage_del(r->st, key);
        if (d < 0 && d != -ENOENT)
            return d;
        if (count)
            (*count)++;
    }
    return 0;
}

int cs_repair_index(cs_repo *r, cs_repair_index_result *res)
{
    rebuild b = { .r = r, .res = res };
    cs_index_pack_blobs *v = NULL;
    cs_id *old = NULL;
    size_t nold = 0, nv = 0;
    cs_plist pl = { 0 };
    int rc;

    memset(res, 0, sizeof(*res));
    rc = cs_repo_lock(r, true); /* no backup adds packs or index objects meanwhile */
    if (rc < 0)
        return rc;
    rc = cs_repo_reload_index(r); /* what it locates helps salvage packs with a damaged header */
    if (rc == 0)
        rc = cs_repo_list_ids(r, "index", &old, &nold);
    if (rc == 0)
        rc = cs_plist_load(r, &pl);
    if (rc == 0 && !(v = calloc(pl.n + 1, sizeof(*v))))
        rc = -ENOMEM;
    if (rc == 0)
        rc = cs_pack_writer_new(r, 1, &b.writer);
    for (size_t i = 0; i < pl.n && rc == 0; i++) {
        int k = verify_pack(&b, &pl.v[i], &v[nv]);
        if (k < 0)
            rc = k;
        else
            nv += (size_t)k;
    }
    if (rc == 0 && b.ndead && (rc = cs_pack_writer_finish(b.writer)) == 0)
        res->index_written++; /* the salvaged blobs' new packs */
    if (rc == 0 && (rc = cs_repo_write_index(r, v, nv)) > 0) {
        res->index_written += (uint64_t)rc;
        rc = 0;
    }
    /* the new index is stored: only now may the old objects go */
    if (rc == 0)
        rc = delete_all(r, "index", old, nold, &res->index_removed);
    if (rc == 0)
        rc = delete_all(r, "data", b.dead, b.ndead, NULL);
    for (size_t i = 0; i < nv; i++)
        free(v[i].blobs);
    free(v);
    free(old);
    free(b.dead);
    cs_index_bypack_free(&b.bp);
    cs_pack_writer_free(b.writer);
    cs_plist_free(&pl);
    if (rc == 0)
        rc = cs_repo_reload_index(r);
    cs_repo_unlock(r);
    return rc;
}
