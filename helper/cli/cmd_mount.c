/* SPDX-License-Identifier: MIT */
/* cloudseal mount: the snapshots as a read-only file system (libfuse3).
 *
 *   MOUNTPOINT/snapshots/<time>/...     one directory per snapshot, local time
 *   MOUNTPOINT/snapshots/latest         symlink to the newest
 *   MOUNTPOINT/hosts/<host>/<time>/...  and hosts/<host>/latest
 *   MOUNTPOINT/tags/<tag>/<time>/...    and tags/<tag>/latest
 *   MOUNTPOINT/ids/<short id>/...
 *
 * Paths are resolved on every call through lib/repo/browse.h's bounded
 * caches (trees on demand, blobs for the range read).  One thread serves
 * the kernel: the repository object is not thread-safe, and the blob cache
 * makes the kernel's read-ahead cost one decryption per blob.  The list of
 * snapshots (and the index) is re-read when a top-level directory is
 * listed or a snapshot name is not found, at most once per
 * --refresh-interval.  The mount holds a shared repository lock (backup
 * and forget go on; prune waits for the unmount). */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "repo/browse.h"
#include "unlock_common.h"
#include "util/log.h"
#include "util/parse.h"

#define NAME_LEN 48
#define VIRTUAL_INO (1ull << 63)
#define MOUNT_REFRESH_MAX 86400 /* a day: longer is no refresh at all */

typedef struct msnap {
    cs_snapshot s;
    char name[NAME_LEN]; /* local time, "-<short id>" added on a collision */
    char id8[9];
} msnap;

static struct {
    repo_cli rc;
    cs_browse *b;
    msnap *v;
    size_t n;
    double refresh_interval, refreshed;
    struct timespec started;
} m;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void name_snapshots(msnap *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        time_t t = (time_t)v[i].s.time_sec;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(v[i].name, sizeof(v[i].name), "%Y-%m-%dT%H:%M:%S", &tm);
        cs_id_hex(&v[i].s.id, hex);
        memcpy(v[i].id8, hex, 8);
        v[i].id8[8] = '\0';
        if (i && strncmp(v[i].name, v[i - 1].name, 19) == 0) {
            size_t l = strlen(v[i].name);
            snprintf(v[i].name + l, sizeof(v[i].name) - l, "-%s", v[i].id8);
        }
    }
}

/* Re-read the index and the snapshot list (force, or once per interval). */
static int refresh(bool force)
{
    cs_snapshot *list = NULL;
    msnap *v;
    size_t n = 0;
    int rc;

    if (!force && now() - m.refreshed < m.refresh_interval)
        return 0;
    m.refreshed = now();
    if (m.v && (rc = cs_browse_refresh(m.b)) < 0)
        return log_error_errno(rc, "cannot re-read the repository index");
    if ((rc = cs_snapshot_list(m.rc.repo, &list, &n, NULL)) < 0)
        return log_error_errno(rc, "cannot list the snapshots");
    repo_cli_filter_list(list, &n);
    if (!(v = calloc(n ? n : 1, sizeof(*v)))) {
        cs_snapshots_free(list, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v[i].s = list[i];
    free(list);
    name_snapshots(v, n);
    for (size_t i = 0; i < m.n; i++)
        cs_snapshot_clear(&m.v[i].s);
    free(m.v);
    m.v = v;
    m.n = n;
    return 0;
}

/* ---- resolving a path ---- */
enum { GROUP_ALL, GROUP_HOST, GROUP_TAG };
enum { R_DIR, R_LINK, R_NODE };
typedef struct res {
    int kind;
    const char *target;  /* R_LINK */
    const msnap *snap;   /* R_NODE, and R_DIR when the snapshot's root */
    const cs_node *node; /* R_NODE (NULL: the snapshot's root) */
    cs_bref *ref;
    int list;            /* R_DIR: what its listing is */
    int group;
    char key[256];       /* host or tag of the group */
} res;
enum { L_TOP, L_GROUP, L_HOSTS, L_TAGS, L_IDS, L_TREE };

static bool in_group(const msnap *s, int group, const char *key)
{
    if (group == GROUP_HOST)
        return s->s.host && strcmp(s->s.host, key) == 0;
    if (group == GROUP_TAG)
        for (size_t i = 0; i < s->s.ntags; i++)
            if (strcmp(s->s.tags[i], key) == 0)
                return true;
    return group == GROUP_ALL;
}

static const msnap *latest(int group, const char *key)
{
    for (size_t i = m.n; i-- > 0;)
        if (in_group(&m.v[i], group, key))
            return &m.v[i];
    return NULL;
}

static const msnap *by_name(int group, const char *key, const char *name, size_t len, bool ids)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < m.n; i++) {
            const char *have = ids ? m.v[i].id8 : m.v[i].name;
            if (in_group(&m.v[i], group, key) && strlen(have) == len && memcmp(have, name, len) == 0)
                return &m.v[i];
        }
        if (pass == 0 && refresh(false) < 0)
            break;
    }
    return NULL;
}

