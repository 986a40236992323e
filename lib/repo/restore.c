/* SPDX-License-Identifier: MIT */
/* cs_restore: recreate a snapshot's tree.  The main thread walks trees and
 * creates directories, links and special files; worker threads write file
 * contents (each blob decrypted and re-hashed before a byte is written).
 * Damaged data: the file that needs it is removed and reported, everything
 * else is restored.  Directory metadata is applied last, deepest first,
 * after hard links are made (both change directory mtimes). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/alloc.h"
#include "util/cores.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

#define RQ_MAX 64
/* Workers: local storage, one per core this process may use (see
 * cs_usable_cores; the main thread walks the trees and makes directories,
 * links and special files meanwhile).  Remote storage: see grow_workers.
 * MAX_THREADS only sizes the array. */
#define MAX_THREADS 256
/* Local storage: consecutive small files go to one worker as one job (at
 * most BATCH_FILES files or BATCH_BYTES of data): one hand-over instead
 * of one per file, and the worker's read window (load_blob) meets the
 * blobs of neighbouring files, which sit side by side in a pack. */
#define BATCH_FILES 64
#define BATCH_BYTES (1u << 20)
/* Remote storage (S3): a request costs a round trip and the server's CPU
 * per request and per byte, and the backup's workers interleave the blobs
 * of the files they pack at the same time.  So files are not fetched one
 * by one: the main thread plans a batch of files at a time (PLAN_FILES
 * files or PLAN_BYTES stored bytes first, so that the workers start soon,
 * then twice as many each time up to half the files it may open: a blob
 * that several files hold, copies of a file among them, is fetched once
 * per plan), sorts their blobs by pack and offset, and
 * queues one job per range of a pack (neighbouring blobs, gaps up to
 * GAP_MAX read over, at most RANGE_MAX bytes: a whole 4 MiB pack in one
 * GET); workers fetch jobs at once (as many as the observed round trips
 * need, see grow_workers) and write each blob at its place in its
 * file(s); the worker that writes a file's last blob finishes it.  What
 * the workers hold is bounded by one budget, REMOTE_BUDGET, however many
 * of them there are (see hold_buffers: a job needs its range plus 2 x its
 * largest blob, the decrypted and decompressed copies; a worker keeps its
 * buffers for the next job inside the budget); at most max_open files are
 * open at once (the soft RLIMIT_NOFILE raised to the hard one, less
 * FDS_SPARE, at most MAX_OPEN). */
#define PLAN_FILES 64
#define PLAN_BYTES (16u << 20)
#define PLAN_BYTES_MAX (1ull << 30)
#define MAX_OPEN 16384
#define FDS_SPARE 256     /* for the storage's connections, the directories */
#define RANGE_MAX (8u << 20)
#define GAP_MAX (256u << 10)
#define REMOTE_BUDGET (64u << 20)
/* Trees (remote): a whole pack at a time, the last TREE_PACKS kept. */
#define TREE_PACKS 4
#define TREE_PACK_MAX (16u << 20)

/* A file restored from remote storage: open from its planning until the
 * worker writing its last blob finishes it (metadata, or removal when a
 * blob failed). */
typedef struct rfile {
    char *path;
    cs_node nd;          /* owned copy */
    int fd;
    uint32_t left;       /* blobs not written yet (under restore_run.mu) */
    int err;             /* first failure */
    bool fresh;          /* created in a directory of this restore: see set_meta */
    uint64_t size;
} rfile;

/* A blob's place in a file (remote storage). */
typedef struct place {
    uint32_t pack, offset, enc_len;
    uint32_t blob;       /* index in f->nd.content */
    rfile *f;
    uint64_t at;         /* offset in the file */
} place;

typedef struct rjob {
    char *path;
    cs_node nd;          /* owned copy (whole-file job) */
    bool fresh;          /* see rfile */
    struct rjob *more;   /* whole-file jobs: the next file of the batch (BATCH_FILES) */
    place *pl;           /* or: the blobs of one range of a pack, sorted */
    size_t npl;
    struct rjob *next;
} rjob;

typedef struct dirmeta {
    char *path;
    cs_node nd;
    bool fresh;
} dirmeta;

typedef struct hlink {
    uint64_t dev, ino;
    char *path;          /* first restored path */
} hlink;

typedef struct restore_run {
    cs_repo *r;
    const cs_restore_opts *o;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_space;
    rjob *head, *tail;
    size_t qlen;
    bool stop;
    pthread_t th[MAX_THREADS];
    int nth;
    int cores;           /* cs_usable_cores() */
    uid_t euid;
    gid_t egid;
    rjob *batch, *batch_tail; /* local whole-file jobs not queued yet (main thread) */
    size_t batch_files;
    uint64_t batch_bytes;
    uint64_t wait_ns, work_ns; /* remote jobs: time in GETs, in decoding and writing (under mu) */
    uint64_t budget_max; /* what the workers may hold in all: REMOTE_BUDGET */
    dirmeta *dirs;
    size_t ndirs, dcap;
    hlink *links;
    size_t nlinks, lcap;
    struct { char *path, *target; } *pend;  /* hard links to make at the end */
    size_t npend, pcap;
    bool root;
    bool remote;         /* storage with a round trip per request: see grow_workers */
    place *plan;         /* blobs of the files planned, not queued yet (main thread) */
    size_t nplan, plancap, plan_files;
    uint64_t plan_bytes;
    int open_files;      /* rfiles open (under mu) */
    int max_open;        /* see PLAN_FILES; the plan never holds more than half */
    size_t plan_max_files;
    uint64_t plan_max_bytes;
    struct { uint32_t pack; cs_buf buf; } tp[TREE_PACKS]; /* see load_tree (main thread) */
    unsigned tp_next;
    pthread_cond_t cv_open;
    uint64_t budget;     /* REMOTE_BUDGET bytes not held by a worker (under mu) */
    int budget_waiters;  /* workers waiting for budget (under mu) */
    int active;          /* workers in a job with their budget held (under mu) */
    pthread_cond_t cv_budget;
    int busy;            /* jobs taken by workers, not finished (under mu) */
    pthread_cond_t cv_idle;
    bool *matched;       /* per include pattern: matched a path */
    const cs_snapshot *snap;
    int full;            /* -ENOSPC/-EDQUOT once the target is full (under mu): stop */
    uint64_t snap_bytes; /* the snapshot's size, for that message */
    cs_restore_result res;
} restore_run;

