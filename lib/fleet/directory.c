/* SPDX-License-Identifier: MIT */
/* The in-memory fleet directory and its editing operations. */
#include "fleet/fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

int cs_directory_new(cs_directory **out)
{
    cs_directory *d = calloc(1, sizeof(*d));

    if (!d)
        return -ENOMEM;
    d->id_min = 1000000;
    d->id_max = 1999999;
    *out = d;
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void user_clear(cs_fleet_user *u)
{
    free(u->name);
    free(u->gecos);
    free(u->home);
    free(u->shell);
    strv_free(u->groups, u->n_groups);
    memset(u, 0, sizeof(*u));
}

static void group_clear(cs_fleet_group *g)
{
    free(g->name);
    strv_free(g->members, g->n_members);
    memset(g, 0, sizeof(*g));
}

void cs_directory_free(cs_directory *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_users; i++)
        user_clear(&d->users[i]);
    for (size_t i = 0; i < d->n_groups; i++)
        group_clear(&d->groups[i]);
    free(d->users);
    free(d->groups);
    free(d->fleet);
    free(d);
}

cs_fleet_user *cs_directory_find_user(const cs_directory *d, const char *name)
{
    for (size_t i = 0; i < d->n_users; i++)
        if (strcmp(d->users[i].name, name) == 0)
            return &d->users[i];
    return NULL;
}

cs_fleet_group *cs_directory_find_group(const cs_directory *d, const char *name)
{
    for (size_t i = 0; i < d->n_groups; i++)
        if (strcmp(d->groups[i].name, name) == 0)
            return &d->groups[i];
    return NULL;
}

/* Grow an array of elem-sized entries so that one more fits. */
static int grow(void **arr, size_t n, size_t elem)
{
    void *p;

    /* capacity doubles at powers of two: n is the count before adding */
    if (n & (n - 1) && n != 0)
        return 0;
    if (n > SIZE_MAX / 2 / elem)
        return -ENOMEM;
    p = realloc(*arr, (n ? 2 * n : 1) * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    return 0;
}

int cs_directory_add_user(cs_directory *d, const char *name, cs_fleet_user **out)
{
    cs_fleet_user *u;
    int r;

    if (cs_directory_find_user(d, name))
        return -EEXIST;
    r = grow((void **)&d->users, d->n_users, sizeof(*d->users));
    if (r < 0)
        return r;
    u = &d->users[d->n_users];
    memset(u, 0, sizeof(*u));
    u->name = strdup(name);
    if (!u->name)
        return -ENOMEM;
    d->n_users++;
    if (out)
        *out = u;
    return 0;
}

int cs_directory_add_group(cs_directory *d, const char *name, cs_fleet_group **out)
{
    cs_fleet_group *g;
    int r;

    if (cs_directory_find_group(d, name))
        return -EEXIST;
    r = grow((void **)&d->groups, d->n_groups, sizeof(*d->groups));
    if (r < 0)
        return r;
    g = &d->groups[d->n_groups];
    memset(g, 0, sizeof(*g));
    g->name = strdup(name);
    if (!g->name)
        return -ENOMEM;
    d->n_groups++;
    if (out)
        *out = g;
    return 0;
}

int cs_fleet_strv_add(char ***v, size_t *n, const char *s)
{
    char *c;
    int r;

    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return 0;
    r = grow((void **)v, *n, sizeof(char *));
    if (r < 0)
        return r;
    c = strdup(s);
    if (!c)
        return -ENOMEM;
    (*v)[(*n)++] = c;
    return 0;
}

int cs_fleet_strv_remove(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i], s) != 0)
            continue;
        free((*v)[i]);
        memmove(&(*v)[i], &(*v)[i + 1], (*n - i - 1) * sizeof(char *));
        (*n)--;
        return 0;
    }
    return -ENOENT;
}

/* Removing keeps the order of the others (stable diffs of the source). The
 * arrays keep their power-of-two capacity: shrinking n below a power of two
 * and growing again reallocates to the same or larger size. */
int cs_directory_remove_user(cs_directory *d, const char *name)
{
    cs_fleet_user *u = cs_directory_find_user(d, name);
    size_t i;

    if (!u)
        return -ENOENT;
    for (size_t g = 0; g < d->n_groups; g++)
        (void)cs_fleet_strv_remove(&d->groups[g].members, &d->groups[g].n_members, name);
    i = (size_t)(u - d->users);
    user_clear(u);
    memmove(&d->users[i], &d->users[i + 1], (d->n_users - i - 1) * sizeof(*u));
    d->n_users--;
    return 0;
}

int cs_directory_remove_group(cs_directory *d, const char *name)
{
    cs_fleet_group *g = cs_directory_find_group(d, name);
    size_t i;

    if (!g)
        return -ENOENT;
    for (size_t u = 0; u < d->n_users; u++)
        (void)cs_fleet_strv_remove(&d->users[u].groups, &d->users[u].n_groups, name);
    i = (size_t)(g - d->groups);
    group_clear(g);
    memmove(&d->groups[i], &d->groups[i + 1], (d->n_groups - i - 1) * sizeof(*g));
    d->n_groups--;
    return 0;
}

static bool id_used(const cs_directory *d, uint32_t id)
{
    for (size_t i = 0; i < d->n_users; i++)
        if (d->users[i].uid == id || d->users[i].gid == id) /* private groups have gid = uid */
            return true;
    for (size_t i = 0; i < d->n_groups; i++)
        if (d->groups[i].gid == id)
            return true;
    return false;
}

int cs_directory_allocate_id(const cs_directory *d, const char *name, uint32_t *id)
{
    static const uint8_t key[crypto_generichash_KEYBYTES_MIN] = "cloudseal-uid-v1"; /* 16 bytes, no NUL */
    uint64_t range, h = 0;
    uint8_t digest[8];

    if (d->id_min == 0 || d->id_max < d->id_min)
        return -EINVAL;
    range = (uint64_t)d->id_max - d->id_min + 1;
    /* a fixed keyed hash: the same name gets the same id on every admin's
     * machine, so re-creating a directory from scratch is reproducible */
    crypto_generichash(digest, sizeof(digest), (const uint8_t *)name, strlen(name), key, sizeof(key));
    for (int i = 0; i < 8; i++)
        h = (h << 8) | digest[i];
    for (uint64_t probe = 0; probe < range; probe++) {
        uint32_t cand = (uint32_t)(d->id_min + (h + probe) % range);

        if (!id_used(d, cand)) {
            *id = cand;
            return 0;
        }
    }
    return -ENOSPC;
}

int cs_directory_all_groups(const cs_directory *d, cs_fleet_group **out, size_t *n)
{
    size_t count = d->n_groups;
    cs_fleet_group *v;

    for (size_t i = 0; i < d->n_users; i++)
        count += d->users[i].private_group;
    v = calloc(count + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    if (d->n_groups)
        memcpy(v, d->groups, d->n_groups * sizeof(*v));
    count = d->n_groups;
    for (size_t i = 0; i < d->n_users; i++)
        if (d->users[i].private_group) {
            v[count].name = d->users[i].name;
            v[count].gid = d->users[i].uid;
            count++;
        }
    *out = v;
    *n = count;
    return 0;
}

const char *cs_fleet_time_str(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
    return out;
}
