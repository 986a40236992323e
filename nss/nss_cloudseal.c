/* SPDX-License-Identifier: MIT */
/* libnss_cloudseal.so.2: passwd and group from the compiled fleet directory.
 *
 * Loaded by glibc into every process that resolves a name, so: libc only, no
 * network, no logging, no threads, nothing allocated beyond the caller's
 * buffer except one small descriptor per mapping of the cache file.
 *
 * The cache (/var/lib/cloudseal/directory.cache) is replaced by rename(2),
 * never rewritten in place.  Each call stat()s the path; when device, inode,
 * size or mtime differ from the mapped file, the new file is mapped and
 * validated (lib/basic/dircache_reader.c) and becomes current.  Mappings are
 * reference counted so a lookup in one thread, or an enumeration, keeps the
 * file it started with while another thread switches to the new one.
 * A missing, unreadable, foreign-owned or malformed cache gives
 * NSS_STATUS_UNAVAIL: the lookup falls through to the next source.
 */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/dircache.h"
#include "basic/user_name.h"

#define EXPORT __attribute__((visibility("default")))

struct mapping {
    cs_dircache dc;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime; /* ctime: a chmod/chown is noticed too */
    unsigned refs; /* the 'current' pointer holds one; each user holds one */
};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *current; /* guarded by map_lock */
/* The identity of the last file that failed validation (guarded by
 * map_lock), so a broken cache costs one stat per lookup, not a full
 * re-validation. */
static struct mapping rejected;

struct cursor {
    pthread_mutex_t lock;
    struct mapping *m; /* the file being enumerated, held until endXXent */
    uint32_t next;
};

static const char *cache_path(void)
{
#ifdef CS_NSS_TEST_OVERRIDE
    /* Test builds only (mk/fleet.mk): never in the installed module. */
    const char *p = secure_getenv("CLOUDSEAL_NSS_CACHE");

    if (p && *p == '/' && getuid() == geteuid() && getgid() == getegid())
        return p;
#endif
    return CS_DC_DEFAULT_PATH;
}

