/* SPDX-License-Identifier: MIT */
/* See filecache.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "repo/filecache.h"
#include "util/alloc.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

#define FC_VERSION 2           /* 2 adds a flags byte; version 1 caches are still read */
#define FC_MAX_AGE 10          /* forget a path after 10 backups without it */
#define FC_MAX_BYTES (512u << 20)
#define FC_RECORD 62           /* fixed part of a version 1 entry on disk (+1 in version 2) */
#define FC_NO_XATTRS 0x01      /* the file had no extended attributes at this ctime */

typedef struct fc_entry {
    uint8_t key[16];
    uint64_t ino, size;
    int64_t mtime_s, ctime_s;
    uint32_t mtime_ns, ctime_ns;
    uint16_t age;
    uint8_t seen, flags;
    uint32_t n;
    union {
        cs_id one;     /* n == 1, most files: no allocation of its own */
        cs_id *ids;    /* n > 1 */
    } u;
} fc_entry;

static cs_id *ids_of(fc_entry *e)
{
    return e->n == 1 ? &e->u.one : e->u.ids;
}

struct cs_fcache {
    uint8_t key[32];   /* a copy of the local-cache key, in secure memory with the struct */
    cs_id repo_id;
    char *path;
    fc_entry *v;
    size_t n, cap;
    uint32_t *slots;   /* 1-based entry numbers, 0 = empty */
    bool dirty;        /* something to write back */
    size_t nslots;
};

static void path_key(const cs_fcache *c, const char *path, uint8_t out[16])
{
    crypto_generichash(out, 16, (const uint8_t *)path, strlen(path), c->key, sizeof(c->key));
}

static int rehash(cs_fcache *c, size_t nslots)
{
    uint32_t *s = calloc(nslots, sizeof(*s));

    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t h;
        memcpy(&h, c->v[i].key, 8);
        for (size_t j = h & (nslots - 1);; j = (j + 1) & (nslots - 1))
            if (!s[j]) {
                s[j] = (uint32_t)i + 1;
                break;
            }
    }
    free(c->slots);
    c->slots = s;
    c->nslots = nslots;
    return 0;
}

static fc_entry *find(cs_fcache *c, const uint8_t key[16])
{
    uint64_t h;

    if (!c->nslots)
        return NULL;
    memcpy(&h, key, 8);
    for (size_t j = h & (c->nslots - 1); c->slots[j]; j = (j + 1) & (c->nslots - 1))
        if (memcmp(c->v[c->slots[j] - 1].key, key, 16) == 0)
            return &c->v[c->slots[j] - 1];
    return NULL;
}

static fc_entry *add(cs_fcache *c, const uint8_t key[16])
{
    fc_entry *e;

    if (CS_GREEDY_REALLOC(c->v, c->cap, c->n + 1) < 0)
        return NULL;
    if ((c->n + 1) * 2 > c->nslots && rehash(c, c->nslots ? c->nslots * 2 : 2048) < 0)
        return NULL;
    e = &c->v[c->n++];
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, 16);
    {
        uint64_t h;
        memcpy(&h, key, 8);
        for (size_t j = h & (c->nslots - 1);; j = (j + 1) & (c->nslots - 1))
            if (!c->slots[j]) {
                c->slots[j] = (uint32_t)c->n;
                break;
            }
    }
    return e;
}

int cs_fcache_new_empty(const uint8_t key[32], cs_fcache **out)
{
    cs_fcache *c = cs_secure_alloc(sizeof(*c));

    if (!c)
        return -ENOMEM;
    memset(c, 0, sizeof(*c));
    memcpy(c->key, key, 32);
    *out = c;
    return 0;
}

