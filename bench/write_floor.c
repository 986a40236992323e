/* SPDX-License-Identifier: MIT */
/* write_floor SRC DEST [--keep] [--copy] [--threads N]
 *
 * The floor of any restore of SRC on this machine (issue 23, bench/README.md
 * "Floors measured by make bench"): the kernel's least work to make the
 * tree again, with no repository, no decryption and no decompression.
 * Before the timer: SRC is walked (names, sizes, modes, mtimes, symlink
 * targets, hard links) and an 8 MiB buffer of random bytes is filled.  Timed,
 * with one thread per usable core sharing the lists: the directories, level
 * by level (a level waits for its parents); every regular file created with
 * its mode, written to its size from the buffer and its mtime set; symlinks;
 * then the hard links; then the directories' modes and mtimes (last: every
 * creation inside a directory moves its mtime).  Owners are set where they
 * differ from the restoring user's (the synthetic set's files belong to
 * another uid), as our restore does.  What a restore does and this does not:
 * xattrs (two files of the synthetic set have one; --copy copies them).  The content is the buffer's, not SRC's: ext4's work does
 * not depend on the bytes, and a copy of SRC in memory would be 1 GB of
 * fresh pages, which cost ~4 s per GiB to fault in on this VM.
 *
 * Then, outside the timer, DEST is removed by `rm -rf` as the benchmark
 * harness removes a restore (unless --keep), so the next run meets the
 * file system as the tools' restores do (journal-less ext4 skips recently
 * freed inodes: bench/run.sh runs this after `cp -a` of the tree, as the
 * harness restores after copying the dataset).
 *
 * --copy: each file's bytes (and its xattrs) are read from SRC through one
 * PIECE buffer per thread instead of written from the random buffer, so DEST
 * is SRC again and the benchmark harness's verify passes: bench/cloudseal.sh's
 * pseudo-tool write_floor times this as a restore, in the state the tools'
 * restores meet (after the harness's rm -rf and cp -a), with --keep (the
 * harness removes the restore itself).  Prints one line of key=value: wall_s,
 * cpu_s (getrusage user+sys of the timed part), the counts, remove_s. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "basic/stopwatch.h"

#define PIECE (8u << 20)
#define MAX_DEPTH 256

enum kind { K_DIR, K_FILE, K_SYMLINK, K_LINK };

typedef struct entry {
    char *rel;           /* path below the root */
    char *target;        /* K_SYMLINK: its target; K_LINK: the first name of the inode */
    off_t size;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec mtime;
    dev_t dev;
    ino_t ino;
    int depth;
    enum kind kind;
} entry;

typedef struct list {
    entry *v;
    size_t n, cap;
    _Atomic size_t next[2]; /* per pass over the list: make, then finish */
} list;

static struct {
    size_t srclen;
    list dirs[MAX_DEPTH], files, links;
    entry root;          /* SRC itself: DEST gets its mode and mtime last */
    int maxdepth;
} tree;

static struct {
    int root;            /* DEST */
    int src;             /* SRC, for --copy; -1 otherwise */
    uint8_t *content;
    pthread_barrier_t level;
    int nthreads;
    _Atomic int err;
    _Atomic uint64_t bytes;
} w;

static entry *push(list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        entry *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof(entry));
    return &l->v[l->n++];
}

static int add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    list *l = S_ISDIR(st->st_mode) ? &tree.dirs[ftw->level < MAX_DEPTH ? ftw->level : MAX_DEPTH - 1]
              : S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ? &tree.files : NULL;
    entry *e;

    if (ftw->level == 0) {
        tree.root = (entry){ .rel = ".", .mode = st->st_mode & 07777, .uid = st->st_uid, .gid = st->st_gid,
                             .mtime = st->st_mtim };
        return 0;
    }
    if (!l) /* devices, fifos and sockets: none in the benchmark's sets */
        return 0;
    if (ftw->level >= MAX_DEPTH || !(e = push(l)) || !(e->rel = strdup(path + tree.srclen + 1)))
        return -ENOMEM;
    e->size = st->st_size;
    e->mode = st->st_mode & 07777;
    e->uid = st->st_uid;
    e->gid = st->st_gid;
    e->mtime = st->st_mtim;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->depth = ftw->level;
    e->kind = S_ISDIR(st->st_mode) ? K_DIR : S_ISREG(st->st_mode) ? K_FILE : K_SYMLINK;
    if (ftw->level > tree.maxdepth)
        tree.maxdepth = ftw->level;
    if (e->kind == K_SYMLINK) {
        char buf[PATH_MAX];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
            return -errno;
        buf[n] = 0;
        if (!(e->target = strdup(buf)))
            return -ENOMEM;
    }
    (void)flag;
    return 0;
}