static int same_file(const struct mapping *m, const struct stat *st)
{
    return m->dev == st->st_dev && m->ino == st->st_ino && m->size == st->st_size &&
           m->mtime.tv_sec == st->st_mtim.tv_sec && m->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           m->ctime.tv_sec == st->st_ctim.tv_sec && m->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Only a file root (or, in test builds, the caller) owns and nobody else
 * can write is trusted. */
static int trusted_owner(const struct stat *st)
{
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return 0;
#ifdef CS_NSS_TEST_OVERRIDE
    if (st->st_uid == getuid())
        return 1;
#endif
    return st->st_uid == 0;
}

static void remember_rejected(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return;
    pthread_mutex_lock(&map_lock);
    rejected.dev = st.st_dev;
    rejected.ino = st.st_ino;
    rejected.size = st.st_size;
    rejected.mtime = st.st_mtim;
    rejected.ctime = st.st_ctim;
    pthread_mutex_unlock(&map_lock);
}

static void release(struct mapping *m)
{
    int last;

    if (!m)
        return;
    pthread_mutex_lock(&map_lock);
    last = --m->refs == 0;
    pthread_mutex_unlock(&map_lock);
    if (last) {
        cs_dircache_unmap(&m->dc);
        free(m);
    }
}

/* fork() while another thread holds one of our locks would leave it locked
 * forever in the child: hold them all across fork (cursor locks first, the
 * order every thread takes them in). */
static struct cursor pw_cursor, gr_cursor;

static void before_fork(void)
{
    pthread_mutex_lock(&pw_cursor.lock);
    pthread_mutex_lock(&gr_cursor.lock);
    pthread_mutex_lock(&map_lock);
}

static void after_fork(void)
{
    pthread_mutex_unlock(&map_lock);
    pthread_mutex_unlock(&gr_cursor.lock);
    pthread_mutex_unlock(&pw_cursor.lock);
}

static void register_fork_handlers(void)
{
    (void)pthread_atfork(before_fork, after_fork, after_fork);
}

/* The current mapping with a reference taken, or NULL when the cache is
 * unusable.  System calls happen outside the lock. */
static struct mapping *acquire(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const char *path = cache_path();
    struct mapping *m, *old = NULL;
    struct stat st;

    pthread_once(&once, register_fork_handlers);
    if (stat(path, &st) < 0)
        return NULL;
    pthread_mutex_lock(&map_lock);
    m = current;
    if (m && same_file(m, &st)) {
        m->refs++;
        pthread_mutex_unlock(&map_lock);
        return m;
    }
    if (rejected.ino && same_file(&rejected, &st)) {
        pthread_mutex_unlock(&map_lock);
        return NULL;
    }
    pthread_mutex_unlock(&map_lock);

    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (cs_dircache_map(path, &m->dc, &st) < 0 || !trusted_owner(&st)) {
        if (m->dc.base)
            cs_dircache_unmap(&m->dc);
        free(m);
        remember_rejected(path);
        return NULL;
    }
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->size = st.st_size;
    m->mtime = st.st_mtim;
    m->ctime = st.st_ctim;
    m->refs = 2;

    pthread_mutex_lock(&map_lock);
    old = current;
    current = m;
    pthread_mutex_unlock(&map_lock);
    release(old);
    return m;
}

static void cursor_end(struct cursor *c);

__attribute__((destructor)) static void unmap_at_exit(void)
{
    cursor_end(&pw_cursor);
    cursor_end(&gr_cursor);
    pthread_mutex_lock(&map_lock);
    struct mapping *m = current;
    current = NULL;
    pthread_mutex_unlock(&map_lock);
    release(m);
}

/* ---- copying into the caller's buffer ---------------------------------- */

typedef struct outbuf {
    char *p;
    size_t left;
} outbuf;

static char *put_str(outbuf *b, const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = b->p;

    if (n > b->left)
        return NULL;
    memcpy(r, s, n);
    b->p += n;
    b->left -= n;
    return r;
}

static enum nss_status fill_passwd(const cs_dircache *dc, int idx, struct passwd *pw, char *buf,
                                   size_t buflen, int *errnop)
{
    const struct cs_dc_user *u = &dc->users[idx];
    outbuf b = { buf, buflen };

    pw->pw_name = put_str(&b, cs_dircache_str(dc, u->name));
    pw->pw_passwd = put_str(&b, "x");
    pw->pw_gecos = put_str(&b, cs_dircache_str(dc, u->gecos));
    pw->pw_dir = put_str(&b, cs_dircache_str(dc, u->home));
    pw->pw_shell = put_str(&b, cs_dircache_str(dc, u->shell));
    if (!pw->pw_name || !pw->pw_passwd || !pw->pw_gecos || !pw->pw_dir || !pw->pw_shell) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    pw->pw_uid = u->uid;
    pw->pw_gid = u->gid;
    return NSS_STATUS_SUCCESS;
}

static enum nss_status fill_group(const cs_dircache *dc, int idx, struct group *gr, char *buf,
                                  size_t buflen, int *errnop)
{
    const struct cs_dc_group *g = &dc->groups[idx];
    size_t pad = (size_t)(-(uintptr_t)buf & (sizeof(char *) - 1));
    size_t ptrs = ((size_t)g->n_members + 1) * sizeof(char *);
    outbuf b;
    char **mem;

    if (buflen < pad || buflen - pad < ptrs)
        goto erange;
    mem = (char **)(void *)(buf + pad);
    b.p = buf + pad + ptrs;
    b.left = buflen - pad - ptrs;
    for (uint32_t i = 0; i < g->n_members; i++) {
        mem[i] = put_str(&b, cs_dircache_str(dc, dc->u32s[g->members + i]));
        if (!mem[i])
            goto erange;
    }
    mem[g->n_members] = NULL;
    gr->gr_name = put_str(&b, cs_dircache_str(dc, g->name));
    gr->gr_passwd = put_str(&b, "x");
    if (!gr->gr_name || !gr->gr_passwd)
        goto erange;
    gr->gr_gid = g->gid;
    gr->gr_mem = mem;
    return NSS_STATUS_SUCCESS;
erange:
    *errnop = ERANGE;
    return NSS_STATUS_TRYAGAIN;
}

/* ---- lookups ------------------------------------------------------------ */

/* Names the fleet directory cannot hold are not looked up at all. */
static int user_by_name(const cs_dircache *dc, const char *name)
{
    return cs_user_name_valid(name, CS_USER_NAME_FLEET) ? cs_dircache_user_by_name(dc, name) : -1;
}

static int group_by_name(const cs_dircache *dc, const char *name)
{
    return cs_user_name_valid(name, CS_USER_NAME_FLEET) ? cs_dircache_group_by_name(dc, name) : -1;
}

#define LOOKUP(find, fill, key, res)                                  \
    do {                                                             \
        struct mapping *m = acquire();                               \
        enum nss_status st;                                          \
        int idx;                                                     \
        if (!m) {                                                    \
            *errnop = ENOENT;                                        \
            return NSS_STATUS_UNAVAIL;                               \
        }                                                            \
        idx = find(&m->dc, key);                                     \
        if (idx < 0) {                                               \
            *errnop = ENOENT;                                        \
            st = NSS_STATUS_NOTFOUND;                                \
        } else {                                                     \
            st = fill(&m->dc, idx, res, buf, buflen, errnop);        \
        }                                                            \
        release(m);                                                  \
        return st;                                                   \
    } while (0)

EXPORT enum nss_status _nss_cloudseal_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                                 size_t buflen, int *errnop)
{
    LOOKUP(user_by_name, fill_passwd, name, pw);
}

EXPORT enum nss_status _nss_cloudseal_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
                                                 size_t buflen, int *errnop)
{
    LOOKUP(cs_dircache_user_by_uid, fill_passwd, (uint32_t)uid, pw);
}

EXPORT enum nss_status _nss_cloudseal_getgrnam_r(const char *name, struct group *gr, char *buf,
                                                 size_t buflen, int *errnop)
{
    LOOKUP(group_by_name, fill_group, name, gr);
}