static int node_copy(cs_node *dst, const cs_node *src)
{
    *dst = *src;
    dst->name = strdup(src->name);
    dst->user = strdup(src->user ? src->user : "");
    dst->group = strdup(src->group ? src->group : "");
    dst->link = src->link ? strdup(src->link) : NULL;
    dst->xattrs = NULL;
    dst->nxattrs = 0;
    dst->content = NULL;
    if (src->ncontent) {
        dst->content = malloc((size_t)src->ncontent * sizeof(cs_id));
        if (dst->content)
            memcpy(dst->content, src->content, (size_t)src->ncontent * sizeof(cs_id));
    }
    if (src->nxattrs && (dst->xattrs = calloc(src->nxattrs, sizeof(cs_xattr)))) {
        for (uint16_t i = 0; i < src->nxattrs; i++) {
            dst->xattrs[i].name = strdup(src->xattrs[i].name);
            dst->xattrs[i].value = malloc(src->xattrs[i].len ? src->xattrs[i].len : 1);
            dst->xattrs[i].len = src->xattrs[i].len;
            if (dst->xattrs[i].value)
                memcpy(dst->xattrs[i].value, src->xattrs[i].value, src->xattrs[i].len);
            dst->nxattrs++;
        }
    }
    if (!dst->name || !dst->user || !dst->group || (src->ncontent && !dst->content))
        return -ENOMEM;
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* A short write is not an error yet: the next one says why (ENOSPC, EDQUOT). */
static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static void set_xattrs(int fd, const char *path, const cs_node *nd)
{
    for (uint16_t i = 0; i < nd->nxattrs; i++) {
        int r = fd >= 0 ? fsetxattr(fd, nd->xattrs[i].name, nd->xattrs[i].value, nd->xattrs[i].len, 0)
                        : lsetxattr(path, nd->xattrs[i].name, nd->xattrs[i].value, nd->xattrs[i].len, 0);
        if (r < 0 && errno != ENOTSUP && errno != EPERM)
            log_warning_errno(-errno, "cannot set extended attribute %s on %s", nd->xattrs[i].name, path);
    }
}

/* Owner first (chown clears set-id bits and file capabilities, the
 * security.capability xattr), then xattrs (a POSIX ACL sets group mode
 * bits), then mode, then times.  fresh: path was created by this restore in
 * a directory it created (no set-group-id parent), so it is owned by our
 * euid and egid already: no chown when the snapshot says the same. */
static void set_meta(restore_run *s, int fd, const char *path, const cs_node *nd, bool fresh)
{
    struct timespec ts[2] = { { nd->mtime_s, nd->mtime_ns }, { nd->mtime_s, nd->mtime_ns } };
    bool owned = fresh && nd->uid == s->euid && nd->gid == s->egid;

    if (!owned && (s->root || nd->uid == getuid())) {
        if ((fd >= 0 ? fchown(fd, nd->uid, nd->gid) : lchown(path, nd->uid, nd->gid)) < 0 && s->root)
            log_warning_errno(-errno, "cannot set the owner of %s", path);
    }
    set_xattrs(fd, path, nd);
    if (nd->type != CS_NODE_SYMLINK) {
        if ((fd >= 0 ? fchmod(fd, nd->mode & 07777) : chmod(path, nd->mode & 07777)) < 0)
            log_warning_errno(-errno, "cannot set the mode of %s", path);
    }
    if ((fd >= 0 ? futimens(fd, ts) : utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW)) < 0)
        log_warning_errno(-errno, "cannot set the times of %s", path);
}

/* Small blobs of consecutive files sit next to each other in a pack: read
 * a window around them once instead of one request per blob (local
 * storage; remote storage fetches whole ranges of packs, see pack_job). */
#define WINDOW_BYTES (256u << 10)
#define WINDOW_MAX_BLOB (64u << 10)

typedef struct window {
    cs_buf buf;
    uint32_t pack;       /* index of the pack in the index, UINT32_MAX = empty */
    uint64_t off;
} window;

typedef struct wbufs {
    cs_buf blob, raw, tmp;
    void *dctx;
    window w;
    cs_buf range;        /* a pack range (remote) */
    uint64_t held;       /* budget this worker holds for its buffers (remote, under mu) */
} wbufs;

static int load_blob(restore_run *s, window *w, const cs_id *id, cs_buf *raw, cs_buf *tmp, cs_buf *out, void *dctx)
{
    cs_repo *r = s->r;
    cs_ientry *e = cs_index_find(&r->index, id); /* read-only during a restore */
    const cs_ipack *ip;
    char key[1200];
    int rc;

    if (!e || e->pack == CS_PACK_PENDING || e->type != CS_BLOB_DATA || e->enc_len > WINDOW_MAX_BLOB)
        return cs_repo_load_blob2(r, id, CS_BLOB_DATA, raw, tmp, out, dctx);
    ip = &r->index.packs[e->pack];
    if (w->pack != e->pack || e->offset < w->off || e->offset + (uint64_t)e->enc_len > w->off + w->buf.len) {
        uint64_t len = ip->size - e->offset < WINDOW_BYTES ? ip->size - e->offset : WINDOW_BYTES;
        if (len < e->enc_len)
            len = e->enc_len;
        cs_buf_reset(&w->buf);
        w->pack = UINT32_MAX;
        cs_repo_key(r, "data", &ip->id, key, sizeof(key));
        rc = cs_storage_get(r->st, key, e->offset, len, WINDOW_BYTES + CS_MAX_BLOB, &w->buf);
        if (rc < 0) /* e.g. a truncated pack: fall back to the blob alone */
            return cs_repo_load_blob2(r, id, CS_BLOB_DATA, raw, tmp, out, dctx);
        w->pack = e->pack;
        w->off = e->offset;
    }
    return cs_blob_open_dctx(r->keys, CS_BLOB_DATA, id, w->buf.data + (e->offset - w->off), e->enc_len,
                             e->raw_len, tmp, out, dctx, false);
}

/* Create path for writing, replacing whatever is there: never write
 * through a symlink or into a file that has other links. */
static int open_target(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0 && errno == EEXIST) {
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    return fd < 0 ? -errno : fd;
}

/* Write one blob's data at off; sparse files leave zero runs as holes
 * (ftruncate at the end sets the size). */
static int write_data(int fd, const cs_node *nd, const cs_buf *blob, uint64_t off)
{
    int rc = 0;

    if (!(nd->flags & CS_NODE_SPARSE))
        return pwrite_all(fd, blob->data, blob->len, off);
    for (size_t k = 0; k < blob->len && rc == 0; k += 64 * 1024) {
        size_t l = blob->len - k < 64 * 1024 ? blob->len - k : 64 * 1024;
        if (!all_zero(blob->data + k, l))
            rc = pwrite_all(fd, blob->data + k, l, off + k);
    }
    return rc;
}

static void blob_failed(const char *path, const cs_id *id, int rc)
{
    char hex[65];

    cs_id_hex(id, hex);
    log_error("%s: data blob %s is %s; the file is not restored", path, hex,
              rc == -ENOENT ? "missing from the repository" : "damaged");
}

/* Write nd's blobs, front to back; *end = the offset after them. */
static int write_blobs(restore_run *s, int fd, const char *path, const cs_node *nd, wbufs *b, uint64_t *end)
{
    uint64_t off = 0;

    for (uint32_t i = 0; i < nd->ncontent; i++) {
        int rc = load_blob(s, &b->w, &nd->content[i], &b->raw, &b->tmp, &b->blob, b->dctx);
        if (rc < 0) {
            blob_failed(path, &nd->content[i], rc);
            return -EBADMSG;
        }
        if ((rc = write_data(fd, nd, &b->blob, off)) < 0)
            return rc;
        off += b->blob.len;
    }
    *end = off;
    return 0;
}