int cs_fcache_parse(cs_fcache *c, const uint8_t *data, size_t len)
{
    cs_reader rd = cs_rd_init(data, len);
    uint32_t version, count;

    if (cs_get_le32(&rd, &version) < 0 || version < 1 || version > FC_VERSION)
        return -EBADMSG;
    cs_get_le32(&rd, &count);
    if (rd.err || (uint64_t)count * (FC_RECORD + (version >= 2)) > cs_rd_left(&rd))
        return -EBADMSG;
    c->v = calloc(count ? count : 1, sizeof(*c->v));
    if (!c->v)
        return -ENOMEM;
    c->cap = count ? count : 1;
    for (uint32_t i = 0; i < count; i++) {
        fc_entry *e = &c->v[i];
        const uint8_t *p; /* key, ino, size, mtime s+ns, ctime s+ns, age, [flags], n */
        if (cs_get_bytes(&rd, FC_RECORD + (version >= 2), &p) < 0)
            return -EBADMSG;
        memcpy(e->key, p, 16);
        e->ino = cs_load_le64(p + 16);
        e->size = cs_load_le64(p + 24);
        e->mtime_s = (int64_t)cs_load_le64(p + 32);
        e->mtime_ns = cs_load_le32(p + 40);
        e->ctime_s = (int64_t)cs_load_le64(p + 44);
        e->ctime_ns = cs_load_le32(p + 52);
        e->age = cs_load_le16(p + 56);
        e->flags = version >= 2 ? p[58] : 0;
        e->n = cs_load_le32(p + 58 + (version >= 2));
        if ((uint64_t)e->n * CS_ID_LEN > cs_rd_left(&rd))
            return -EBADMSG;
        if (e->n > 1 && !(e->u.ids = malloc((size_t)e->n * CS_ID_LEN))) {
            e->n = 0;
            return -ENOMEM;
        }
        if (e->n)
            cs_get_copy(&rd, ids_of(e), (size_t)e->n * CS_ID_LEN);
        c->n = i + 1;
    }
    if (cs_rd_end(&rd) < 0)
        return -EBADMSG;
    {
        size_t ns = 2048;
        while (ns < c->n * 2)
            ns *= 2;
        return rehash(c, ns);
    }
}

static void clear_entries(cs_fcache *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].n > 1)
            free(c->v[i].u.ids);
    free(c->v);
    free(c->slots);
    c->v = NULL;
    c->slots = NULL;
    c->n = c->cap = c->nslots = 0;
}

int cs_fcache_load(cs_repo *r, const char *cache_dir, cs_fcache **out)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT, pt = CS_BUF_INIT;
    cs_fcache *c;
    char hex[65];
    int rc = cs_fcache_new_empty(r->keys->cache, &c);

    if (rc < 0)
        return rc;
    c->repo_id = r->repo_id;
    cs_id_hex(&r->repo_id, hex);
    if (asprintf(&c->path, "%s/%s/files", cache_dir, hex) < 0) {
        c->path = NULL;
        cs_fcache_free(c);
        return -ENOMEM;
    }
    rc = cs_read_file(c->path, FC_MAX_BYTES, &raw);
    if (rc == 0)
        rc = cs_unseal(c->key, CS_OBJ_CACHE, &c->repo_id, raw.data, raw.len, &pt);
    cs_buf_free(&raw); /* ~100 MB for a million files: not beside the entries too */
    if (rc == 0)
        rc = cs_fcache_parse(c, pt.data, pt.len);
    if (rc < 0) {
        if (rc != -ENOENT)
            log_warning_errno(rc, "ignoring the unreadable file cache %s (%m): every file will be read", c->path);
        clear_entries(c);
    }
    *out = c;
    return 0;
}

static bool same_stat(const fc_entry *e, const struct stat *st)
{
    return e->ino == (uint64_t)st->st_ino && e->size == (uint64_t)st->st_size &&
           e->mtime_s == st->st_mtim.tv_sec && e->mtime_ns == (uint32_t)st->st_mtim.tv_nsec &&
           e->ctime_s == st->st_ctim.tv_sec && e->ctime_ns == (uint32_t)st->st_ctim.tv_nsec;
}

int cs_fcache_lookup(cs_fcache *c, const char *path, const struct stat *st, const cs_id **ids, uint32_t *n,
                     bool *no_xattrs)
{
    uint8_t key[16];
    fc_entry *e;

    path_key(c, path, key);
    e = find(c, key);
    if (!e)
        return 0;
    e->seen = 1;
    if (!same_stat(e, st))
        return 2;
    *ids = ids_of(e); /* valid until the next put */
    *n = e->n;
    *no_xattrs = e->flags & FC_NO_XATTRS;
    return 1;
}

