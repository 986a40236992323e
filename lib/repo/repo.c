/* SPDX-License-Identifier: MIT */
/* Opening and creating a repository; reading and writing sealed objects. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "repo/repo_int.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/fileio.h"
#include "util/macros.h"

static const char hexd[] = "0123456789abcdef";

void cs_id_hex(const cs_id *id, char out[65])
{
    for (int i = 0; i < CS_ID_LEN; i++) {
        out[2 * i] = hexd[id->b[i] >> 4];
        out[2 * i + 1] = hexd[id->b[i] & 15];
    }
    out[64] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int cs_id_parse(const char *hex, cs_id *out)
{
    if (!hex || strlen(hex) != 64)
        return -EINVAL;
    for (int i = 0; i < CS_ID_LEN; i++) {
        int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
        if (a < 0 || b < 0)
            return -EINVAL;
        out->b[i] = (uint8_t)(a << 4 | b);
    }
    return 0;
}

void cs_repo_id_hex(const cs_repo *r, char out[65])
{
    cs_id_hex(&r->repo_id, out);
}

int cs_repo_key(const cs_repo *r, const char *kind, const cs_id *id, char *out, size_t outlen)
{
    char hex[65];
    int n;

    if (!id) {
        n = snprintf(out, outlen, "%s%s", r->prefix, kind);
    } else {
        cs_id_hex(id, hex);
        if (strcmp(kind, "data") == 0)
            n = snprintf(out, outlen, "%sdata/%.2s/%s", r->prefix, hex, hex);
        else
            n = snprintf(out, outlen, "%s%s/%s", r->prefix, kind, hex);
    }
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static bool cacheable(const cs_repo *r, const char *kind, const cs_id *id)
{
    return r->cache_dir && id && (strcmp(kind, "index") == 0 || strcmp(kind, "snapshots") == 0);
}

static void cache_path(const cs_repo *r, const char *kind, const cs_id *id, char *out, size_t len)
{
    char hex[65];

    if (id)
        cs_id_hex(id, hex);
    snprintf(out, len, "%s/%s%s%s", r->cache_dir, kind, id ? "/" : "", id ? hex : "");
}

int cs_repo_get_sealed(cs_repo *r, const char *kind, int type, const cs_id *id, cs_buf *out)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    char key[CS_REPO_KEY_MAX], local[1400];
    int rc;

    /* a local copy is as good as the remote one: both must authenticate */
    if (cacheable(r, kind, id)) {
        cache_path(r, kind, id, local, sizeof(local));
        if (cs_read_file(local, CS_MAX_OBJECT, &raw) == 0) {
            size_t before = out->len;
            if (cs_unseal(r->keys->data, type, id, raw.data, raw.len, out) == 0)
                return 0;
            out->len = before;
            unlink(local); /* damaged local copy: fetch again */
        }
        cs_buf_reset(&raw);
    }
    rc = cs_repo_key(r, kind, id, key, sizeof(key));
    if (rc == 0)
        rc = cs_storage_get(r->st, key, 0, 0, CS_MAX_OBJECT, &raw);
    if (rc < 0)
        return rc;
    rc = cs_unseal(r->keys->data, type, id, raw.data, raw.len, out);
    if (rc == 0 && cacheable(r, kind, id)) {
        char dir[1400];
        cache_path(r, kind, NULL, dir, sizeof(dir));
        if (cs_mkdir_p(dir, 0700) == 0)
            (void)cs_write_file_atomic(local, raw.data, raw.len, 0600);
    }
    return rc;
}

