/* SPDX-License-Identifier: MIT */
/* The cache compiler: a validated directory -> the mmap-able file the NSS
 * module reads (layout in lib/basic/dircache.h and docs/directory.md).
 *
 * The image is built in memory, checked with the very reader the NSS module
 * uses (every record found again by name and by id), then written to a
 * temporary file, fsynced and renamed over the old cache, so a process that
 * has the old file mapped keeps a consistent view and a crash leaves either
 * the old or the new cache.
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "basic/dircache.h"
#include "util/fileio.h"
#include "util/macros.h"

typedef struct table {
    uint32_t *slots;
    uint32_t mask;
} table;

static int table_new(table *t, size_t n)
{
    size_t slots = 1;

    while (slots < 2 * n) /* load factor <= 1/2: short probes */
        slots <<= 1;
    t->slots = calloc(slots, sizeof(uint32_t));
    t->mask = (uint32_t)(slots - 1);
    return t->slots ? 0 : -ENOMEM;
}

static void table_put(table *t, uint32_t hash, uint32_t index)
{
    uint32_t pos = hash & t->mask;

    while (t->slots[pos])
        pos = (pos + 1) & t->mask;
    t->slots[pos] = index + 1;
}

/* Index of name among names[] through t, or -1. */
static long table_find_name(const table *t, char *const *names, size_t stride, const char *name)
{
    for (uint32_t pos = cs_dc_hash_str(name) & t->mask, i = 0; i <= t->mask; i++, pos = (pos + 1) & t->mask) {
        uint32_t v = t->slots[pos];

        if (!v)
            return -1;
        if (strcmp(*(char *const *)((const char *)names + (v - 1) * stride), name) == 0)
            return (long)(v - 1);
    }
    return -1;
}

typedef struct pair {
    uint32_t user, group;
} pair;

static int cmp_by_user(const void *a, const void *b)
{
    const pair *x = a, *y = b;

    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group;
}

static int cmp_by_group(const void *a, const void *b)
{
    const pair *x = a, *y = b;

    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->user < y->user ? -1 : x->user > y->user;
}

/* Memberships come from users' "groups" and groups' "members": the union,
 * without duplicates. */
static int collect_pairs(const cs_directory *d, const table *users_by_name, const table *groups_by_name,
                         pair **out, size_t *n_out)
{
    size_t n = 0, cap = 0;
    pair *p = NULL;

    for (size_t i = 0; i < d->n_users; i++)
        cap += d->users[i].n_groups;
    for (size_t i = 0; i < d->n_groups; i++)
        cap += d->groups[i].n_members;
    p = calloc(cap + 1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    for (size_t i = 0; d->n_groups && i < d->n_users; i++)
        for (size_t j = 0; j < d->users[i].n_groups; j++) {
            long g = table_find_name(groups_by_name, &d->groups[0].name, sizeof(cs_fleet_group),
                                     d->users[i].groups[j]);
            if (g >= 0)
                p[n++] = (pair){ (uint32_t)i, (uint32_t)g };
        }
    for (size_t i = 0; d->n_users && i < d->n_groups; i++)
        for (size_t j = 0; j < d->groups[i].n_members; j++) {
            long u = table_find_name(users_by_name, &d->users[0].name, sizeof(cs_fleet_user),
                                     d->groups[i].members[j]);
            if (u >= 0)
                p[n++] = (pair){ (uint32_t)u, (uint32_t)i };
        }
    qsort(p, n, sizeof(*p), cmp_by_user);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || p[i].user != p[w - 1].user || p[i].group != p[w - 1].group)
            p[w++] = p[i];
    *out = p;
    *n_out = w;
    return 0;
}