EXPORT enum nss_status _nss_cloudseal_getgrgid_r(gid_t gid, struct group *gr, char *buf,
                                                 size_t buflen, int *errnop)
{
    LOOKUP(cs_dircache_group_by_gid, fill_group, (uint32_t)gid, gr);
}

/* ---- enumeration: one cursor per database, guarded by its own lock ------ */

static struct cursor pw_cursor = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };
static struct cursor gr_cursor = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

static enum nss_status cursor_set(struct cursor *c)
{
    struct mapping *m = acquire();
    struct mapping *old;

    pthread_mutex_lock(&c->lock);
    old = c->m;
    c->m = m;
    c->next = 0;
    pthread_mutex_unlock(&c->lock);
    release(old);
    return m ? NSS_STATUS_SUCCESS : NSS_STATUS_UNAVAIL;
}

static void cursor_end(struct cursor *c)
{
    struct mapping *old;

    pthread_mutex_lock(&c->lock);
    old = c->m;
    c->m = NULL;
    c->next = 0;
    pthread_mutex_unlock(&c->lock);
    release(old);
}

EXPORT enum nss_status _nss_cloudseal_setpwent(int stayopen)
{
    (void)stayopen;
    return cursor_set(&pw_cursor);
}

EXPORT enum nss_status _nss_cloudseal_endpwent(void)
{
    cursor_end(&pw_cursor);
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_cloudseal_setgrent(int stayopen)
{
    (void)stayopen;
    return cursor_set(&gr_cursor);
}

EXPORT enum nss_status _nss_cloudseal_endgrent(void)
{
    cursor_end(&gr_cursor);
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_cloudseal_getpwent_r(struct passwd *pw, char *buf, size_t buflen,
                                                 int *errnop)
{
    struct cursor *c = &pw_cursor;
    enum nss_status st;

    pthread_mutex_lock(&c->lock);
    if (!c->m)
        c->m = acquire(); /* getpwent without setpwent */
    if (!c->m) {
        st = NSS_STATUS_UNAVAIL;
        *errnop = ENOENT;
    } else if (c->next >= c->m->dc.h->n_users) {
        st = NSS_STATUS_NOTFOUND;
        *errnop = ENOENT;
    } else {
        st = fill_passwd(&c->m->dc, (int)c->next, pw, buf, buflen, errnop);
        if (st == NSS_STATUS_SUCCESS)
            c->next++; /* on ERANGE the caller retries the same entry */
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

EXPORT enum nss_status _nss_cloudseal_getgrent_r(struct group *gr, char *buf, size_t buflen,
                                                 int *errnop)
{
    struct cursor *c = &gr_cursor;
    enum nss_status st;

    pthread_mutex_lock(&c->lock);
    if (!c->m)
        c->m = acquire();
    if (!c->m) {
        st = NSS_STATUS_UNAVAIL;
        *errnop = ENOENT;
    } else if (c->next >= c->m->dc.h->n_groups) {
        st = NSS_STATUS_NOTFOUND;
        *errnop = ENOENT;
    } else {
        st = fill_group(&c->m->dc, (int)c->next, gr, buf, buflen, errnop);
        if (st == NSS_STATUS_SUCCESS)
            c->next++;
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ---- initgroups --------------------------------------------------------- */

/* Append gid to the caller's array unless present; grows it as glibc's
 * contract allows (realloc, bounded by limit when limit > 0).  Returns 0,
 * 1 when the limit is reached, -ENOMEM. */
static int add_gid(gid_t gid, long int *start, long int *size, gid_t **groupsp, long int limit)
{
    for (long int i = 0; i < *start; i++)
        if ((*groupsp)[i] == gid)
            return 0;
    if (*start == *size) {
        long int nsize;
        gid_t *ng;

        if (limit > 0 && *size >= limit)
            return 1;
        nsize = *size > 0 ? 2 * *size : 16;
        if (limit > 0 && nsize > limit)
            nsize = limit;
        ng = realloc(*groupsp, (size_t)nsize * sizeof(gid_t));
        if (!ng)
            return -ENOMEM;
        *groupsp = ng;
        *size = nsize;
    }
    (*groupsp)[(*start)++] = gid;
    return 0;
}

EXPORT enum nss_status _nss_cloudseal_initgroups_dyn(const char *user, gid_t group, long int *start,
                                                     long int *size, gid_t **groupsp,
                                                     long int limit, int *errnop)
{
    struct mapping *m = acquire();
    enum nss_status st = NSS_STATUS_SUCCESS;
    const struct cs_dc_user *u;
    int idx;

    if (!m) {
        *errnop = ENOENT;
        return NSS_STATUS_UNAVAIL;
    }
    idx = user_by_name(&m->dc, user);
    if (idx < 0) {
        release(m);
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    }
    u = &m->dc.users[idx];
    for (uint32_t i = 0; i < u->n_gids; i++) {
        gid_t gid = m->dc.u32s[u->gids + i];
        int r;

        if (gid == group)
            continue;
        r = add_gid(gid, start, size, groupsp, limit);
        if (r == 1)
            break;
        if (r < 0) {
            *errnop = ENOMEM;
            st = NSS_STATUS_TRYAGAIN;
            break;
        }
    }
    release(m);
    return st;
}