void cs_repo_cache_sync(cs_repo *r, const char *kind, const cs_id *ids, size_t n)
{
    char dir[1400];
    DIR *d;
    struct dirent *e;

    if (!r->cache_dir)
        return;
    cache_path(r, kind, NULL, dir, sizeof(dir));
    d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d))) {
        cs_id id;
        bool found = false;
        if (cs_id_parse(e->d_name, &id) < 0)
            continue;
        for (size_t i = 0; i < n && !found; i++)
            found = memcmp(ids[i].b, id.b, CS_ID_LEN) == 0;
        if (!found)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int cs_repo_put_sealed(cs_repo *r, const char *kind, int type, const cs_id *id, const void *pt, size_t len,
                       int flags)
{
    _cleanup_buf_ cs_buf ct = CS_BUF_INIT;
    char key[CS_REPO_KEY_MAX];
    int rc = cs_seal(r->keys->data, type, id, pt, len, &ct);

    if (rc == 0)
        rc = cs_repo_key(r, kind, id, key, sizeof(key));
    return rc < 0 ? rc : cs_storage_put(r->st, key, ct.data, ct.len, flags);
}

typedef struct list_ctx {
    size_t plen;
    cs_id *ids;
    size_t n, cap;
} list_ctx;

static int list_cb(const char *key, const cs_object_stat *st, void *ud)
{
    list_ctx *c = ud;
    const char *slash = strrchr(key, '/');
    cs_id id;

    (void)st;
    if (!slash || cs_id_parse(slash + 1, &id) < 0)
        return 0; /* not ours (a stray file): ignore */
    if (CS_GREEDY_REALLOC(c->ids, c->cap, c->n + 1) < 0)
        return -ENOMEM;
    c->ids[c->n++] = id;
    return 0;
}

int cs_repo_list_ids(cs_repo *r, const char *kind, cs_id **ids, size_t *n)
{
    char prefix[CS_REPO_KEY_MAX];
    list_ctx c = { 0 };
    int rc;

    snprintf(prefix, sizeof(prefix), "%s%s/", r->prefix, kind); /* fits: CS_REPO_PREFIX_MAX */
    rc = cs_storage_list(r->st, prefix, list_cb, &c);
    if (rc < 0) {
        free(c.ids); /* no caller can go on with part of a listing: say it once, here */
        return log_error_errno(rc, "cannot list %s in the storage", prefix);
    }
    *ids = c.ids;
    *n = c.n;
    return 0;
}

int cs_repo_init(cs_storage *st, const char *prefix, const cs_amk *amk)
{
    cs_repo r = { .st = st, .prefix = (char *)prefix };
    uint8_t *cfg;
    cs_buf b = { 0 };
    int rc;

    assert(st && prefix);
    if (strlen(prefix) > CS_REPO_PREFIX_MAX)
        return -ENAMETOOLONG; /* keys under it would be cut: see cs_repo_key() */
    if (!(cfg = cs_secure_alloc(CS_CONFIG_LEN)))
        return -ENOMEM;
    rc = cs_rkeys_new(amk, &r.keys);
    if (rc < 0)
        goto out;
    b.data = cfg;
    b.cap = CS_CONFIG_LEN;
    cs_put_le32(&b, CS_CONFIG_VERSION);
    cs_put_le32(&b, CS_CHUNK_MIN);
    cs_put_le32(&b, CS_CHUNK_AVG);
    cs_put_le32(&b, CS_CHUNK_MAX);
    randombytes_buf(cfg + b.len, 32 + 256 * 8); /* repository id, gear table */
    b.len = CS_CONFIG_LEN;
    rc = cs_repo_put_sealed(&r, "config", CS_OBJ_CONFIG, NULL, cfg, CS_CONFIG_LEN, CS_PUT_IMMUTABLE);
out:
    cs_secure_free(cfg);
    cs_rkeys_free(r.keys);
    return rc;
}

static int load_index(cs_repo *r)
{
    size_t n = 0;
    int rc = cs_repo_list_ids(r, "index", &r->index_ids, &n);

    if (rc < 0)
        return rc;
    r->nindex_ids = n;
    cs_repo_cache_sync(r, "index", r->index_ids, n);
    for (size_t i = 0; i < n; i++) {
        _cleanup_buf_ cs_buf pt = CS_BUF_INIT;
        char hex[65];
        rc = cs_repo_get_sealed(r, "index", CS_OBJ_INDEX, &r->index_ids[i], &pt);
        if (rc == 0)
            rc = cs_index_merge(&r->index, pt.data, pt.len);
        if (rc == -ENOENT)
            continue; /* removed by a concurrent prune after the listing */
        if (rc < 0) {
            cs_id_hex(&r->index_ids[i], hex);
            log_error_errno(rc, "index object index/%s is damaged (%m): the packs it names are located from "
                            "their own headers; 'cloudseal repair index' rebuilds the index", hex);
            r->damaged_index++;
            continue;
        }
        r->index_files++;
    }
    return 0;
}

/* After taking a lock: what another process (a prune, a backup) changed
 * before we held it must be seen, or we would deduplicate against deleted
 * packs or delete packs a new snapshot uses. */
static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cs_id));
}

/* Index objects never change once written: the same set of names is the
 * same index (a no-change backup of 1 M files spent 1/8 of its CPU parsing
 * it a second time). */
static bool index_unchanged(cs_repo *r)
{
    cs_id *now = NULL, *had = NULL;
    size_t n = 0;
    bool same = false;

    if (r->headers_read || r->damaged_index || cs_repo_list_ids(r, "index", &now, &n) < 0)
        return false;
    if (n == 0) {
        same = r->nindex_ids == 0;
    } else if (n == r->nindex_ids && (had = malloc(n * sizeof(cs_id)))) {
        memcpy(had, r->index_ids, n * sizeof(cs_id));
        qsort(had, n, sizeof(cs_id), id_cmp);
        qsort(now, n, sizeof(cs_id), id_cmp);
        same = memcmp(had, now, n * sizeof(cs_id)) == 0;
    }
    free(had);
    free(now);
    return same;
}

int cs_repo_reload_index(cs_repo *r)
{
    int rc;

    if (index_unchanged(r))
        return 0;
    cs_index_free(&r->index);
    free(r->index_ids);
    r->index_ids = NULL;
    r->nindex_ids = r->index_files = r->damaged_index = 0;
    r->headers_read = false; /* what the fallback added is gone with the old table */
    rc = cs_index_init(&r->index);
    return rc < 0 ? rc : load_index(r);
}