static bool group_exists(int group, const char *key)
{
    return latest(group, key) || (refresh(false) == 0 && latest(group, key));
}

static size_t comp(const char **p)
{
    while (**p == '/')
        (*p)++;
    return strcspn(*p, "/");
}

static bool is(const char *p, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(p, word, len) == 0;
}

static int resolve(const char *path, res *r)
{
    const char *p = path;
    size_t len = comp(&p);
    const msnap *s;
    bool ids = false;

    memset(r, 0, sizeof(*r));
    r->kind = R_DIR;
    if (len == 0)
        return r->list = L_TOP, 0;
    if (is(p, len, "snapshots")) {
        r->group = GROUP_ALL;
    } else if (is(p, len, "hosts") || is(p, len, "tags")) {
        bool hosts = p[0] == 'h';
        p += len;
        if ((len = comp(&p)) == 0)
            return r->list = hosts ? L_HOSTS : L_TAGS, 0;
        if (len >= sizeof(r->key))
            return -ENOENT;
        memcpy(r->key, p, len);
        r->group = hosts ? GROUP_HOST : GROUP_TAG;
        if (!group_exists(r->group, r->key))
            return -ENOENT;
    } else if (is(p, len, "ids")) {
        ids = true;
    } else {
        return -ENOENT;
    }
    p += len;
    if ((len = comp(&p)) == 0)
        return r->list = ids ? L_IDS : L_GROUP, 0;
    if (!ids && is(p, len, "latest")) {
        if (!(s = latest(r->group, r->key)) || (p += len, comp(&p)) != 0)
            return -ENOENT;
        r->kind = R_LINK;
        r->target = s->name;
        return 0;
    }
    if (!(s = by_name(ids ? GROUP_ALL : r->group, r->key, p, len, ids)))
        return -ENOENT;
    r->snap = s;
    p += len;
    if (comp(&p) == 0)
        return r->list = L_TREE, 0;
    r->kind = R_NODE;
    return cs_browse_lookup(m.b, &s->s.tree, p, &r->ref, &r->node);
}

static int fuse_err(int rc)
{
    /* damaged or missing data is an I/O error to programs reading the mount */
    return rc == -EBADMSG || rc == -ENOENT ? -EIO : rc;
}