static int write_file(restore_run *s, rjob *j, wbufs *b)
{
    _cleanup_close_ int fd = open_target(j->path);
    uint64_t size = 0;
    int rc;

    if (fd < 0)
        return fd;
    if ((rc = write_blobs(s, fd, j->path, &j->nd, b, &size)) < 0)
        return rc;
    /* a new file written front to back has its size already; a sparse one
     * may end in a hole */
    if ((j->nd.flags & CS_NODE_SPARSE) && ftruncate(fd, (off_t)size) < 0)
        return -errno;
    set_meta(s, fd, j->path, &j->nd, j->fresh);
    __atomic_add_fetch(&s->res.bytes, size, __ATOMIC_RELAXED);
    return 0;
}

/* Count a file's outcome (under s->mu). */
static void count_file(restore_run *s, int rc)
{
    if (rc == -EBADMSG)
        s->res.damaged++;
    else if (rc < 0)
        s->res.errors++;
    else
        s->res.files++;
}

static void rfile_free(rfile *f)
{
    free(f->path);
    cs_node_clear(&f->nd);
    free(f);
}

static bool is_full(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT;
}

/* A file could not be written (removed already).  A full target stops the
 * restore with one message, not one per file still to come. */
static void write_failed(restore_run *s, const char *path, int rc)
{
    bool first = false;

    if (is_full(rc)) {
        pthread_mutex_lock(&s->mu);
        first = !s->full;
        if (first)
            s->full = rc;
        pthread_mutex_unlock(&s->mu);
        if (first)
            log_error_errno(rc, "the target's disk is full (%m) writing %s: restore stopped; free space in %s "
                            "(the snapshot holds %.1f MiB) and restore again: what was restored is kept",
                            path, s->o->target, (double)s->snap_bytes / (1 << 20));
    } else if (rc != -EBADMSG) {
        log_error_errno(rc, "cannot restore %s", path);
    }
}

/* -ENOSPC or -EDQUOT once the target is full, else 0. */
static int stopped(restore_run *s)
{
    int full;

    pthread_mutex_lock(&s->mu);
    full = s->full;
    pthread_mutex_unlock(&s->mu);
    return full;
}

/* A remote file's last blob is written (or failed): finish it. */
static void file_done(restore_run *s, rfile *f)
{
    int rc = f->err;

    if (rc == 0 && (f->nd.flags & CS_NODE_SPARSE) && ftruncate(f->fd, (off_t)f->size) < 0)
        rc = -errno;
    if (rc == 0)
        set_meta(s, f->fd, f->path, &f->nd, f->fresh);
    close(f->fd);
    if (rc < 0) {
        unlink(f->path); /* never leave wrong or partial data behind */
        write_failed(s, f->path, rc);
    } else {
        __atomic_add_fetch(&s->res.bytes, f->size, __ATOMIC_RELAXED);
    }
    pthread_mutex_lock(&s->mu);
    count_file(s, rc);
    s->open_files--;
    pthread_cond_signal(&s->cv_open);
    pthread_mutex_unlock(&s->mu);
    rfile_free(f);
}

/* One blob of f written (rc 0) or not (rc; why: the blob's own error, if
 * that was it).  A file's first failure is named, its last blob finishes it. */
static void place_done(restore_run *s, const place *p, int rc, int why)
{
    rfile *f = p->f;
    bool first, last;

    pthread_mutex_lock(&s->mu);
    first = rc < 0 && !f->err;
    if (first)
        f->err = rc;
    last = --f->left == 0;
    pthread_mutex_unlock(&s->mu);
    if (first && why < 0)
        blob_failed(f->path, &f->nd.content[p->blob], why);
    if (last)
        file_done(s, f);
}

/* Remote storage: the workers' buffers, kept from job to job (a buffer
 * freed and allocated again is a page freed and faulted in again, and on a
 * VM that gives freed memory back to its host that costs ~4 s per GiB), and
 * bounded in all by one budget.  A buffer is sized to what a job needs, in
 * whole BUF_STEPs (cs_buf_reserve doubles: a 4.1 MiB range would take 8;
 * finer steps make a buffer grow again for each slightly larger range).
 * What a worker holds is its buffers' capacities, taken from the budget
 * before its job; the decrypted and decompressed buffers are wiped when
 * freed, up to what was ever written in them (cs_buf_wipe). */
#define BUF_STEP (1u << 20)

static uint64_t step_up(uint64_t n)
{
    return (n + BUF_STEP - 1) / BUF_STEP * BUF_STEP;
}

/* The capacity b will have for n bytes (see size_buf). */
static uint64_t cap_for(const cs_buf *b, uint64_t n)
{
    return b->cap >= n ? b->cap : step_up(n);
}

/* Grown with realloc: a buffer of a MiB or more is mmapped (see the
 * mallopt in cs_restore) and grows by mremap, which moves its pages
 * (nothing left behind to wipe, nothing copied) and faults in only the
 * new ones. */
static int size_buf(cs_buf *b, uint64_t n)
{
    uint8_t *p;

    if (b->cap >= n)
        return 0;
    if (!(p = realloc(b->data, step_up(n))))
        return -ENOMEM;
    b->data = p;
    b->cap = step_up(n);
    return 0;
}

/* Free the worker's buffers and give their budget back.  Called without
 * s->mu. */
static void drop_buffers(restore_run *s, wbufs *b)
{
    cs_buf_free(&b->blob);
    cs_buf_free(&b->tmp);
    cs_buf_free_ciphertext(&b->raw);
    cs_buf_free_ciphertext(&b->range);
    pthread_mutex_lock(&s->mu);
    s->budget += b->held;
    b->held = 0;
    pthread_cond_broadcast(&s->cv_budget);
    pthread_mutex_unlock(&s->mu);
}

/* Hold budget for buffers that fit a range of len bytes whose largest
 * blob is enc stored and raw plain, and size them.  A worker whose
 * buffers need more than the budget has left waits for it, keeping them:
 * the budget, not the number of workers, bounds the GETs in flight, and
 * the workers in jobs go on with the buffers they have (no page freed and
 * faulted in again per job).  Only when no worker is in a job does a
 * waiting one let go of its buffers, and an idle one does when another
 * waits (rworker): a worker holds budget only while in a job, waiting with
 * others in jobs, or about to drop it, so every wait ends.  A job larger
 * than the whole budget (not with REMOTE_BUDGET >= RANGE_MAX + 2 *
 * CS_MAX_BLOB) waits for all of it. */
