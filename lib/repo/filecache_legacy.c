/* SPDX-License-Identifier: MIT */
/* Versions 1 and 2 of the file-change cache: one sealed image of fixed
 * records keyed by a keyed BLAKE2b of the path, read whole into an
 * open-addressing table.  Only read now (a backup writes version 3, see
 * filecache.c): the first backup after an upgrade still skips the files it
 * knows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "repo/filecache_int.h"
#include "util/alloc.h"
#include "util/bytes.h"

#define FC_RECORD 62 /* fixed part of a version 1 entry on disk (+1 in version 2) */

typedef struct fc_entry {
    uint8_t key[16];
    fc_stat st;
    uint16_t age;
    uint8_t flags;
    uint32_t n;
    union {
        cs_id one;  /* n == 1, most files: no allocation of its own */
        cs_id *ids; /* n > 1 */
    } u;
} fc_entry;

struct fc_table {
    fc_entry *v;
    size_t n, cap;
    uint32_t *slots; /* 1-based entry numbers, 0 = empty */
    size_t nslots;
};

static cs_id *ids_of(fc_entry *e)
{
    return e->n == 1 ? &e->u.one : e->u.ids;
}

static void path_key(const uint8_t key[32], const char *path, uint8_t out[16])
{
    crypto_generichash(out, 16, (const uint8_t *)path, strlen(path), key, 32);
}

static void slot_in(uint32_t *s, size_t nslots, const uint8_t key[16], uint32_t entry)
{
    uint64_t h;

    memcpy(&h, key, 8);
    for (size_t j = h & (nslots - 1);; j = (j + 1) & (nslots - 1))
        if (!s[j]) {
            s[j] = entry;
            return;
        }
}

static int rehash(fc_table *t, size_t nslots)
{
    uint32_t *s = calloc(nslots, sizeof(*s));

    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++)
        slot_in(s, nslots, t->v[i].key, (uint32_t)i + 1);
    free(t->slots);
    t->slots = s;
    t->nslots = nslots;
    return 0;
}

static fc_entry *find(fc_table *t, const uint8_t key[16])
{
    uint64_t h;

    if (!t->nslots)
        return NULL;
    memcpy(&h, key, 8);
    for (size_t j = h & (t->nslots - 1); t->slots[j]; j = (j + 1) & (t->nslots - 1))
        if (memcmp(t->v[t->slots[j] - 1].key, key, 16) == 0)
            return &t->v[t->slots[j] - 1];
    return NULL;
}

static fc_entry *add(fc_table *t, const uint8_t key[16])
{
    fc_entry *e;

    if (CS_GREEDY_REALLOC(t->v, t->cap, t->n + 1) < 0)
        return NULL;
    if ((t->n + 1) * 2 > t->nslots && rehash(t, t->nslots ? t->nslots * 2 : 2048) < 0)
        return NULL;
    e = &t->v[t->n++];
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, 16);
    slot_in(t->slots, t->nslots, key, (uint32_t)t->n);
    return e;
}

int fc_table_new(fc_table **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void fc_table_free(fc_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].n > 1)
            free(t->v[i].u.ids);
    free(t->v);
    free(t->slots);
    free(t);
}

int fc_table_parse(fc_table *t, const uint8_t *data, size_t len)
{
    cs_reader rd = cs_rd_init(data, len);
    uint32_t version, count;
    size_t ns = 2048;

    if (cs_get_le32(&rd, &version) < 0 || version < 1 || version > 2)
        return -EBADMSG;
    cs_get_le32(&rd, &count);
    if (rd.err || (uint64_t)count * (FC_RECORD + (version >= 2)) > cs_rd_left(&rd))
        return -EBADMSG;
    if (!(t->v = calloc(count ? count : 1, sizeof(*t->v))))
        return -ENOMEM;
    t->cap = count ? count : 1;
    for (uint32_t i = 0; i < count; i++) {
        fc_entry *e = &t->v[i];
        const uint8_t *p; /* key, ino, size, mtime s+ns, ctime s+ns, age, [flags], n */
        if (cs_get_bytes(&rd, FC_RECORD + (version >= 2), &p) < 0)
            return -EBADMSG;
        memcpy(e->key, p, 16);
        e->st = (fc_stat){ cs_load_le64(p + 16), cs_load_le64(p + 24), (int64_t)cs_load_le64(p + 32),
                           (int64_t)cs_load_le64(p + 44), cs_load_le32(p + 40), cs_load_le32(p + 52) };
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
        t->n = i + 1;
    }
    if (cs_rd_end(&rd) < 0)
        return -EBADMSG;
    while (ns < t->n * 2)
        ns *= 2;
    return rehash(t, ns);
}

int fc_table_lookup(fc_table *t, const uint8_t key[32], const char *path, const struct stat *st, const cs_id **ids,
                    uint32_t *n, uint8_t *flags)
{
    uint8_t k[16];
    fc_stat s = fc_stat_of(st);
    fc_entry *e;

    path_key(key, path, k);
    if (!(e = find(t, k)))
        return 0;
    if (!fc_stat_eq(&e->st, &s))
        return 2;
    *ids = ids_of(e); /* valid until the next put */
    *n = e->n;
    *flags = e->flags;
    return 1;
}

int fc_table_put(fc_table *t, const uint8_t key[32], const char *path, const struct stat *st, const cs_id *ids,
                 uint32_t n, uint8_t flags)
{
    uint8_t k[16];
    fc_entry *e;
    cs_id *copy = NULL, one;

    path_key(key, path, k);
    e = find(t, k);
    /* copied first: ids may be an entry's own, which add() can move */
    if (n == 1)
        one = ids[0];
    else if (n && !(copy = malloc((size_t)n * CS_ID_LEN)))
        return -ENOMEM;
    else if (n)
        memcpy(copy, ids, (size_t)n * CS_ID_LEN);
    if (!e && !(e = add(t, k))) {
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
    e->st = fc_stat_of(st);
    e->flags = flags;
    e->age = 0;
    return 0;
}