/* ---- operations ---- */
static uint64_t path_ino(const char *path)
{
    uint64_t h = 1469598103934665603ull;

    for (const char *c = path; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    return h | VIRTUAL_INO;
}

static void node_stat(const msnap *s, const cs_node *n, struct stat *st)
{
    /* the recorded inode (hardlinks share it) in bits 0-39, 23 bits of the
     * snapshot id above: stable across refreshes, apart between snapshots,
     * bit 63 (VIRTUAL_INO) clear */
    const uint8_t *id = s->s.id.b;
    uint64_t snap_bits = (uint64_t)id[0] | (uint64_t)id[1] << 8 | (uint64_t)(id[2] & 0x7f) << 16;
    st->st_ino = (snap_bits << 40) ^ (n->inode & ((1ull << 40) - 1));
    st->st_mode = cs_node_st_mode(n);
    st->st_nlink = n->nlink ? n->nlink : 1;
    st->st_uid = n->uid;
    st->st_gid = n->gid;
    st->st_rdev = (dev_t)n->rdev;
    st->st_size = n->type == CS_NODE_FILE ? (off_t)n->size : n->type == CS_NODE_SYMLINK ? n->link_len : 0;
    st->st_blocks = (st->st_size + 511) / 512;
    st->st_mtim = (struct timespec){ n->mtime_s, n->mtime_ns };
    st->st_atim = st->st_mtim;
    st->st_ctim = (struct timespec){ n->ctime_s, n->ctime_ns };
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    res r;
    int rc = resolve(path, &r);

    if (rc < 0)
        return rc == -ENOENT || rc == -ENOTDIR ? rc : fuse_err(rc);
    memset(st, 0, sizeof(*st));
    if (r.kind == R_NODE) {
        node_stat(r.snap, r.node, st);
        cs_browse_put(m.b, r.ref);
        return 0;
    }
    st->st_ino = path_ino(path);
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mtim = st->st_ctim = st->st_atim = m.started;
    if (r.snap)
        st->st_mtim = st->st_ctim = st->st_atim = (struct timespec){ r.snap->s.time_sec, r.snap->s.time_ns };
    st->st_mode = r.kind == R_LINK ? S_IFLNK | 0777 : S_IFDIR | 0555;
    st->st_nlink = r.kind == R_LINK ? 1 : 2;
    st->st_size = r.kind == R_LINK ? (off_t)strlen(r.target) : 0;
    return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
    res r;
    int rc = resolve(path, &r);
    const char *t;

    if (rc < 0)
        return fuse_err(rc);
    if (r.kind == R_LINK)
        t = r.target;
    else if (r.kind == R_NODE && r.node->type == CS_NODE_SYMLINK)
        t = r.node->link;
    else
        rc = -EINVAL;
    if (rc == 0 && size > 0)
        snprintf(buf, size, "%s", t);
    cs_browse_put(m.b, r.ref);
    return rc;
}

/* A snapshot directory's entries with their attributes: find and ls
 * then need no lookup per entry (the kernel's readdirplus). */
static int fill_tree(const msnap *snap, const cs_id *id, void *buf, fuse_fill_dir_t fill)
{
    const cs_tree *t;
    cs_bref *ref;
    int rc = cs_browse_tree(m.b, id, &ref, &t);

    if (rc < 0)
        return fuse_err(rc);
    for (size_t i = 0; i < t->n; i++) {
        struct stat st = { 0 };
        node_stat(snap, &t->nodes[i], &st);
        if (fill(buf, t->nodes[i].name, &st, 0, FUSE_FILL_DIR_PLUS))
            break;
    }
    cs_browse_put(m.b, ref);
    return 0;
}

/* Each distinct host or tag once. */
static void fill_keys(bool tags, void *buf, fuse_fill_dir_t fill)
{
    for (size_t i = 0; i < m.n; i++) {
        size_t nk = tags ? m.v[i].s.ntags : m.v[i].s.host != NULL;
        for (size_t k = 0; k < nk; k++) {
            const char *key = tags ? m.v[i].s.tags[k] : m.v[i].s.host;
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = in_group(&m.v[j], tags ? GROUP_TAG : GROUP_HOST, key);
            if (!seen && key[0] && !strchr(key, '/'))
                fill(buf, key, NULL, 0, 0);
        }
    }
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    res r;
    int rc;

    if ((rc = resolve(path, &r)) < 0)
        return fuse_err(rc);
    if (r.kind == R_NODE && r.node->type != CS_NODE_DIR)
        rc = -ENOTDIR;
    else if (r.kind == R_LINK)
        rc = -ENOTDIR;
    if (rc < 0)
        goto out;
    /* a new snapshot shows up where people look for it; only there, as a
     * refresh frees the list r.snap points into */
    if (r.kind == R_DIR && !r.snap && (r.list == L_TOP || r.list == L_GROUP || r.list == L_IDS))
        refresh(false);
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    if (r.kind == R_NODE) {
        rc = fill_tree(r.snap, &r.node->subtree, buf, fill);
    } else if (r.list == L_TREE) {
        rc = fill_tree(r.snap, &r.snap->s.tree, buf, fill);
    } else if (r.list == L_TOP) {
        static const char *const top[] = { "hosts", "ids", "snapshots", "tags" };
        for (size_t i = 0; i < 4; i++)
            fill(buf, top[i], NULL, 0, 0);
    } else if (r.list == L_HOSTS || r.list == L_TAGS) {
        fill_keys(r.list == L_TAGS, buf, fill);
    } else {
        for (size_t i = 0; i < m.n; i++)
            if (r.list == L_IDS || in_group(&m.v[i], r.group, r.key))
                fill(buf, r.list == L_IDS ? m.v[i].id8 : m.v[i].name, NULL, 0, 0);
        if (r.list == L_GROUP && latest(r.group, r.key))
            fill(buf, "latest", NULL, 0, 0);
    }
out:
    cs_browse_put(m.b, r.ref);
    return rc;
}

/* An open file: its chunks, and whether holes are worth looking for. */
typedef struct mfile {
    cs_bfile f;
    bool sparse;
    struct mfile *prev, *next; /* open_files: an unmount under load sends no release */
} mfile;
static mfile *open_files;

static void file_free(mfile *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        open_files = f->next;
    if (f->next)
        f->next->prev = f->prev;
    cs_bfile_close(&f->f);
    free(f);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
    mfile *f;
    res r;
    int rc;

    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    if ((rc = resolve(path, &r)) < 0)
        return fuse_err(rc);
    if (r.kind != R_NODE || r.node->type != CS_NODE_FILE) {
        cs_browse_put(m.b, r.ref);
        return -EISDIR;
    }
    if (!(f = calloc(1, sizeof(*f)))) {
        rc = -ENOMEM;
    } else if ((rc = cs_bfile_open(m.b, r.node, &f->f)) < 0) {
        log_error_errno(rc, "%s: the file's data is not in the repository's index", path);
        free(f);
        rc = -EIO;
    } else {
        f->sparse = r.node->flags & CS_NODE_SPARSE;
        f->next = open_files;
        if (open_files)
            open_files->prev = f;
        open_files = f;
        fi->fh = (uint64_t)(uintptr_t)f;
        fi->keep_cache = 1; /* snapshots never change: the page cache stays valid */
    }
    cs_browse_put(m.b, r.ref);
    return rc;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    const mfile *f = (const mfile *)(uintptr_t)fi->fh;
    ssize_t got = cs_bfile_read(m.b, &f->f, buf, size, (uint64_t)off);

    if (got < 0) {
        log_error_errno((int)got, "%s: cannot read at offset %lld", path, (long long)off);
        return -EIO;
    }
    return (int)got;
}

static off_t op_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
    const mfile *f = (const mfile *)(uintptr_t)fi->fh;
    int64_t r;

    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL; /* the kernel handles the others */
    if (off < 0)
        return -ENXIO;
    r = cs_bfile_seek(m.b, &f->f, f->sparse, (uint64_t)off, whence == SEEK_DATA);
    return r == -ENXIO || r >= 0 ? (off_t)r : -EIO;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
    file_free((mfile *)(uintptr_t)fi->fh);
    return 0;
}