static int hold_buffers(restore_run *s, wbufs *b, uint64_t len, uint64_t enc, uint64_t raw)
{
    uint64_t want;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        want = cap_for(&b->range, len) + cap_for(&b->tmp, enc) + cap_for(&b->blob, raw) + b->raw.cap;
        if (want > s->budget_max)
            want = s->budget_max;
        if (want <= b->held || s->budget >= want - b->held)
            break;
        if (s->active == 0 && b->held) {
            pthread_mutex_unlock(&s->mu);
            drop_buffers(s, b);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        s->budget_waiters++;
        pthread_cond_broadcast(&s->cv_job); /* idle workers let go of theirs (rworker) */
        pthread_cond_wait(&s->cv_budget, &s->mu);
        s->budget_waiters--;
    }
    if (want > b->held) {
        s->budget -= want - b->held;
        b->held = want;
    }
    s->active++;
    pthread_mutex_unlock(&s->mu);
    if (size_buf(&b->range, len) < 0 || size_buf(&b->tmp, enc) < 0 || size_buf(&b->blob, raw) < 0)
        return -ENOMEM; /* released by pack_job */
    return 0;
}

/* After a job: the buffers are kept for the next one (see hold_buffers).
 * A blob fetched alone (its range failed) grew raw outside the budget:
 * freed at once. */
static void release_buffers(restore_run *s, wbufs *b)
{
    cs_buf_free_ciphertext(&b->raw);
    pthread_mutex_lock(&s->mu);
    if (--s->active == 0)
        pthread_cond_broadcast(&s->cv_budget); /* a waiting worker may have to let go */
    pthread_mutex_unlock(&s->mu);
}

/* Open the blob of place p: from the fetched range when there is one (got),
 * else alone (the range failed after the storage's retries; a blob that is
 * missing or damaged is then named by its own error). */