static int add_string(cs_buf *s, const char *str, uint32_t *off)
{
    size_t n = strlen(str) + 1;

    if (n == 1) {
        *off = 0; /* offset 0 holds the empty string */
        return 0;
    }
    if (s->len + n > UINT32_MAX)
        return -E2BIG;
    *off = (uint32_t)s->len;
    return cs_buf_append(s, str, n);
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

typedef struct parts {
    struct cs_dc_user *users;
    struct cs_dc_group *groups;
    table idx[4];
    cs_buf u32s, strings;
    pair *pairs;
    size_t n_pairs;
} parts;

static void parts_free(parts *p)
{
    free(p->users);
    free(p->groups);
    for (int i = 0; i < 4; i++)
        free(p->idx[i].slots);
    cs_buf_free(&p->u32s);
    cs_buf_free(&p->strings);
    free(p->pairs);
}

static int build_records(const cs_directory *d, parts *p)
{
    uint32_t *user_names = NULL;
    int r = 0;

    p->users = calloc(d->n_users + 1, sizeof(*p->users));
    p->groups = calloc(d->n_groups + 1, sizeof(*p->groups));
    user_names = calloc(d->n_users + 1, sizeof(uint32_t));
    if (!p->users || !p->groups || !user_names) {
        free(user_names);
        return -ENOMEM;
    }
    r = cs_buf_append(&p->strings, "", 1);
    for (size_t i = 0; r == 0 && i < d->n_users; i++) {
        const cs_fleet_user *u = &d->users[i];
        struct cs_dc_user *o = &p->users[i];

        o->uid = u->uid;
        o->gid = u->gid;
        r = add_string(&p->strings, u->name, &o->name);
        if (r == 0) r = add_string(&p->strings, u->gecos ? u->gecos : "", &o->gecos);
        if (r == 0) r = add_string(&p->strings, u->home ? u->home : "/", &o->home);
        if (r == 0) r = add_string(&p->strings, u->shell ? u->shell : "/bin/sh", &o->shell);
        o->flags = (u->disabled ? CS_DC_USER_DISABLED : 0) | (u->has_key ? CS_DC_USER_HAS_KEY : 0);
        if (u->has_key)
            memcpy(o->pubkey, u->key, 32);
        user_names[i] = o->name;
    }
    for (size_t i = 0; r == 0 && i < d->n_groups; i++) {
        p->groups[i].gid = d->groups[i].gid;
        r = add_string(&p->strings, d->groups[i].name, &p->groups[i].name);
    }
    /* supplementary gids per user: pairs are sorted by user */
    for (size_t i = 0, k = 0; r == 0 && i < d->n_users; i++) {
        p->users[i].gids = (uint32_t)(p->u32s.len / 4);
        for (; r == 0 && k < p->n_pairs && p->pairs[k].user == i; k++) {
            r = cs_buf_append(&p->u32s, &d->groups[p->pairs[k].group].gid, 4);
            p->users[i].n_gids++;
        }
        if (p->users[i].n_gids > CS_DC_MAX_GIDS)
            r = -E2BIG;
    }
    /* the directory's keybag floor per user */
    for (size_t i = 0; r == 0 && i < d->n_users; i++) {
        const cs_fleet_user *u = &d->users[i];
        uint32_t gen[2] = { (uint32_t)u->keybag_generation, (uint32_t)(u->keybag_generation >> 32) };

        if (!u->keybag_generation)
            continue;
        p->users[i].flags |= CS_DC_USER_HAS_KEYBAG;
        p->users[i].keybag = (uint32_t)(p->u32s.len / 4);
        r = cs_buf_append(&p->u32s, gen, sizeof(gen));
        if (r == 0)
            r = cs_buf_append(&p->u32s, u->keybag_sha256, sizeof(u->keybag_sha256));
    }
    /* member names per group */
    qsort(p->pairs, p->n_pairs, sizeof(pair), cmp_by_group);
    for (size_t i = 0, k = 0; r == 0 && i < d->n_groups; i++) {
        p->groups[i].members = (uint32_t)(p->u32s.len / 4);
        for (; r == 0 && k < p->n_pairs && p->pairs[k].group == i; k++) {
            r = cs_buf_append(&p->u32s, &user_names[p->pairs[k].user], 4);
            p->groups[i].n_members++;
        }
    }
    free(user_names);
    return r;
}

static int build_indexes(const cs_directory *d, parts *p)
{
    int r = 0;

    for (int i = 0; r == 0 && i < 4; i++)
        r = table_new(&p->idx[i], i < 2 ? d->n_users : d->n_groups);
    if (r < 0)
        return r;
    for (size_t i = 0; i < d->n_users; i++) {
        table_put(&p->idx[0], cs_dc_hash_str(d->users[i].name), (uint32_t)i);
        table_put(&p->idx[1], cs_dc_hash_id(d->users[i].uid), (uint32_t)i);
    }
    for (size_t i = 0; i < d->n_groups; i++) {
        table_put(&p->idx[2], cs_dc_hash_str(d->groups[i].name), (uint32_t)i);
        table_put(&p->idx[3], cs_dc_hash_id(d->groups[i].gid), (uint32_t)i);
    }
    return 0;
}

static void place(struct cs_dc_section *s, size_t *at, size_t size)
{
    s->offset = *at;
    s->size = size;
    *at = align8(*at + size);
}

static int assemble(const cs_directory *d, const parts *p, int64_t compiled, cs_buf *out)
{
    struct cs_dc_header h;
    struct cs_dc_section *idx_sec[4] = { &h.user_by_name, &h.user_by_uid, &h.group_by_name, &h.group_by_gid };
    size_t at = sizeof(h);
    int r;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, CS_DC_MAGIC, CS_DC_MAGIC_LEN);
    h.version = CS_DC_VERSION;
    h.bom = CS_DC_BOM;
    h.serial = d->serial;
    h.issued = d->issued;
    h.expires = d->expires;
    h.compiled = compiled;
    if (d->has_escrow)
        memcpy(h.escrow_pk, d->escrow_pk, sizeof(h.escrow_pk));
    h.n_users = (uint32_t)d->n_users;
    h.n_groups = (uint32_t)d->n_groups;
    place(&h.users, &at, d->n_users * sizeof(struct cs_dc_user));
    place(&h.groups, &at, d->n_groups * sizeof(struct cs_dc_group));
    for (int i = 0; i < 4; i++)
        place(idx_sec[i], &at, ((size_t)p->idx[i].mask + 1) * 4);
    place(&h.u32s, &at, p->u32s.len);
    place(&h.strings, &at, p->strings.len);
    if (at > CS_DC_MAX_FILE)
        return -E2BIG;
    h.file_size = h.strings.offset + h.strings.size;

    r = cs_buf_reserve(out, (size_t)h.file_size);
    if (r < 0)
        return r;
    memset(out->data, 0, (size_t)h.file_size);
    memcpy(out->data + h.users.offset, p->users, h.users.size);
    memcpy(out->data + h.groups.offset, p->groups, h.groups.size);
    for (int i = 0; i < 4; i++)
        memcpy(out->data + idx_sec[i]->offset, p->idx[i].slots, idx_sec[i]->size);
    if (p->u32s.len)
        memcpy(out->data + h.u32s.offset, p->u32s.data, p->u32s.len);
    memcpy(out->data + h.strings.offset, p->strings.data, p->strings.len);
    memcpy(out->data, &h, sizeof(h));
    out->len = (size_t)h.file_size;
    h.checksum = cs_dc_checksum(out->data, out->len);
    memcpy(out->data, &h, sizeof(h));
    return 0;
}