static int op_listxattr(const char *path, char *list, size_t size)
{
    size_t need = 0;
    res r;
    int rc = resolve(path, &r);

    if (rc < 0)
        return fuse_err(rc);
    for (uint16_t i = 0; r.kind == R_NODE && i < r.node->nxattrs; i++) {
        size_t l = strlen(r.node->xattrs[i].name) + 1;
        if (size && need + l <= size)
            memcpy(list + need, r.node->xattrs[i].name, l);
        need += l;
    }
    cs_browse_put(m.b, r.ref);
    return size && need > size ? -ERANGE : (int)need;
}

static int op_getxattr(const char *path, const char *name, char *value, size_t size)
{
    res r;
    int rc = resolve(path, &r);

    if (rc < 0)
        return fuse_err(rc);
    rc = -ENODATA;
    for (uint16_t i = 0; r.kind == R_NODE && i < r.node->nxattrs; i++) {
        const cs_xattr *x = &r.node->xattrs[i];
        if (strcmp(x->name, name) != 0)
            continue;
        if (size && x->len > size)
            rc = -ERANGE;
        else {
            if (size)
                memcpy(value, x->value, x->len);
            rc = (int)x->len;
        }
        break;
    }
    cs_browse_put(m.b, r.ref);
    return rc;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    cfg->use_ino = 1;       /* hardlinks share the recorded inode number */
    cfg->kernel_cache = 1;  /* file contents never change */
    cfg->entry_timeout = cfg->attr_timeout = 10;
    cfg->negative_timeout = 0; /* a new snapshot's name must be found at once */
    return NULL;
}

static const struct fuse_operations ops = {
    .init = op_init,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .readdir = op_readdir,
    .open = op_open,
    .read = op_read,
    .release = op_release,
    .lseek = op_lseek,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
};

/* SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by one
 * that unmounts: libfuse's own handlers only set a flag, which the loop
 * sees when its read of /dev/fuse is interrupted, and a signal that lands
 * in another thread (the lock refresher) interrupts nothing.  A lazy
 * unmount ends the loop's read whatever it is doing, as fusermount3 -u
 * from outside does. */
static sigset_t stop_signals;

static int block_stop_signals(void)
{
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    return -pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
}

typedef struct stopper {
    struct fuse_session *se;
    const char *mountpoint; /* absolute */
    atomic_bool done;       /* the loop has ended: a signal now only ends the thread */
} stopper;