int cs_fcache_put(cs_fcache *c, const char *path, const struct stat *st, const cs_id *ids, uint32_t n,
                  bool no_xattrs)
{
    uint8_t key[16], flags = no_xattrs ? FC_NO_XATTRS : 0;
    fc_entry *e;
    cs_id *copy = NULL, one;

    path_key(c, path, key);
    e = find(c, key);
    if (e && e->n == n && (n == 0 || memcmp(ids_of(e), ids, (size_t)n * CS_ID_LEN) == 0) && same_stat(e, st) &&
        e->flags == flags) {
        e->seen = 1; /* unchanged: nothing to write back for it */
        return 0;
    }
    c->dirty = true;
    /* copied first: ids may be an entry's own, which add() can move */
    if (n == 1)
        one = ids[0];
    else if (n && !(copy = malloc((size_t)n * CS_ID_LEN)))
        return -ENOMEM;
    else if (n)
        memcpy(copy, ids, (size_t)n * CS_ID_LEN);
    if (!e && !(e = add(c, key))) {
        free(copy);
        return -ENOMEM;
    }
    if (e->n > 1)
        free(e->u.ids);
    e->n = n;
    if (n == 1)
        e->u.one = one;
    else
        e->u.ids = copy;
    e->ino = (uint64_t)st->st_ino;
    e->size = (uint64_t)st->st_size;
    e->mtime_s = st->st_mtim.tv_sec;
    e->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
    e->ctime_s = st->st_ctim.tv_sec;
    e->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
    e->flags = flags;
    e->seen = 1;
    e->age = 0;
    return 0;
}

int cs_fcache_save(cs_fcache *c)
{
    _cleanup_buf_ cs_buf pt = CS_BUF_INIT, ct = CS_BUF_INIT;
    uint32_t count = 0;
    size_t size = 8;
    char *dir, *slash;
    int rc = 0;

    if (!c->path)
        return 0;
    for (size_t i = 0; i < c->n && !c->dirty; i++)
        if (!c->v[i].seen)
            c->dirty = true; /* ages change */
    if (!c->dirty)
        return 0; /* a no-change backup writes no cache */
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].seen || c->v[i].age + 1 <= FC_MAX_AGE) {
            count++;
            size += FC_RECORD + 1 + (size_t)c->v[i].n * CS_ID_LEN;
        }
    /* exactly: a doubling buffer would hold up to twice the image */
    rc |= cs_buf_reserve(&pt, size) | cs_put_le32(&pt, FC_VERSION) | cs_put_le32(&pt, count);
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        const fc_entry *e = &c->v[i];
        if (!(e->seen || e->age + 1 <= FC_MAX_AGE))
            continue;
        rc |= cs_buf_append(&pt, e->key, 16) | cs_put_le64(&pt, e->ino) | cs_put_le64(&pt, e->size);
        rc |= cs_put_le64(&pt, (uint64_t)e->mtime_s) | cs_put_le32(&pt, e->mtime_ns);
        rc |= cs_put_le64(&pt, (uint64_t)e->ctime_s) | cs_put_le32(&pt, e->ctime_ns);
        rc |= cs_put_le16(&pt, e->seen ? 0 : (uint16_t)(e->age + 1)) | cs_put_u8(&pt, e->flags);
        rc |= cs_put_le32(&pt, e->n);
        if (e->n)
            rc |= cs_buf_append(&pt, ids_of((fc_entry *)e), (size_t)e->n * CS_ID_LEN);
    }
    if (rc)
        return -ENOMEM;
    clear_entries(c); /* the image holds them now; the sealed copy needs the room */
    rc = cs_seal(c->key, CS_OBJ_CACHE, &c->repo_id, pt.data, pt.len, &ct);
    if (rc < 0)
        return rc;
    dir = strdup(c->path);
    if (!dir)
        return -ENOMEM;
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    rc = cs_mkdir_p(dir, 0700);
    free(dir);
    if (rc == 0)
        rc = cs_write_file_atomic(c->path, ct.data, ct.len, 0600);
    return rc;
}

void cs_fcache_free(cs_fcache *c)
{
    if (!c)
        return;
    clear_entries(c);
    free(c->path);
    cs_secure_free(c);
}
