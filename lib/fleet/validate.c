/* SPDX-License-Identifier: MIT */
/* The rules a directory must satisfy before a workstation believes it.
 *
 * A signed directory is still refused as a whole (and the last good cache
 * kept) when any entry would be dangerous on this machine: uid/gid 0 or
 * outside the configured range, a name or id that a local account already
 * has (a fleet "root" or a second uid 1000 would be a takeover), duplicates,
 * or fields that would corrupt passwd(5)-style consumers.
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "basic/dircache.h" /* the hash functions */
#include "fleet/fleet_internal.h"
#include "util/alloc.h"
#include "util/macros.h"
#include "util/strv.h"

typedef struct id_list {
    uint32_t *v;
    size_t n, cap;
} id_list;

struct cs_local_accounts {
    cs_strv user_names, group_names;
    id_list uids, gids;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static int id_add(id_list *l, uint32_t id)
{
    if (CS_GREEDY_REALLOC(l->v, l->cap, l->n + 1) < 0)
        return -ENOMEM;
    l->v[l->n++] = id;
    return 0;
}

/* fget*ent_r() answers ERANGE for a line longer than the buffer (a group of
 * many members) and leaves the stream at that line: grow and read it again.
 * Stopping there instead would leave the accounts after it out of the
 * collision check. */
#define ENT_LINE_MAX (16u << 20)

static int grow_line(char **buf, size_t *n)
{
    char *p;

    if (*n >= ENT_LINE_MAX)
        return -E2BIG;
    if (!(p = realloc(*buf, *n * 2)))
        return -ENOMEM;
    *buf = p;
    *n *= 2;
    return 0;
}

/* One entry of a passwd- or group-style file: 0, or fget*ent_r()'s
 * positive errno (ENOENT at the end, ERANGE for a line longer than buf). */
typedef int (*read_entry_fn)(FILE *f, char *buf, size_t n, const char **name, uint32_t *id);

static int read_passwd(FILE *f, char *buf, size_t n, const char **name, uint32_t *id)
{
    struct passwd pw, *res;
    int r = fgetpwent_r(f, &pw, buf, n, &res);

    if (r == 0) {
        *name = pw.pw_name;
        *id = pw.pw_uid;
    }
    return r;
}

static int read_group(FILE *f, char *buf, size_t n, const char **name, uint32_t *id)
{
    struct group gr, *res;
    int r = fgetgrent_r(f, &gr, buf, n, &res);

    if (r == 0) {
        *name = gr.gr_name;
        *id = gr.gr_gid;
    }
    return r;
}

static int load_entries(const char *path, read_entry_fn read_entry, cs_strv *names, id_list *ids)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    _cleanup_free_ char *buf = NULL;
    size_t n = 16384;
    const char *name;
    uint32_t id;
    int r;

    if (!f)
        return -errno;
    if (!(buf = malloc(n)))
        return -ENOMEM;
    while ((r = read_entry(f, buf, n, &name, &id)) != ENOENT) {
        if (r == ERANGE)
            r = grow_line(&buf, &n);
        else if (r > 0)
            r = -r;
        else if ((r = cs_strv_add(names, name)) == 0)
            r = id_add(ids, id);
        if (r < 0)
            return r;
    }
    return 0;
}

int cs_local_accounts_load(const char *passwd_path, const char *group_path, cs_local_accounts **out)
{
    cs_local_accounts *l = calloc(1, sizeof(*l));
    int r;

    if (!l)
        return -ENOMEM;
    r = load_entries(passwd_path, read_passwd, &l->user_names, &l->uids);
    if (r == 0)
        r = load_entries(group_path, read_group, &l->group_names, &l->gids);
    if (r < 0) {
        cs_local_accounts_free(l);
        return r;
    }
    qsort(l->user_names.v, l->user_names.n, sizeof(char *), cmp_str);
    qsort(l->group_names.v, l->group_names.n, sizeof(char *), cmp_str);
    qsort(l->uids.v, l->uids.n, sizeof(uint32_t), cmp_u32);
    qsort(l->gids.v, l->gids.n, sizeof(uint32_t), cmp_u32);
    *out = l;
    return 0;
}

void cs_local_accounts_free(cs_local_accounts *l)
{
    if (!l)
        return;
    cs_strv_free(&l->user_names);
    cs_strv_free(&l->group_names);
    free(l->uids.v);
    free(l->gids.v);
    free(l);
}