static void *stop_thread(void *ud)
{
    const stopper *st = ud;
    int sig;
    pid_t pid;

    if (sigwait(&stop_signals, &sig) != 0 || atomic_load(&st->done))
        return NULL;
    log_info("%s: unmounting %s", strsignal(sig), st->mountpoint);
    fuse_session_exit(st->se);
    pid = fork();
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", "-z", st->mountpoint, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &sig, 0) < 0 || !WIFEXITED(sig) || WEXITSTATUS(sig) != 0)
        log_error("cannot unmount %s: run 'fusermount3 -u -z %s'", st->mountpoint, st->mountpoint);
    return NULL;
}

static int loop(struct fuse *f, const char *mountpoint)
{
    stopper st = { fuse_get_session(f), mountpoint, false };
    pthread_t t;
    int rc;

    if ((rc = -pthread_create(&t, NULL, stop_thread, &st)) < 0)
        return log_error_errno(rc, "cannot start the thread that unmounts on SIGINT/SIGTERM");
    log_info("%zu snapshots mounted on %s; unmount with 'fusermount3 -u %s' or Ctrl-C", m.n, mountpoint,
             mountpoint);
    rc = fuse_loop(f) < 0 ? -EIO : 0;
    /* end the thread through its sigwait (not pthread_cancel, whose
     * unwinding ASan's thread teardown trips over) */
    atomic_store(&st.done, true);
    pthread_kill(t, SIGHUP);
    pthread_join(t, NULL);
    return rc;
}

static int serve(const char *mountpoint, bool allow_other)
{
    char *argv[] = { "cloudseal", "-o", allow_other ? "ro,default_permissions,fsname=cloudseal,subtype=cloudseal,allow_other"
                                                    : "ro,default_permissions,fsname=cloudseal,subtype=cloudseal",
                     NULL };
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse *f = fuse_new(&args, &ops, sizeof(ops), NULL);
    int rc = -EIO;

    fuse_opt_free_args(&args); /* fuse_new copied what it parsed (and may have added to args) */
    if (!f) {
        log_error("cannot set up the FUSE file system (is the fuse3 package installed?)");
        return rc;
    }
    if (fuse_mount(f, mountpoint) != 0) {
        log_error("cannot mount on %s: it must be an empty directory you own, and /dev/fuse and "
                  "fusermount3 (package fuse3) must be there", mountpoint);
    } else {
        rc = loop(f, mountpoint);
        fuse_unmount(f);
    }
    fuse_destroy(f);
    return rc;
}

int cmd_mount(int argc, char **argv)
{
    static const struct option opts[] = {
        { "refresh-interval", required_argument, NULL, 'r' }, { "allow-other", no_argument, NULL, 'a' },
        REPO_CLI_FILTER_OPTIONS, {}
    };
    bool allow_other = false;
    char mountpoint[PATH_MAX];
    int o, r;

    m.refresh_interval = 5;
    while ((o = repo_cli_getopt(argc, argv, "", opts)) != -1) {
        switch (o) {
        case 'r':
            if (cs_parse_double(optarg, 0, MOUNT_REFRESH_MAX, &m.refresh_interval) < 0) {
                log_error("--refresh-interval wants seconds, 0 to %d (like 5 or 0.5), not '%s'",
                          MOUNT_REFRESH_MAX, optarg);
                return CLI_USAGE;
            }
            break;
        case 'a': allow_other = true; break;
        default: return cli_opt_exit(o);
        }
    }
    if ((r = repo_cli_open(&m.rc)) != CLI_OK)
        return r;
    clock_gettime(CLOCK_REALTIME, &m.started);
    if (!realpath(argv[optind], mountpoint)) {
        log_error("cannot mount on %s: %s; give an existing empty directory", argv[optind], strerror(errno));
        repo_cli_close(&m.rc);
        return CLI_USAGE;
    }
    /* before the lock's refresh thread exists, so that it inherits the mask */
    r = block_stop_signals();
    /* a shared lock: backups and forget go on while mounted; prune, which
     * deletes packs under the readers, waits for the unmount */
    if (r == 0)
        r = cs_repo_lock(m.rc.repo, false);
    if (r == 0)
        r = cs_browse_new(m.rc.repo, 0, 0, &m.b);
    if (r == 0)
        r = refresh(true);
    if (r == 0)
        r = serve(mountpoint, allow_other);
    cs_repo_unlock(m.rc.repo);
    while (open_files)
        file_free(open_files);
    for (size_t i = 0; i < m.n; i++)
        cs_snapshot_clear(&m.v[i].s);
    free(m.v);
    cs_browse_free(m.b);
    repo_cli_close(&m.rc);
    return r == 0 ? CLI_OK : repo_cli_exit(r) == CLI_OK ? CLI_FAILED : repo_cli_exit(r);
}