static int by_inode(const void *a, const void *b)
{
    const entry *x = a, *y = b;

    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The second and later names of an inode become links to its first one:
 * sorted by inode, an entry equal to its predecessor moves to tree.links. */
static int split_links(void)
{
    size_t keep = 0;

    qsort(tree.files.v, tree.files.n, sizeof(entry), by_inode);
    for (size_t i = 0; i < tree.files.n; i++) {
        entry *e = &tree.files.v[i];
        if (keep && e->kind == K_FILE && by_inode(e, &tree.files.v[keep - 1]) == 0) {
            entry *l = push(&tree.links);
            if (!l)
                return -ENOMEM;
            *l = *e;
            l->kind = K_LINK;
            l->target = tree.files.v[keep - 1].rel;
            continue;
        }
        tree.files.v[keep++] = *e;
    }
    tree.files.n = keep;
    return 0;
}

/* A restore chowns only what the restoring user does not own already, and
 * only as root */
static bool other_owner(const entry *e)
{
    return geteuid() == 0 && (e->uid != 0 || e->gid != getegid());
}

/* all of buf[0..n) to fd */
static int write_all(int fd, const uint8_t *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, buf, n);
        if (k < 0 && errno != EINTR)
            return -errno;
        buf += k > 0 ? k : 0;
        n -= k > 0 ? (size_t)k : 0;
    }
    return 0;
}

/* --copy: the xattrs of in to out (a restore sets them too) */
static int copy_xattrs(int in, int out)
{
    char names[4096], value[4096];
    ssize_t len = flistxattr(in, names, sizeof(names));

    if (len < 0)
        return errno == ENOTSUP ? 0 : -errno;
    for (char *n = names; n < names + len; n += strlen(n) + 1) {
        ssize_t v = fgetxattr(in, n, value, sizeof(value));
        if (v < 0 || fsetxattr(out, n, value, (size_t)v, 0) < 0)
            return -errno;
    }
    return 0;
}

static _Thread_local uint8_t *buf; /* --copy: this thread's, freed by work() */