static int open_place(restore_run *s, const place *p, bool got, uint32_t start, wbufs *b)
{
    const cs_id *id = &p->f->nd.content[p->blob];
    int rc;

    if (!got)
        return cs_repo_load_blob2(s->r, id, CS_BLOB_DATA, &b->raw, &b->tmp, &b->blob, b->dctx);
    rc = cs_blob_open_dctx(s->r->keys, CS_BLOB_DATA, id, b->range.data + (p->offset - start), p->enc_len,
                           cs_index_find(&s->r->index, id)->raw_len, &b->tmp, &b->blob, b->dctx, false);
    return rc < 0 ? -EBADMSG : rc; /* the bytes the index names do not open */
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *rworker(void *arg);

/* Start workers up to n in all (under mu: workers start others, see
 * grow_workers, and cs_restore joins as many as there are). */
static int start_workers(restore_run *s, int n)
{
    while (s->nth < n && s->nth < MAX_THREADS && pthread_create(&s->th[s->nth], NULL, rworker, s) == 0)
        s->nth++;
    return s->nth;
}

/* Remote storage: a worker waits for its GET, then decodes and writes what
 * came.  To keep the cores this process may use busy, a worker per core is
 * not enough: each one is on a core work / (wait + work) of its time, so
 * cores * (wait + work) / work workers are (Little's law), from the jobs
 * timed so far (a slow link or a busy server: more; loopback: about one
 * per core and one fetching).  Re-derived after each job, never fewer, at
 * most WORKERS_PER_CORE per core (at least MIN_MOST).  The workers share
 * one memory budget (hold_buffers): more of them keep more GETs in flight
 * while the budget lasts, then wait for it.  Under s->mu. */
#define WORKERS_PER_CORE 4
#define MIN_MOST 8
static void grow_workers(restore_run *s)
{
    uint64_t want, most = (uint64_t)s->cores * WORKERS_PER_CORE;

    if (s->o->workers > 0 || s->work_ns == 0)
        return;
    want = ((uint64_t)s->cores * (s->wait_ns + s->work_ns) + s->work_ns - 1) / s->work_ns;
    if (most < MIN_MOST)
        most = MIN_MOST;
    if (want > most)
        want = most;
    if ((int)want <= s->nth)
        return;
    start_workers(s, (int)want);
}

/* A range of one pack: fetch it in one GET, write every blob in it to its
 * place(s).  The places are sorted by offset; a blob several files (or one
 * file twice) hold is opened once. */
static void pack_job(restore_run *s, rjob *j, wbufs *b)
{
    cs_repo *r = s->r;
    uint32_t start = j->pl[0].offset;
    uint64_t end = start, enc = 0, raw = 0;
    char key[CS_REPO_KEY_MAX];
    bool got = false;
    int why = 0, full = stopped(s);
    uint64_t t0, t1, t2;

    for (size_t i = 0; i < j->npl; i++) {
        const cs_ientry *e = cs_index_find(&r->index, &j->pl[i].f->nd.content[j->pl[i].blob]);
        if ((uint64_t)j->pl[i].offset + j->pl[i].enc_len > end)
            end = (uint64_t)j->pl[i].offset + j->pl[i].enc_len;
        if (e->raw_len > raw)
            raw = e->raw_len;
        if (j->pl[i].enc_len > enc)
            enc = j->pl[i].enc_len;
    }
    if (!full && hold_buffers(s, b, end - start, enc, raw) < 0) {
        release_buffers(s, b);
        full = -ENOMEM;
    }
    if (full) {
        for (size_t i = 0; i < j->npl; i++)
            place_done(s, &j->pl[i], full, 0);
        return;
    }
    cs_buf_reset(&b->range);
    t0 = now_ns();
    got = cs_repo_key(r, "data", &r->index.packs[j->pl[0].pack].id, key, sizeof(key)) == 0 &&
          cs_storage_get(r->st, key, start, end - start, end - start, &b->range) == 0 &&
          b->range.len == end - start;
    t1 = now_ns();
    for (size_t i = 0; i < j->npl; i++) {
        const place *p = &j->pl[i];
        if (i == 0 || p->offset != j->pl[i - 1].offset)
            why = open_place(s, p, got, start, b);
        if (why < 0)
            place_done(s, p, -EBADMSG, why);
        else
            place_done(s, p, write_data(p->f->fd, &p->f->nd, &b->blob, p->at), 0);
    }
    t2 = now_ns();
    pthread_mutex_lock(&s->mu);
    s->wait_ns += t1 - t0;
    s->work_ns += t2 - t1;
    grow_workers(s);
    pthread_mutex_unlock(&s->mu);
    release_buffers(s, b);
}

/* One whole-file job: write it, count it. */
static void file_job(restore_run *s, rjob *j, wbufs *b)
{
    int rc;

    if (stopped(s))
        rc = -ENOSPC; /* not started: the target is full */
    else if ((rc = b->dctx ? write_file(s, j, b) : -ENOMEM) < 0)
        unlink(j->path); /* never leave wrong or partial data behind */
    if (rc < 0)
        write_failed(s, j->path, rc);
    pthread_mutex_lock(&s->mu);
    count_file(s, rc);
    pthread_mutex_unlock(&s->mu);
}

static void rjob_free(rjob *j)
{
    while (j) {
        rjob *more = j->more;
        free(j->pl);
        free(j->path);
        cs_node_clear(&j->nd);
        free(j);
        j = more;
    }
}

static void *rworker(void *arg)
{
    restore_run *s = arg;
    wbufs b = { CS_BUF_INIT, CS_BUF_INIT, CS_BUF_INIT, ZSTD_createDCtx(), { CS_BUF_INIT, UINT32_MAX, 0 },
                CS_BUF_INIT, 0 };

    pthread_mutex_lock(&s->mu);
    for (;;) {
        rjob *j;
        while (!s->head && !s->stop) {
            if (b.held && s->budget_waiters) { /* idle, keeping what another worker waits for */
                pthread_mutex_unlock(&s->mu);
                drop_buffers(s, &b);
                pthread_mutex_lock(&s->mu);
                continue;
            }
            pthread_cond_wait(&s->cv_job, &s->mu);
        }
        if (!s->head)
            break;
        j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        s->qlen--;
        s->busy++;
        pthread_cond_signal(&s->cv_space);
        pthread_mutex_unlock(&s->mu);
        if (j->pl)
            pack_job(s, j, &b);
        for (rjob *k = j->pl ? NULL : j; k; k = k->more)
            file_job(s, k, &b);
        rjob_free(j);
        pthread_mutex_lock(&s->mu);
        if (--s->busy == 0 && !s->head)
            pthread_cond_broadcast(&s->cv_idle);
    }
    pthread_mutex_unlock(&s->mu);
    drop_buffers(s, &b);
    cs_buf_free(&b.w.buf);
    ZSTD_freeDCtx(b.dctx);
    return NULL;
}

static void queue(restore_run *s, rjob *j)
{
    pthread_mutex_lock(&s->mu);
    while (s->qlen >= RQ_MAX)
        pthread_cond_wait(&s->cv_space, &s->mu);
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->qlen++;
    pthread_cond_signal(&s->cv_job);
    pthread_mutex_unlock(&s->mu);
}

/* Local storage: queue the batch of whole-file jobs (see BATCH_FILES). */
static void batch_flush(restore_run *s)
{
    if (s->batch)
        queue(s, s->batch);
    s->batch = s->batch_tail = NULL;
    s->batch_files = 0;
    s->batch_bytes = 0;
}

static void batch_add(restore_run *s, rjob *j)
{
    if (s->batch)
        s->batch_tail->more = j;
    else
        s->batch = j;
    s->batch_tail = j;
    s->batch_bytes += j->nd.size;
    if (++s->batch_files >= BATCH_FILES || s->batch_bytes >= BATCH_BYTES)
        batch_flush(s);
}

/* The index lacks something the snapshot needs (an index object damaged
 * or lost): locate the packs no index names from their own headers.  Once
 * per restore, after the workers have gone idle (they read the index). */
static int plan_flush(restore_run *s);

static bool read_pack_headers(restore_run *s)
{
    int n;

    if (s->r->headers_read)
        return false;
    if (s->nplan)
        (void)plan_flush(s); /* planned places name packs by their index; a failure is counted */
    pthread_mutex_lock(&s->mu);
    while (s->head || s->busy)
        pthread_cond_wait(&s->cv_idle, &s->mu);
    n = cs_repo_index_unindexed(s->r, NULL);
    pthread_mutex_unlock(&s->mu);
    if (n < 0)
        log_error_errno(n, "cannot read the headers of packs the index does not name");
    return n > 0;
}

static bool all_indexed(restore_run *s, const cs_node *nd)
{
    for (uint32_t i = 0; i < nd->ncontent; i++)
        if (!cs_index_find(&s->r->index, &nd->content[i]))
            return false;
    return true;
}

static bool included(restore_run *s, const char *snap_path)
{
    if (!s->o->nincludes)
        return true;
    for (size_t i = 0; i < s->o->nincludes; i++) {
        const char *p = s->o->includes[i];
        size_t pl = strlen(p);
        /* a pattern matches the path or one of its ancestors */
        if (fnmatch(p, snap_path, 0) == 0 ||
            (strncmp(p, snap_path, pl) == 0 && (snap_path[pl] == '/' || p[pl - 1] == '/'))) {
            if (s->matched)
                s->matched[i] = true;
            return true;
        }
        for (const char *q = snap_path; (q = strchr(q + 1, '/'));) {
            char anc[4096];
            size_t al = (size_t)(q - snap_path);
            if (al >= sizeof(anc))
                break;
            memcpy(anc, snap_path, al);
            anc[al] = '\0';
            if (fnmatch(p, anc, 0) == 0)
                return true;
        }
    }
    return false;
}

/* Create dest's missing parents (include mode creates directories lazily). */
static int ensure_parent(const char *dest)
{
    char *d = strdup(dest), *slash;
    int rc = 0;

    if (!d)
        return -ENOMEM;
    slash = strrchr(d, '/');
    if (slash && slash != d) {
        *slash = '\0';
        rc = cs_mkdir_p(d, 0700);
    }
    free(d);
    return rc;
}

static int restore_node(restore_run *s, const cs_node *nd, const char *dest, const char *snap_path, bool fresh);

/* --delete only inside what was backed up: the snapshot of /home/me also
 * holds /home and /, and their other entries in the target (/home/you,
 * /usr) are none of its business. */
static bool backed_up(const restore_run *s, const char *snap_path)
{
    const char *sp = snap_path + (snap_path[0] == '/');

    for (size_t i = 0; i < s->snap->npaths; i++) {
        const char *p = s->snap->paths[i] + (s->snap->paths[i][0] == '/');
        size_t l = strlen(p);
        if (l == 0 || (strncmp(sp, p, l) == 0 && (sp[l] == '\0' || sp[l] == '/')))
            return true;
    }
    return false;
}

/* Remote storage: a snapshot's trees sit side by side in tree packs, and
 * the walk reads them one directory after the other, a round trip each:
 * read the whole pack instead and serve its other trees from memory.  Any
 * failure falls back to cs_tree_load, which names the error. */
static int load_tree(restore_run *s, const cs_id *id, cs_tree *t)
{
    _cleanup_buf_ cs_buf tmp = CS_BUF_INIT, out = CS_BUF_INIT;
    cs_repo *r = s->r;
    const cs_ientry *e = cs_index_find(&r->index, id);
    char key[CS_REPO_KEY_MAX];
    cs_buf *pk = NULL;
    uint64_t size;

    if (!s->remote || !e || e->pack == CS_PACK_PENDING || e->type != CS_BLOB_TREE ||
        (size = r->index.packs[e->pack].size) > TREE_PACK_MAX)
        return cs_tree_load(r, id, t);
    for (unsigned i = 0; i < TREE_PACKS && !pk; i++)
        if (s->tp[i].pack == e->pack && s->tp[i].buf.len)
            pk = &s->tp[i].buf;
    if (!pk) {
        unsigned i = s->tp_next++ % TREE_PACKS;
        pk = &s->tp[i].buf;
        cs_buf_reset(pk);
        s->tp[i].pack = e->pack;
        if (cs_repo_key(r, "data", &r->index.packs[e->pack].id, key, sizeof(key)) < 0 ||
            cs_storage_get(r->st, key, 0, size, size, pk) < 0)
            cs_buf_reset(pk);
    }
    if ((uint64_t)e->offset + e->enc_len > pk->len ||
        cs_blob_open_dctx(r->keys, CS_BLOB_TREE, id, pk->data + e->offset, e->enc_len, e->raw_len, &tmp, &out,
                          NULL, true) < 0)
        return cs_tree_load(r, id, t);
    return cs_tree_parse(out.data, out.len, t);
}

/* fresh: dest was created by this restore (see set_meta): it holds only
 * what this restore put there, so nothing needs asking or replacing. */
static int restore_tree(restore_run *s, const cs_id *tree_id, const char *dest, const char *snap_path, bool fresh)
{
    cs_tree t;
    int rc = load_tree(s, tree_id, &t);

    if (rc == -ENOENT && read_pack_headers(s))
        rc = load_tree(s, tree_id, &t);
    if (rc < 0) {
        char hex[65];
        cs_id_hex(tree_id, hex);
        log_error("%s: directory listing (tree blob %s) is %s; its contents are not restored",
                  snap_path[0] ? snap_path : "/", hex, rc == -ENOENT ? "missing" : "damaged");
        s->res.damaged++;
        return 0;
    }
    for (size_t i = 0; i < t.n; i++) {
        char *d = NULL, *sp = NULL;
        if (asprintf(&d, "%s/%s", dest, t.nodes[i].name) < 0 ||
            asprintf(&sp, "%s/%s", snap_path, t.nodes[i].name) < 0) {
            free(d);
            rc = -ENOMEM;
            break;
        }
        rc = restore_node(s, &t.nodes[i], d, sp, fresh);
        free(d);
        free(sp);
        if (rc < 0)
            break;
    }
    if (rc == 0 && s->o->delete_extra && backed_up(s, snap_path) &&
        (rc = cs_restore_delete_extra(dest, &t, s->o, &s->res.deleted)) < 0)
        log_error_errno(rc, "cannot list %s to delete what the snapshot does not have", dest);
    cs_tree_free(&t);
    return rc;
}

static int add_dirmeta(restore_run *s, const char *dest, const cs_node *nd, bool fresh)
{
    if (CS_GREEDY_REALLOC(s->dirs, s->dcap, s->ndirs + 1) < 0)
        return -ENOMEM;
    s->dirs[s->ndirs].path = strdup(dest);
    node_copy(&s->dirs[s->ndirs].nd, nd);
    free(s->dirs[s->ndirs].nd.content);
    s->dirs[s->ndirs].nd.content = NULL;
    s->dirs[s->ndirs].nd.ncontent = 0;
    s->dirs[s->ndirs].fresh = fresh;
    s->ndirs++;
    return 0;
}

/* Hard links: the first path of an inode is restored, later ones linked. */
static const char *hardlink_first(restore_run *s, const cs_node *nd, const char *dest)
{
    for (size_t i = 0; i < s->nlinks; i++)
        if (s->links[i].dev == nd->dev && s->links[i].ino == nd->inode)
            return s->links[i].path;
    if (CS_GREEDY_REALLOC(s->links, s->lcap, s->nlinks + 1) < 0)
        return NULL;
    s->links[s->nlinks++] = (hlink){ nd->dev, nd->inode, strdup(dest) };
    return NULL;
}

static int place_cmp(const void *a, const void *b)
{
    const place *x = a, *y = b;

    if (x->pack != y->pack)
        return x->pack < y->pack ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Places [i, *end) that one GET covers: one pack, gaps <= GAP_MAX, at most
 * RANGE_MAX bytes (a single larger blob alone). */
static void range_end(const restore_run *s, size_t i, size_t *end)
{
    const place *a = &s->plan[i];
    uint64_t stop = (uint64_t)a->offset + a->enc_len;
    size_t k = i + 1;

    for (; k < s->nplan; k++) {
        const place *b = &s->plan[k];
        uint64_t bend = (uint64_t)b->offset + b->enc_len;
        if (b->pack != a->pack || b->offset > stop + GAP_MAX || bend - a->offset > RANGE_MAX)
            break;
        if (bend > stop)
            stop = bend;
    }
    *end = k;
}

/* Queue the planned files' blobs as one job per range of a pack. */
static int plan_flush(restore_run *s)
{
    int rc = 0;

    qsort(s->plan, s->nplan, sizeof(place), place_cmp);
    for (size_t i = 0, end; i < s->nplan; i = end) {
        rjob *j = calloc(1, sizeof(*j));
        range_end(s, i, &end);
        if (j && (j->pl = malloc((end - i) * sizeof(place)))) {
            memcpy(j->pl, s->plan + i, (end - i) * sizeof(place));
            j->npl = end - i;
            queue(s, j);
            continue;
        }
        free(j);
        rc = -ENOMEM;
        for (size_t k = i; k < end; k++) /* never written: the files are removed and counted */
            place_done(s, &s->plan[k], -ENOMEM, 0);
    }
    s->nplan = 0;
    s->plan_files = 0;
    s->plan_bytes = 0;
    return rc;
}

/* Remote storage: open the file and plan its blobs (see PLAN_FILES).
 * Returns 0 when planned (or failed and counted), 1 when a blob is not in
 * the index (let the whole-file job name it), or -ENOMEM. */
static int plan_file(restore_run *s, const cs_node *nd, const char *dest, bool fresh)
{
    rfile *f;
    int fd, rc = 0;

    if (!all_indexed(s, nd))
        return 1;
    pthread_mutex_lock(&s->mu);
    while (s->open_files >= s->max_open)
        pthread_cond_wait(&s->cv_open, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (!(f = calloc(1, sizeof(*f))))
        return -ENOMEM;
    if (!(f->path = strdup(dest)) || node_copy(&f->nd, nd) < 0 || (nd->ncontent && !f->nd.content) ||
        CS_GREEDY_REALLOC(s->plan, s->plancap, s->nplan + nd->ncontent) < 0) {
        rfile_free(f);
        return -ENOMEM;
    }
    if ((fd = open_target(dest)) < 0) {
        write_failed(s, dest, fd);
        s->res.errors++;
        rfile_free(f);
        return 0;
    }
    f->fd = fd;
    f->fresh = fresh;
    f->left = nd->ncontent + 1; /* + 1: finished below once every place is planned */
    pthread_mutex_lock(&s->mu);
    s->open_files++;
    pthread_mutex_unlock(&s->mu);
    for (uint32_t i = 0; i < nd->ncontent; i++) {
        const cs_ientry *e = cs_index_find(&s->r->index, &nd->content[i]);
        s->plan[s->nplan++] = (place){ e->pack, e->offset, e->enc_len, i, f, f->size };
        f->size += e->raw_len;
        s->plan_bytes += e->enc_len;
    }
    s->plan_files++;
    if (s->plan_files >= s->plan_max_files || s->plan_bytes >= s->plan_max_bytes) {
        rc = plan_flush(s);
        if (s->plan_max_files < (size_t)s->max_open / 4)
            s->plan_max_files *= 2;
        if (s->plan_max_bytes < PLAN_BYTES_MAX)
            s->plan_max_bytes *= 2;
    }
    place_done(s, &(place){ .f = f }, 0, 0); /* an empty file is finished here */
    return rc;
}

static void report(restore_run *s, const char *what, const char *path)
{
    if (s->o->report)
        s->o->report(what, path, s->o->report_ud);
}

/* A directory of the snapshot: 2 to go on into it when this restore
 * created it in a fresh parent (see restore_tree), 1 to go on into it, 0
 * when it cannot be made (counted), -errno. */
static int make_dir(restore_run *s, const char *dest, bool fresh)
{
    struct stat st;
    int there = !fresh && lstat(dest, &st) == 0;

    if (there && !S_ISDIR(st.st_mode)) {
        if (s->o->overwrite == CS_OVERWRITE_NEVER || s->o->overwrite == CS_OVERWRITE_IF_NEWER) {
            report(s, "keep", dest);
            s->res.kept++;
            return 0;
        }
        report(s, "overwrite", dest);
        if (!s->o->dry_run && unlink(dest) < 0) {
            log_error_errno(-errno, "cannot replace %s by a directory", dest);
            s->res.errors++;
            return 0;
        }
    } else if (!there) {
        report(s, "restore", dest);
    }
    if (s->o->dry_run) {
        s->res.dirs++;
        return 1;
    }
    if (s->o->nincludes && ensure_parent(dest) < 0) {
        write_failed(s, dest, -errno);
        s->res.errors++;
        return 0;
    }
    if (mkdir(dest, 0700) < 0) {
        if (errno != EEXIST) {
            write_failed(s, dest, -errno);
            s->res.errors++;
            return 0;
        }
        fresh = false;
    }
    s->res.dirs++;
    return fresh ? 2 : 1;
}

/* A new path in a fresh directory: what existing() says of a path that
 * is not there, without asking. */
static int new_path(restore_run *s, const char *dest)
{
    report(s, "restore", dest);
    return 1;
}

/* What the target holds at dest already (--overwrite): 1 to restore nd
 * there, 0 when it is left alone (counted, or only reported with
 * --dry-run). */
static int existing(restore_run *s, const cs_node *nd, const char *dest)
{
    int put = cs_restore_decide(nd, dest, s->o->overwrite);

    if (put == CS_RESTORE_SAME) {
        s->res.unchanged++;
        return 0;
    }
    if (put == CS_RESTORE_KEEP) {
        report(s, "keep", dest);
        s->res.kept++;
        return 0;
    }
    report(s, put == CS_RESTORE_NEW ? "restore" : "overwrite", dest);
    if (!s->o->dry_run)
        return 1;
    if (nd->type == CS_NODE_FILE)
        s->res.files++;
    else
        s->res.others++;
    return 0;
}

static int restore_node(restore_run *s, const cs_node *nd, const char *dest, const char *snap_path, bool fresh)
{
    bool inc = included(s, snap_path);
    int rc = 0;

    if ((rc = stopped(s)) < 0)
        return rc;
    if (nd->type == CS_NODE_DIR) {
        if (inc && (rc = make_dir(s, dest, fresh)) <= 0)
            return rc;
        fresh = inc && rc == 2;
        rc = 0;
        if (!s->o->dry_run)
            rc = add_dirmeta(s, dest, nd, fresh);
        if (rc == 0)
            rc = restore_tree(s, &nd->subtree, dest, snap_path, fresh);
        return rc;
    }
    if (!inc || (rc = fresh ? new_path(s, dest) : existing(s, nd, dest)) <= 0)
        return rc;
    /* parents exist unless --include skipped them (then they are made lazily) */
    if (s->o->nincludes && ensure_parent(dest) < 0) {
        s->res.errors++;
        return 0;
    }
    if (nd->type == CS_NODE_FILE) {
        rjob *j;
        if (!all_indexed(s, nd))
            read_pack_headers(s);
        if (nd->nlink > 1) {
            const char *first = hardlink_first(s, nd, dest);
            if (first) {
                if (CS_GREEDY_REALLOC(s->pend, s->pcap, s->npend + 1) < 0)
                    return -ENOMEM;
                s->pend[s->npend].path = strdup(dest);
                s->pend[s->npend].target = strdup(first);
                s->npend++;
                return 0;
            }
        }
        if (s->remote) {
            int r2 = plan_file(s, nd, dest, fresh);
            if (r2 <= 0)
                return r2;
            /* > 0: not every blob is indexed; the whole-file job reports it */
        }
        j = calloc(1, sizeof(*j));
        if (!j)
            return -ENOMEM;
        j->path = strdup(dest);
        if (!j->path || node_copy(&j->nd, nd) < 0) {
            free(j->path);
            cs_node_clear(&j->nd);
            free(j);
            return -ENOMEM;
        }
        j->fresh = fresh;
        batch_add(s, j);
        return 0;
    }
    if (!fresh && unlink(dest) < 0 && errno != ENOENT) {
        log_warning_errno(-errno, "cannot replace %s", dest);
        s->res.errors++;
        return 0;
    }
    switch (nd->type) {
    case CS_NODE_SYMLINK:
        rc = symlink(nd->link ? nd->link : "", dest);
        break;
    case CS_NODE_FIFO:
        rc = mkfifo(dest, 0600);
        break;
    case CS_NODE_SOCKET:
        rc = mknod(dest, S_IFSOCK | 0600, 0);
        break;
    case CS_NODE_CHR:
    case CS_NODE_BLK:
        rc = mknod(dest, (nd->type == CS_NODE_CHR ? S_IFCHR : S_IFBLK) | 0600, (dev_t)nd->rdev);
        break;
    }
    if (rc < 0) {
        write_failed(s, dest, -errno);
        s->res.errors++;
        return 0;
    }
    set_meta(s, -1, dest, nd, fresh);
    s->res.others++;
    return 0;
}

/* Find the node at subpath (components separated by '/'). */
static int find_sub(cs_repo *r, const cs_id *root, const char *subpath, cs_node *out, bool *is_root)
{
    char *copy = strdup(subpath), *save = NULL, *comp;
    cs_id cur = *root;
    bool have = false;
    int rc = 0;

    *is_root = true;
    if (!copy)
        return -ENOMEM;
    for (comp = strtok_r(copy, "/", &save); comp && rc == 0; comp = strtok_r(NULL, "/", &save)) {
        cs_tree t;
        size_t i;
        if (have && out->type != CS_NODE_DIR) {
            rc = -ENOTDIR;
            break;
        }
        if ((rc = cs_tree_load(r, &cur, &t)) < 0)
            break;
        for (i = 0; i < t.n && strcmp(t.nodes[i].name, comp) != 0; i++)
            ;
        if (i == t.n) {
            rc = -ENOENT;
        } else {
            if (have)
                cs_node_clear(out);
            node_copy(out, &t.nodes[i]);
            have = true;
            *is_root = false;
            cur = out->subtree;
        }
        cs_tree_free(&t);
    }
    free(copy);
    if (rc < 0 && have)
        cs_node_clear(out);
    return rc;
}

/* How many files a remote restore may hold open: the soft limit raised to
 * the hard one (a process that needs many descriptors is meant to), less
 * FDS_SPARE, between PLAN_FILES * 2 and MAX_OPEN. */
static int open_limit(void)
{
    struct rlimit rl;
    rlim_t n = 1024;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t cur = rl.rlim_cur;
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                rl.rlim_cur = cur;
        }
        n = rl.rlim_cur;
    }
    n = n > FDS_SPARE ? n - FDS_SPARE : 0;
    if (n < PLAN_FILES * 2)
        n = PLAN_FILES * 2;
    return n > MAX_OPEN ? MAX_OPEN : (int)n;
}

/* A hard link at path to target, replacing what is at path. */
static int link_over(const char *target, const char *path)
{
    if (link(target, path) == 0)
        return 0;
    if (errno != EEXIST || (unlink(path) < 0 && errno != ENOENT))
        return -1;
    return link(target, path);
}

/* The target does not exist yet: this restore creates it (checked again
 * by owned_dir once it does). */
static bool new_target(const char *target)
{
    struct stat st;

    return lstat(target, &st) < 0 && errno == ENOENT;
}

/* What this restore creates in dir is owned by our euid and egid: dir is
 * ours and not set-group-id (whose files take its group). */
static bool owned_dir(const char *dir, const restore_run *s)
{
    struct stat st;

    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && !(st.st_mode & S_ISGID) && st.st_uid == s->euid &&
           st.st_gid == s->egid;
}

int cs_restore(cs_repo *r, const cs_snapshot *snap, const cs_restore_opts *o, cs_restore_result *res)
{
    restore_run s = { .r = r, .o = o, .root = geteuid() == 0, .snap = snap, .euid = geteuid(), .egid = getegid() };
    int nw;
    cs_node sub;
    bool is_root = true, fresh;
    int rc;

    assert(r && snap && o);
    s.cores = cs_usable_cores();
    memset(&sub, 0, sizeof(sub));
    if (!cs_index_find(&r->index, &snap->tree) || r->damaged_index)
        cs_repo_index_unindexed(r, NULL); /* before any worker reads the index */
    fresh = !o->dry_run && !o->nincludes && new_target(o->target);
    rc = o->dry_run ? 0 : cs_mkdir_p(o->target, 0700);
    if (rc < 0)
        return log_error_errno(rc, "cannot create the target directory %s", o->target);
    fresh = fresh && owned_dir(o->target, &s);
    if (o->subpath && (rc = find_sub(r, &snap->tree, o->subpath, &sub, &is_root)) < 0)
        return log_error_errno(rc, "'%s' is not in the snapshot (%m)", o->subpath);
    if (o->nincludes && !(s.matched = calloc(o->nincludes, sizeof(bool))))
        return -ENOMEM;
    s.snap_bytes = snap->summary.bytes_processed;
    s.remote = strcmp(r->st->ops->scheme, "file") != 0;
    /* remote: one more to fetch while the others decode; grow_workers adds
     * what the observed round trips need */
    nw = o->workers > 0 ? o->workers : s.cores + s.remote;
    s.max_open = s.remote ? open_limit() : 0;
    s.plan_max_files = PLAN_FILES;
    s.plan_max_bytes = PLAN_BYTES;
    s.budget = s.budget_max = REMOTE_BUDGET;
    /* the budget counts the buffers a worker holds; one it frees must leave
     * the process, not stay in its thread's malloc arena (glibc raises the
     * mmap threshold to the largest block freed, up to 32 MiB, after which
     * freed ranges are kept): a fixed threshold keeps them mmapped */
    if (s.remote)
        mallopt(M_MMAP_THRESHOLD, BUF_STEP);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv_job, NULL);
    pthread_cond_init(&s.cv_space, NULL);
    pthread_cond_init(&s.cv_budget, NULL);
    pthread_cond_init(&s.cv_idle, NULL);
    pthread_cond_init(&s.cv_open, NULL);
    pthread_mutex_lock(&s.mu);
    start_workers(&s, nw);
    pthread_mutex_unlock(&s.mu);
    if (is_root) {
        rc = restore_tree(&s, &snap->tree, o->target, "", fresh);
    } else if (sub.type == CS_NODE_DIR) {
        rc = restore_tree(&s, &sub.subtree, o->target, o->subpath, fresh);
    } else {
        char *d = NULL;
        if (asprintf(&d, "%s/%s", o->target, sub.name) >= 0) {
            rc = restore_node(&s, &sub, d, o->subpath, fresh);
            free(d);
        }
    }
    batch_flush(&s);
    if (s.nplan && plan_flush(&s) < 0 && rc == 0)
        rc = -ENOMEM;
    pthread_mutex_lock(&s.mu);
    s.stop = true;
    pthread_cond_broadcast(&s.cv_job);
    /* a worker may start others until it ends (grow_workers): read nth again after each join */
    for (int i = 0; i < s.nth; i++) {
        pthread_t t = s.th[i];
        pthread_mutex_unlock(&s.mu);
        pthread_join(t, NULL);
        pthread_mutex_lock(&s.mu);
    }
    pthread_mutex_unlock(&s.mu);
    for (size_t i = 0; i < s.npend; i++) {
        if (s.full) {
            s.res.errors++;
        } else if (link_over(s.pend[i].target, s.pend[i].path) < 0) {
            log_warning_errno(-errno, "cannot link %s to %s", s.pend[i].path, s.pend[i].target);
            s.res.errors++;
        } else {
            s.res.files++;
        }
        free(s.pend[i].path);
        free(s.pend[i].target);
    }
    /* deepest first: the list is in pre-order, so reverse order works */
    for (size_t i = s.ndirs; i-- > 0;) {
        struct stat st;
        if (lstat(s.dirs[i].path, &st) == 0 && S_ISDIR(st.st_mode))
            set_meta(&s, -1, s.dirs[i].path, &s.dirs[i].nd, s.dirs[i].fresh);
        free(s.dirs[i].path);
        cs_node_clear(&s.dirs[i].nd);
    }
    for (size_t i = 0; i < s.nlinks; i++)
        free(s.links[i].path);
    for (size_t i = 0; i < o->nincludes; i++)
        if (!s.matched[i]) {
            log_error("--include '%s' matched nothing in the snapshot: paths look like those "
                      "'cloudseal ls' shows (e.g. '/home/me/thesis.txt', or '*/thesis.txt')", o->includes[i]);
            s.res.unmatched++;
        }
    free(s.matched);
    free(s.links);
    free(s.pend);
    free(s.dirs);
    cs_node_clear(&sub);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv_job);
    pthread_cond_destroy(&s.cv_space);
    pthread_cond_destroy(&s.cv_budget);
    pthread_cond_destroy(&s.cv_idle);
    pthread_cond_destroy(&s.cv_open);
    free(s.plan);
    for (unsigned i = 0; i < TREE_PACKS; i++)
        cs_buf_free_ciphertext(&s.tp[i].buf);
    if (res)
        *res = s.res;
    if (s.full)
        rc = s.full;
    if (rc == 0 && s.res.damaged)
        rc = -EBADMSG;
    return rc;
}