static bool has_name(char **v, size_t n, const char *name)
{
    return v && bsearch(&name, v, n, sizeof(char *), cmp_str) != NULL;
}

static bool has_id(const uint32_t *v, size_t n, uint32_t id)
{
    return v && bsearch(&id, v, n, sizeof(uint32_t), cmp_u32) != NULL;
}

/* ---- field syntax ---- */

/* No ':' (the passwd field separator), no control characters. */
static bool field_valid(const char *s)
{
    for (; *s; s++)
        if (*s == ':' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static bool path_valid(const char *s)
{
    return s[0] == '/' && field_valid(s);
}

static int id_ok(const cs_fleet_policy *p, uint32_t id)
{
    return id != 0 && id != 65535 && id != UINT32_MAX && id >= p->id_min && id <= p->id_max;
}

/* ---- sets for duplicate and reference checks ----
 * Open addressing, load factor <= 1/2: linear in the directory's size (a
 * 100 000-user directory is checked in milliseconds, not by sorting). */

typedef struct name_set {
    const char **slots;
    size_t mask;
} name_set;

typedef struct id_set {
    uint64_t *slots; /* id + 1; 0 = empty */
    size_t mask;
} id_set;

static size_t set_slots(size_t n)
{
    size_t slots = 16;

    while (slots < 2 * n)
        slots <<= 1;
    return slots;
}

static int name_set_init(name_set *s, size_t n)
{
    size_t slots = set_slots(n);

    s->slots = calloc(slots, sizeof(*s->slots));
    s->mask = slots - 1;
    return s->slots ? 0 : -ENOMEM;
}

/* Adds name; false if it was there already. */
static bool name_set_add(name_set *s, const char *name)
{
    for (size_t pos = cs_dc_hash_str(name) & s->mask;; pos = (pos + 1) & s->mask) {
        if (!s->slots[pos]) {
            s->slots[pos] = name;
            return true;
        }
        if (strcmp(s->slots[pos], name) == 0)
            return false;
    }
}

static bool name_set_has(const name_set *s, const char *name)
{
    for (size_t pos = cs_dc_hash_str(name) & s->mask;; pos = (pos + 1) & s->mask) {
        if (!s->slots[pos])
            return false;
        if (strcmp(s->slots[pos], name) == 0)
            return true;
    }
}

static int id_set_init(id_set *s, size_t n)
{
    size_t slots = set_slots(n);

    s->slots = calloc(slots, sizeof(*s->slots));
    s->mask = slots - 1;
    return s->slots ? 0 : -ENOMEM;
}

static bool id_set_add(id_set *s, uint32_t id)
{
    for (size_t pos = cs_dc_hash_id(id) & s->mask;; pos = (pos + 1) & s->mask) {
        if (!s->slots[pos]) {
            s->slots[pos] = (uint64_t)id + 1;
            return true;
        }
        if (s->slots[pos] == (uint64_t)id + 1)
            return false;
    }
}

static bool id_set_has(const id_set *s, uint32_t id)
{
    for (size_t pos = cs_dc_hash_id(id) & s->mask;; pos = (pos + 1) & s->mask) {
        if (!s->slots[pos])
            return false;
        if (s->slots[pos] == (uint64_t)id + 1)
            return true;
    }
}

typedef struct sets {
    name_set users, groups;
    id_set uids, gids;
} sets;

static void sets_free(sets *x)
{
    free(x->users.slots);
    free(x->groups.slots);
    free(x->uids.slots);
    free(x->gids.slots);
}

static int check_duplicates(const cs_directory *d, const cs_fleet_group *groups, size_t n_groups,
                            sets *x, cs_fleet_err *err)
{
    if (name_set_init(&x->users, d->n_users) < 0 || id_set_init(&x->uids, d->n_users) < 0 ||
        name_set_init(&x->groups, n_groups) < 0 || id_set_init(&x->gids, n_groups) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < d->n_users; i++) {
        if (!name_set_add(&x->users, d->users[i].name))
            return cs_fleet_fail(err, "user name '%s' appears twice", d->users[i].name);
        if (!id_set_add(&x->uids, d->users[i].uid))
            return cs_fleet_fail(err, "uid %u is used by two users", d->users[i].uid);
    }
    /* private groups count: a user 'dev' and a group 'dev' would clash */
    for (size_t i = 0; i < n_groups; i++) {
        if (!name_set_add(&x->groups, groups[i].name))
            return cs_fleet_fail(err, "group name '%s' appears twice (or is also a user's private group)",
                                 groups[i].name);
        if (!id_set_add(&x->gids, groups[i].gid))
            return cs_fleet_fail(err, "gid %u is used by two groups", groups[i].gid);
    }
    return 0;
}

static int check_user(const cs_fleet_user *u, const cs_fleet_policy *p, const sets *x, cs_fleet_err *err)
{
    const char *n = u->name;
    const cs_local_accounts *l = p->local;

    if (!cs_user_name_valid(n, CS_USER_NAME_FLEET))
        return cs_fleet_fail(err, "user name '%s' is not valid (lowercase letters, digits, '_', '-', '.'; "
                                  "starting with a letter or '_'; at most 32)", n);
    if (u->uid == 0 || u->gid == 0)
        return cs_fleet_fail(err, "user '%s': uid/gid 0 is never allowed", n);
    if (!id_ok(p, u->uid) || !id_ok(p, u->gid))
        return cs_fleet_fail(err, "user '%s': uid %u / gid %u outside the allowed range %u-%u", n,
                             u->uid, u->gid, p->id_min, p->id_max);
    if (!field_valid(u->gecos) || !path_valid(u->home) || !path_valid(u->shell))
        return cs_fleet_fail(err, "user '%s': gecos, home or shell contains ':' or control characters, "
                                  "or home/shell is not an absolute path", n);
    if (!id_set_has(&x->gids, u->gid))
        return cs_fleet_fail(err, "user '%s': primary gid %u is not a group of the directory", n, u->gid);
    for (size_t i = 0; i < u->n_groups; i++)
        if (!name_set_has(&x->groups, u->groups[i]))
            return cs_fleet_fail(err, "user '%s': group '%s' is not in the directory", n, u->groups[i]);
    if (l && (has_name(l->user_names.v, l->user_names.n, n) || has_id(l->uids.v, l->uids.n, u->uid)))
        return cs_fleet_fail(err, "user '%s' (uid %u) collides with a local account of this machine", n,
                             u->uid);
    return 0;
}

static int check_group(const cs_fleet_group *g, const cs_fleet_policy *p, const sets *x, cs_fleet_err *err)
{
    const cs_local_accounts *l = p->local;

    if (!cs_user_name_valid(g->name, CS_USER_NAME_FLEET))
        return cs_fleet_fail(err, "group name '%s' is not valid", g->name);
    if (g->gid == 0)
        return cs_fleet_fail(err, "group '%s': gid 0 is never allowed", g->name);
    if (!id_ok(p, g->gid))
        return cs_fleet_fail(err, "group '%s': gid %u outside the allowed range %u-%u", g->name, g->gid,
                             p->id_min, p->id_max);
    for (size_t i = 0; i < g->n_members; i++)
        if (!name_set_has(&x->users, g->members[i]))
            return cs_fleet_fail(err, "group '%s': member '%s' is not a user of the directory", g->name,
                                 g->members[i]);
    if (l && (has_name(l->group_names.v, l->group_names.n, g->name) || has_id(l->gids.v, l->gids.n, g->gid)))
        return cs_fleet_fail(err, "group '%s' (gid %u) collides with a local group of this machine",
                             g->name, g->gid);
    return 0;
}

int cs_directory_validate(const cs_directory *d, const cs_fleet_policy *p, cs_fleet_err *err)
{
    _cleanup_free_ cs_fleet_group *groups = NULL;
    sets x;
    size_t n_groups;
    int r;

    if (p->id_min == 0 || p->id_max < p->id_min)
        return cs_fleet_fail(err, "the configured id range %u-%u is invalid", p->id_min, p->id_max);
    r = cs_directory_all_groups(d, &groups, &n_groups);
    if (r < 0)
        return r;
    memset(&x, 0, sizeof(x));
    r = check_duplicates(d, groups, n_groups, &x, err);
    for (size_t i = 0; r == 0 && i < d->n_users; i++)
        r = check_user(&d->users[i], p, &x, err);
    for (size_t i = 0; r == 0 && i < n_groups; i++)
        r = check_group(&groups[i], p, &x, err);
    sets_free(&x);
    return r;
}