/* --copy: SRC's bytes of e through this thread's buffer; else the random buffer */
static int fill(const entry *e, int fd)
{
    int in, r = 0;

    if (w.src < 0) {
        for (off_t done = 0; done < e->size && r == 0; done += PIECE)
            r = write_all(fd, w.content, (size_t)(e->size - done) < PIECE ? (size_t)(e->size - done) : PIECE);
        return r;
    }
    if (!buf && !(buf = malloc(PIECE))) /* kept for the thread's life: one per thread */
        return -ENOMEM;
    if ((in = openat(w.src, e->rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return -errno;
    for (ssize_t k; r == 0 && (k = read(in, buf, PIECE)) != 0;)
        r = k < 0 ? (errno == EINTR ? 0 : -errno) : write_all(fd, buf, (size_t)k);
    if (r == 0)
        r = copy_xattrs(in, fd);
    close(in);
    return r;
}

static int write_file(const entry *e)
{
    struct timespec t[2] = { e->mtime, e->mtime };
    int fd = openat(w.root, e->rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, e->mode);
    int r;

    if (fd < 0)
        return -errno;
    r = fill(e, fd);
    if (r == 0 && other_owner(e) && fchown(fd, e->uid, e->gid) < 0)
        r = -errno;
    if (r == 0 && e->mode & 07000 && fchmod(fd, e->mode) < 0) /* chown cleared set-id bits */
        r = -errno;
    if (r == 0 && futimens(fd, t) < 0)
        r = -errno;
    w.bytes += (uint64_t)e->size;
    close(fd);
    return r;
}

static int make(const entry *e)
{
    struct timespec t[2] = { e->mtime, e->mtime };

    switch (e->kind) {
    case K_DIR: /* writable until its contents are made: the mode comes last */
        return mkdirat(w.root, e->rel, 0700) < 0 ? -errno : 0;
    case K_FILE:
        return write_file(e);
    case K_SYMLINK:
        if (symlinkat(e->target, w.root, e->rel) < 0)
            return -errno;
        if (other_owner(e) && fchownat(w.root, e->rel, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        return utimensat(w.root, e->rel, t, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
    case K_LINK:
        return linkat(w.root, e->target, w.root, e->rel, 0) < 0 ? -errno : 0;
    }
    return -EINVAL;
}

static int finish_dir(const entry *e)
{
    struct timespec t[2] = { e->mtime, e->mtime };

    if ((other_owner(e) && fchownat(w.root, e->rel, e->uid, e->gid, 0) < 0) ||
        fchmodat(w.root, e->rel, e->mode, 0) < 0 || utimensat(w.root, e->rel, t, 0) < 0)
        return -errno;
    return 0;
}

/* Every thread takes entries of l until none is left, then waits for the others. */
static void share(list *l, int pass, int (*fn)(const entry *))
{
    for (size_t i; !w.err && (i = atomic_fetch_add(&l->next[pass], 1)) < l->n;) {
        int r = fn(&l->v[i]);
        if (r < 0) {
            int none = 0;
            fprintf(stderr, "write_floor: %s: %s\n", l->v[i].rel, strerror(-r));
            atomic_compare_exchange_strong(&w.err, &none, r);
        }
    }
    pthread_barrier_wait(&w.level);
}

static void *work(void *arg)
{
    for (int d = 1; d <= tree.maxdepth; d++)
        share(&tree.dirs[d], 0, make);
    share(&tree.files, 0, make);
    share(&tree.links, 0, make);
    for (int d = tree.maxdepth; d >= 1; d--)
        share(&tree.dirs[d], 1, finish_dir);
    free(buf);
    return arg;
}

/* rm -rf DEST as the harness does; returns its wall seconds or -1 */
static double remove_tree(const char *dest)
{
    extern char **environ;
    char *argv[] = { "rm", "-rf", (char *)dest, NULL };
    double t0 = cs_clock_s(CLOCK_MONOTONIC);
    pid_t pid;
    int status;

    if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) != 0 || waitpid(pid, &status, 0) < 0 ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return cs_clock_s(CLOCK_MONOTONIC) - t0;
}

/* The timed part: the threads over the lists. */
static int restore(void)
{
    pthread_t t[256];
    int started = 0;

    if (pthread_barrier_init(&w.level, NULL, (unsigned)w.nthreads) != 0)
        return -EAGAIN;
    for (; started < w.nthreads; started++)
        if (pthread_create(&t[started], NULL, work, NULL) != 0)
            abort(); /* the barrier counts on every thread: nothing to unwind */
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&w.level);
    return w.err ? w.err : finish_dir(&tree.root);
}

static int usable_cores(void)
{
    cpu_set_t set;

    return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "keep", no_argument, NULL, 'k' },
        { "copy", no_argument, NULL, 'c' },
        { "threads", required_argument, NULL, 't' },
        {}
    };
    bool keep = false, copy = false;
    double t0, c0, rm_s = 0;
    size_t ndirs = 0, nsym = 0;
    int c, r;

    w.nthreads = usable_cores();
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keep = true; break;
        case 'c': copy = true; break;
        case 't': w.nthreads = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (optind + 2 != argc || w.nthreads < 1 || w.nthreads > 256)
        goto usage;
    tree.srclen = strlen(argv[optind]);
    while (tree.srclen > 1 && argv[optind][tree.srclen - 1] == '/')
        tree.srclen--;
    r = nftw(argv[optind], add, 64, FTW_PHYS);
    if (r == -1)
        r = -errno;
    if (r == 0)
        r = split_links();
    if (r == 0 && !(w.content = malloc(PIECE)))
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < PIECE; i += 256) /* getrandom gives at most 256 bytes a call unblocked */
        if (getrandom(w.content + i, 256, 0) != 256)
            r = -EIO;
    w.src = -1;
    if (r == 0 && copy && (w.src = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        r = -errno;
    if (r == 0 && mkdir(argv[optind + 1], 0700) < 0)
        r = -errno;
    if (r == 0 && (w.root = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        r = -errno;
    if (r < 0) {
        fprintf(stderr, "write_floor: %s: %s\n", argv[optind], strerror(-r));
        return 1;
    }
    t0 = cs_clock_s(CLOCK_MONOTONIC);
    c0 = cs_process_cpu_s();
    r = restore();
    t0 = cs_clock_s(CLOCK_MONOTONIC) - t0;
    c0 = cs_process_cpu_s() - c0;
    close(w.root);
    if (w.src >= 0)
        close(w.src);
    if (!keep)
        rm_s = remove_tree(argv[optind + 1]);
    if (r < 0 || rm_s < 0) {
        fprintf(stderr, "write_floor: %s\n", r < 0 ? strerror(-r) : "rm -rf failed");
        return 1;
    }
    for (int d = 1; d <= tree.maxdepth; d++)
        ndirs += tree.dirs[d].n;
    for (size_t i = 0; i < tree.files.n; i++)
        nsym += tree.files.v[i].kind == K_SYMLINK;
    printf("write_all threads=%d dirs=%zu files=%zu symlinks=%zu links=%zu bytes=%llu wall_s=%.3f cpu_s=%.3f remove_s=%.3f\n",
           w.nthreads, ndirs, tree.files.n - nsym, nsym, tree.links.n, (unsigned long long)w.bytes, t0, c0, rm_s);
    return 0;
usage:
    fprintf(stderr, "usage: write_floor SRC DEST [--keep] [--copy] [--threads N]\n");
    return 2;
}