/* Read the image back with the NSS module's reader: every entry must be
 * found by name and by id, as itself. */
static int self_check(const cs_directory *d, const cs_buf *image)
{
    cs_dircache dc;

    if (cs_dircache_parse(image->data, image->len, &dc) < 0)
        return -EBADMSG;
    for (size_t i = 0; i < d->n_users; i++)
        if (cs_dircache_user_by_name(&dc, d->users[i].name) != (int)i ||
            cs_dircache_user_by_uid(&dc, d->users[i].uid) != (int)i)
            return -EBADMSG;
    for (size_t i = 0; i < d->n_groups; i++)
        if (cs_dircache_group_by_name(&dc, d->groups[i].name) != (int)i ||
            cs_dircache_group_by_gid(&dc, d->groups[i].gid) != (int)i)
            return -EBADMSG;
    return 0;
}

int cs_fleet_compile_cache(const cs_directory *dir, int64_t compiled, cs_buf *out)
{
    cs_fleet_group *all = NULL;
    cs_directory view;
    const cs_directory *d = &view;
    parts p;
    int r;

    /* compile a shallow copy whose groups include the users' private groups */
    view = *dir;
    r = cs_directory_all_groups(dir, &all, &view.n_groups);
    if (r < 0)
        return r;
    view.groups = all;
    if (d->n_users >= (1u << 26) || d->n_groups >= (1u << 26)) {
        free(all);
        return -E2BIG;
    }
    memset(&p, 0, sizeof(p));
    r = build_indexes(d, &p);
    if (r == 0)
        r = collect_pairs(d, &p.idx[0], &p.idx[2], &p.pairs, &p.n_pairs);
    if (r == 0)
        r = build_records(d, &p);
    if (r == 0)
        r = assemble(d, &p, compiled, out);
    parts_free(&p);
    if (r == 0)
        r = self_check(d, out);
    free(all);
    return r;
}

int cs_fleet_install_cache(const char *path, const cs_buf *image)
{
    return cs_write_file_atomic(path, image->data, image->len, 0644);
}