int cs_repo_open(cs_storage *st, const char *prefix, const cs_amk *amk, cs_repo **out)
{
    return cs_repo_open_cached(st, prefix, amk, NULL, out);
}

int cs_repo_open_cached(cs_storage *st, const char *prefix, const cs_amk *amk, const char *cache_dir,
                        cs_repo **out)
{
    return cs_repo_open_ex(st, prefix, amk, cache_dir, 0, out);
}

int cs_repo_open_ex(cs_storage *st, const char *prefix, const cs_amk *amk, const char *cache_dir, int flags,
                    cs_repo **out)
{
    cs_repo *r;
    int rc;

    assert(st && prefix && out);
    if (strlen(prefix) > CS_REPO_PREFIX_MAX)
        return -ENAMETOOLONG; /* keys under it would be cut: see cs_repo_key() */
    if (!(r = calloc(1, sizeof(*r))))
        return -ENOMEM;
    r->st = st;
    pthread_mutex_init(&r->lock_mu, NULL);
    pthread_cond_init(&r->lock_cv, NULL);
    r->prefix = strdup(prefix);
    rc = r->prefix ? cs_rkeys_new(amk, &r->keys) : -ENOMEM;
    if (rc == 0)
        rc = cs_index_init(&r->index);
    if (rc == 0)
        rc = cs_repo_load_config(r, cache_dir);
    /* the object cache is named by the repository id: none without a config */
    if (rc == 0 && cache_dir && !(flags & CS_REPO_NO_OBJECT_CACHE) && r->chunker) {
        char hex[65];
        cs_id_hex(&r->repo_id, hex);
        if (asprintf(&r->cache_dir, "%s/%s", cache_dir, hex) < 0) {
            r->cache_dir = NULL;
            rc = -ENOMEM;
        }
    }
    if (rc == 0)
        rc = load_index(r);
    if (rc < 0) {
        cs_repo_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cs_repo_close(cs_repo *r)
{
    if (!r)
        return;
    cs_repo_unlock(r);
    cs_rkeys_free(r->keys);
    if (r->index.slots)
        cs_index_free(&r->index);
    cs_secure_free(r->chunker);
    cs_buf_free(&r->config_copy);
    free(r->index_ids);
    free(r->prefix);
    free(r->cache_dir);
    pthread_mutex_destroy(&r->lock_mu);
    pthread_cond_destroy(&r->lock_cv);
    free(r);
}

int cs_repo_load_blob(cs_repo *r, const cs_id *id, int type, cs_buf *out)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT, tmp = CS_BUF_INIT;

    return cs_repo_load_blob2(r, id, type, &raw, &tmp, out, NULL);
}

int cs_repo_load_blob2(cs_repo *r, const cs_id *id, int type, cs_buf *raw, cs_buf *tmp, cs_buf *out, void *dctx)
{
    cs_ientry *e = cs_index_find(&r->index, id);
    char key[CS_REPO_KEY_MAX];
    int rc;

    if (!e || e->pack == CS_PACK_PENDING)
        return -ENOENT;
    if (e->type != type)
        return -EBADMSG;
    if ((rc = cs_repo_key(r, "data", &r->index.packs[e->pack].id, key, sizeof(key))) < 0)
        return rc;
    cs_buf_reset(raw);
    rc = cs_storage_get(r->st, key, e->offset, e->enc_len, CS_MAX_BLOB, raw);
    if (rc == -EINVAL)
        rc = -EBADMSG; /* pack shorter than the index says: truncated */
    if (rc < 0)
        return rc;
    return cs_blob_open_dctx(r->keys, type, id, raw->data, raw->len, e->raw_len, tmp, out, dctx, dctx == NULL);
}

/* One index object for packs[0..n). */
static int write_one_index(cs_repo *r, const cs_index_pack_blobs *packs, size_t n)
{
    _cleanup_buf_ cs_buf pt = CS_BUF_INIT;
    cs_id id;
    int rc = cs_index_encode(packs, n, &pt);

    if (rc < 0)
        return rc;
    randombytes_buf(id.b, sizeof(id.b));
    return cs_repo_put_sealed(r, "index", CS_OBJ_INDEX, &id, pt.data, pt.len, CS_PUT_IMMUTABLE);
}

/* Objects of at most CS_INDEX_OBJECT_BLOBS blobs (a pack is never split):
 * the writer holds an object's plaintext, its compressed and its sealed copy
 * at once, and so does every reader; a million small files in one object
 * were ~100 MB of peak memory at the end of a backup. */
int cs_repo_write_index(cs_repo *r, const cs_index_pack_blobs *packs, size_t n)
{
    size_t from = 0;
    int rc = 0, written = 0;

    while (from < n && rc == 0) {
        size_t to = from;
        uint64_t blobs = 0;
        while (to < n && (to == from || blobs + packs[to].n <= CS_INDEX_OBJECT_BLOBS))
            blobs += packs[to++].n;
        rc = write_one_index(r, packs + from, to - from);
        if (rc == 0)
            written++;
        from = to;
    }
    return rc < 0 ? rc : written;
}
