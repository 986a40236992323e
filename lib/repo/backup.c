/* SPDX-License-Identifier: MIT */
/* cs_backup: walk, chunk, deduplicate, compress, encrypt, pack, upload.
 *
 * Threads:
 *   main      walks the tree depth-first (stat only), consults the file-change
 *             cache, queues files that must be read, and finalises directories
 *             (encodes their tree blob) in post-order as their files complete;
 *   workers   (one per core we may run on) read a whole file each: chunk, hash, claim new
 *             blobs in the index, compress + encrypt them, hand them to
 *             the packer; the reader of a big file publishes each window's
 *             chunks, and idle workers save them beside it (share);
 *   uploaders (packer.c) finish and store packs;
 *   progress  prints the live line.
 * Memory is bounded whatever the data size: each worker holds one read buffer
 * (max chunk, or a 16 MiB window once it read a big file) and one output buffer; the packer at most
 * 2 open + 1 queued + 3 uploading packs of ~4 MiB; the job queue and the
 * pending-directory FIFO are bounded.  What grows with the repository is the
 * index (~56 B per blob) and the directory being scanned (its entries). */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <malloc.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "repo/filecache.h"
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/alloc.h"
#include "util/cores.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define READ_FIRST (2u << 20)
#define READ_RING (4u << 20)
#define JOB_QUEUE_PER_WORKER 16  /* queued files per worker: one batch each waiting */
#define BATCH_MAX 16             /* files a worker takes at once ... */
#define BATCH_BYTES (256u << 10) /* ... while they hold less than this */
#define FIFO_MAX 4096
#define MAX_WORKERS 64   /* a bound for the array, not a tuning: one worker per usable core */
#define SHARE_WINDOW (16u << 20) /* a big file is read into this much at a time ... */
#define SHARE_MIN (2 * (off_t)SHARE_WINDOW) /* ... from this size on, when there are idle workers */

int cs_snapshot_write(cs_repo *r, cs_snapshot *s);

typedef struct frame frame;

typedef struct job {
    frame *fr;
    size_t idx;            /* node index in the frame */
    cs_id *ids;
    uint32_t n;
    size_t cap;
    uint64_t bytes;
    int err;
    bool vanished;         /* gone or no longer a regular file when we came to read it */
    bool replaced;         /* another inode than the walk saw: metadata from j->st */
    bool unstable;         /* kept changing while read: saved as last read, not cached */
    bool no_xattrs;        /* the worker saw none (after the stat in st) */
    struct stat st;        /* as seen by the walk, then by the read (matches the content) */
    struct job *next;
} job;

struct frame {
    int dirfd;
    char *path;            /* absolute path of the directory ("" for /) */
    cs_node *nodes;
    size_t n, cap, stats_cap;
    job **jobs;            /* per node, or NULL */
    frame **sub;           /* per node (directories), or NULL */
    struct stat *stats;    /* per node */
    size_t pending;        /* jobs not done yet */
    struct backup_run *b;
    cs_fcache_dir *fcd;    /* its files in the file-change cache (opened in walk order) */
    uint64_t excludes;     /* the exclude patterns that may match an entry (excludes_for) */
    bool failed, finalized;
    cs_id tree;
    frame *next;           /* FIFO of frames waiting to be finalised */
};

/* One window of a big file, its chunks published for every worker (share):
 * all fields under b->mu but the data and the id slots, which the taker of
 * a chunk alone reads and writes until it counts it done. */
typedef struct share {
    const uint8_t *data;   /* the reader's buffer: not reused before done == n */
    const size_t *cut;     /* chunk i is data[cut[i], cut[i + 1]) */
    cs_id *ids;            /* the job's id slots, in file order */
    size_t n, next, done;  /* chunks; the next nobody took; those saved (or skipped) */
    int err;               /* the first save_blob() failure: the rest are skipped */
    struct share *link;
} share;

/* A worker's own: its read buffer, compression scratch and context. */
typedef struct wctx {
    uint8_t *buf;
    size_t cap;
    cs_buf out;
    void *zctx;
    size_t *cut;           /* a window's chunk bounds (fill_window), sized for its most chunks */
    size_t cut_cap;
    uint64_t helped;       /* chunks of other workers' files it saved */
} wctx;

typedef struct selection {
    char *name;
    struct selection *kids;
    size_t nkids;
    bool all;
} selection;

typedef struct backup_run {
    cs_repo *r;
    const cs_backup_opts *o;
    cs_pack_writer *writer;
    cs_fcache *fc;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done, cv_share;
    share *shares;         /* windows with chunks to save (share) */
    _Atomic int sharers;   /* workers reading a big file shared (share_begin) */
    job *qhead, *qtail;
    size_t qlen;
    bool stop;
    frame *fifo_head, *fifo_tail;
    size_t fifo_len;
    pthread_t workers[MAX_WORKERS];
    int nworkers;
    pthread_t prog_thread;
    bool prog_running, prog_stop;
    pthread_mutex_t prog_mu;
    pthread_cond_t prog_cv;
    struct timespec t0;
    time_t start_sec;
    dev_t root_dev;
    int fatal;
    _Atomic int repo_err;  /* first failure to store into the repository (not the source's fault) */
    void *zctx;            /* main thread's compressor (trees) */
    /* counters */
    _Atomic uint64_t files, dirs, bytes, bytes_added, bytes_stored, blobs_added, errors;
    uint64_t vanished, unstable; /* main thread only (finalize, scan_dir) */
    _Atomic uint64_t total_files, total_bytes; /* from the estimate thread, 0 until done */
    pthread_t est_thread;
    bool est_running;
    uint64_t files_new, files_changed, files_unchanged, others;
    char **ex_prefix;      /* per exclude pattern: the literal head of an absolute one, or NULL */
    cs_buf tree_enc, tree_out; /* finalize()'s, kept from one directory to the next */
    char *pbuf;            /* join(): the last path built */
    size_t pcap;
    /* uid/gid -> name caches */
    struct { uint32_t id; char name[64]; } users[64], groups[64];
    size_t nusers, ngroups;
} backup_run;

static double elapsed(const backup_run *b)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - b->t0.tv_sec) + (double)(t.tv_nsec - b->t0.tv_nsec) / 1e9;
}

/* ------------------------------------------------------------------ blobs */

/* Store a blob unless the index has it; thread-safe. */
static int save_blob(backup_run *b, int type, const uint8_t *data, size_t len, cs_id *id, void *zctx, cs_buf *out)
{
    const uint8_t *payload;
    uint8_t *dst, flag;
    size_t plen;
    void *ticket;
    int rc;

    cs_blob_id(b->r->keys, data, len, id);
    pthread_mutex_lock(&b->r->index.lock);
    rc = cs_index_claim(&b->r->index, id, type, NULL);
    pthread_mutex_unlock(&b->r->index.lock);
    if (rc <= 0)
        return rc;
    /* sealed straight into the pack buffer: the data is copied once */
    rc = cs_blob_payload(zctx, data, len, out, &payload, &plen, &flag);
    if (rc == 0)
        rc = cs_pack_writer_reserve(b->writer, type, id, CS_BLOB_OVERHEAD + plen, (uint32_t)len, &dst, &ticket);
    if (rc < 0) {
        int none = 0;
        if (rc != -ENOMEM)
            atomic_compare_exchange_strong(&b->repo_err, &none, rc);
        return rc;
    }
    rc = cs_blob_seal_into(b->r->keys, type, id, flag, payload, plen, dst);
    cs_pack_writer_commit(b->writer, ticket, rc);
    if (rc < 0)
        return rc;
    b->bytes_added += len;
    b->bytes_stored += CS_BLOB_OVERHEAD + plen;
    b->blobs_added++;
    return 0;
}

/* ---------------------------------------------------------------- workers */

static int job_add_id(job *j, const cs_id *id)
{
    if (j->n == UINT32_MAX || CS_GREEDY_REALLOC(j->ids, j->cap, (size_t)j->n + 1) < 0)
        return -ENOMEM;
    j->ids[j->n++] = *id;
    return 0;
}

/* One read() of up to want bytes into p (again after EINTR).  *pos counts
 * the bytes read from the file; *eof is set at its end: a read returning 0,
 * or a short one that reaches size, the file's size at the stat before the
 * pass (a small file costs one read(), not a second one returning 0; a
 * file that grew since is caught by the stat after the pass).  The bytes
 * read, or a negative errno. */
static ssize_t read_block(int fd, uint8_t *p, size_t want, off_t size, uint64_t *pos, bool *eof)
{
    ssize_t n;

    do
        n = read(fd, p, want);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    *pos += (uint64_t)n;
    *eof = n == 0 || ((size_t)n < want && *pos == (uint64_t)size);
    return n;
}

/* One pass over the open file from its start: chunk, store new blobs, record
 * the content ids in the job.  size is the file's size at the stat before
 * this pass (read_block: where the file ends). */
static int read_pass(backup_run *b, job *j, int fd, off_t size, wctx *w)
{
    const cs_chunker *ch = b->r->chunker;
    uint8_t *buf = w->buf;
    size_t bufcap = w->cap;
    size_t off = 0, len = 0, want = READ_FIRST; /* unconsumed data: buf[off, off + len) */
    uint64_t pos = 0;                         /* bytes read from the file */
    bool eof = false;
    int rc;

    for (;;) {
        size_t cut;
        cs_id id;
        while (!eof && len < want) {
            ssize_t n;
            /* wrap within the first READ_RING bytes (or the whole buffer for
             * a long chunk): only the unconsumed tail moves, every few
             * chunks, and the pages touched stay few (peak RSS) */
            if (off + want > (want > READ_RING ? bufcap : READ_RING)) {
                memmove(buf, buf + off, len);
                off = 0;
            }
            if ((n = read_block(fd, buf + off + len, want - len, size, &pos, &eof)) < 0)
                return (int)n;
            len += (size_t)n;
        }
        if (len == 0)
            return 0;
        cut = cs_chunker_next(ch, buf + off, len, eof);
        if (cut == 0) {
            want = want * 2 > bufcap ? bufcap : want * 2;
            if (want > ch->max)
                want = ch->max;
            continue;
        }
        rc = save_blob(b, CS_BLOB_DATA, buf + off, cut, &id, w->zctx, &w->out);
        if (rc < 0)
            return rc;
        if ((rc = job_add_id(j, &id)) < 0)
            return rc;
        j->bytes += cut;
        b->bytes += cut;
        off += cut;
        len -= cut;
        want = READ_FIRST;
    }
}

/* ------------------------------------------------------ big files (share) */

/* b->mu held: a published window with a chunk nobody took yet. */
static share *share_pending(const backup_run *b)
{
    for (share *s = b->shares; s; s = s->link)
        if (s->next < s->n)
            return s;
    return NULL;
}

/* Take chunk s->next (b->mu held), save it unlocked, count it done: the
 * reader's wait ends when the last chunk taken, by anyone, is done. */
static void share_take(backup_run *b, share *s, wctx *w)
{
    size_t i = s->next++;
    int rc = s->err;

    pthread_mutex_unlock(&b->mu);
    if (rc == 0)
        rc = save_blob(b, CS_BLOB_DATA, s->data + s->cut[i], s->cut[i + 1] - s->cut[i], &s->ids[i], w->zctx,
                       &w->out);
    pthread_mutex_lock(&b->mu);
    if (rc < 0 && s->err == 0)
        s->err = rc;
    if (++s->done == s->n)
        pthread_cond_broadcast(&b->cv_share);
}

/* Publish a window of the job's file (b->mu not held): its chunks land in
 * the job's id slots from j->n on, up to `most` of them. */
static int share_open(backup_run *b, job *j, share *s, wctx *w, size_t most)
{
    if ((size_t)j->n + most > UINT32_MAX || CS_GREEDY_REALLOC(j->ids, j->cap, (size_t)j->n + most) < 0)
        return -ENOMEM;
    *s = (share){ .data = w->buf, .cut = w->cut, .ids = j->ids + j->n }; /* neither moves while published */
    pthread_mutex_lock(&b->mu);
    s->link = b->shares;
    b->shares = s;
    pthread_mutex_unlock(&b->mu);
    return 0;
}

/* The window's chunks up to n are cut: idle workers may take them. */
static void share_more(backup_run *b, share *s, size_t n)
{
    pthread_mutex_lock(&b->mu);
    s->n = n;
    pthread_cond_broadcast(&b->cv_job);
    pthread_mutex_unlock(&b->mu);
}

/* The reader saves the chunks nobody took, waits for those helpers took
 * (never for one nobody took), and unpublishes: the buffer is its own
 * again.  The first failure of any chunk, or 0. */
static int share_close(backup_run *b, share *s, wctx *w)
{
    pthread_mutex_lock(&b->mu);
    while (s->next < s->n)
        share_take(b, s, w);
    while (s->done < s->n)
        pthread_cond_wait(&b->cv_share, &b->mu);
    for (share **p = &b->shares; *p; p = &(*p)->link)
        if (*p == s) {
            *p = s->link;
            break;
        }
    pthread_mutex_unlock(&b->mu);
    return s->err;
}

/* Read into the window from len on, cut what can be cut from *end on, and
 * publish the new chunks, until the buffer is full or the file ends. */
static int fill_window(backup_run *b, share *s, int fd, off_t size, wctx *w, size_t *len, size_t *end,
                       uint64_t *pos, bool *eof)
{
    const cs_chunker *ch = b->r->chunker;
    size_t n = 0, cut;

    while (!*eof && *len < w->cap) {
        size_t want = w->cap - *len < READ_RING ? w->cap - *len : READ_RING;
        ssize_t got = read_block(fd, w->buf + *len, want, size, pos, eof);
        if (got < 0)
            return (int)got;
        *len += (size_t)got;
        while (*end < *len && (cut = cs_chunker_next(ch, w->buf + *end, *len - *end, *eof)))
            w->cut[++n] = *end += cut;
        if (n > s->n)
            share_more(b, s, n);
    }
    return 0;
}

/* read_pass() for a big file: windows of SHARE_WINDOW bytes, each after
 * the tail the last one left (shorter than a maximal chunk: at least 8 MiB
 * new, 15.5 on average).  Each chunk is published as soon as it is cut,
 * so idle workers save it while the reader reads and cuts the next ones
 * (share).  The buffer grows once per worker and is kept. */
static int read_pass_shared(backup_run *b, job *j, int fd, off_t size, wctx *w)
{
    /* chunks are at least min long but for the last: this many bounds */
    const size_t most = SHARE_WINDOW / b->r->chunker->min + 2;
    size_t len = 0;
    uint64_t pos = 0;
    bool eof = false;
    int rc;

    if (w->cap < SHARE_WINDOW) {
        uint8_t *nb = realloc(w->buf, SHARE_WINDOW);
        if (!nb)
            return -ENOMEM;
        w->buf = nb;
        w->cap = SHARE_WINDOW;
    }
    if (CS_GREEDY_REALLOC(w->cut, w->cut_cap, most) < 0)
        return -ENOMEM;
    w->cut[0] = 0;
    while (!eof) {
        share s;
        size_t end = 0;
        if ((rc = share_open(b, j, &s, w, most - 1)) < 0)
            return rc;
        rc = fill_window(b, &s, fd, size, w, &len, &end, &pos, &eof);
        int err = share_close(b, &s, w); /* always: helpers may be in the buffer */
        if (rc < 0 || (rc = err) < 0)
            return rc;
        j->n += (uint32_t)s.n;
        j->bytes += end;
        b->bytes += end;
        len -= end;
        memmove(w->buf, w->buf + end, len);
    }
    return 0;
}

/* The same version of a file: nothing wrote to it or replaced it. */
static bool same_version(const struct stat *a, const struct stat *c)
{
    return a->st_ino == c->st_ino && a->st_dev == c->st_dev && a->st_size == c->st_size &&
           a->st_mtim.tv_sec == c->st_mtim.tv_sec && a->st_mtim.tv_nsec == c->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == c->st_ctim.tv_sec && a->st_ctim.tv_nsec == c->st_ctim.tv_nsec;
}

static int read_xattrs(const char *path, int fd, cs_node *nd);

/* Whether this big file is read shared (read_pass_shared): by at most half
 * the workers at a time (at least one), so that the others are free to
 * help; a reader nobody could help would only touch its 16 MiB window
 * instead of the 4 MiB ring (page faults, peak RSS).  share_end() after. */
static bool share_begin(backup_run *b, off_t size)
{
    /* b->nworkers is final: the workers were started before any job */
    int most = b->nworkers / 2 > 0 ? b->nworkers / 2 : 1, n;

    if (b->nworkers < 2 || size < SHARE_MIN)
        return false;
    n = atomic_load(&b->sharers);
    do {
        if (n >= most)
            return false;
    } while (!atomic_compare_exchange_weak(&b->sharers, &n, n + 1));
    return true;
}

/* Read the open file until a pass sees it unchanged from its start to its
 * end, at most CS_BACKUP_READ_TRIES times (read_file). */
static int read_passes_as(backup_run *b, job *j, int fd, struct stat st, wctx *w, bool shared)
{
    struct stat st2;
    int rc;

    for (int tries = 1;; tries++) {
        rc = shared ? read_pass_shared(b, j, fd, st.st_size, w) : read_pass(b, j, fd, st.st_size, w);
        if (rc < 0)
            return rc;
        if (fstat(fd, &st2) < 0)
            return -errno;
        if (same_version(&st, &st2))
            return 0;
        j->st = st2;
        if (tries == CS_BACKUP_READ_TRIES) {
            j->unstable = true;
            return 0;
        }
        /* start over; blobs already stored stay for dedup (or prune) */
        b->bytes -= j->bytes;
        j->bytes = 0;
        j->n = 0;
        st = st2;
        if (lseek(fd, 0, SEEK_SET) < 0)
            return -errno;
    }
}

static int read_passes(backup_run *b, job *j, int fd, struct stat st, wctx *w)
{
    bool shared = share_begin(b, st.st_size);
    int rc = read_passes_as(b, j, fd, st, w, shared);

    if (shared)
        atomic_fetch_sub(&b->sharers, 1);
    return rc;
}

/* Read one file.  Files live while we back them up, so:
 *  - gone (or no longer a regular file) since the walk: j->vanished, not an
 *    error (the snapshot shows the tree without it, as it now is);
 *  - replaced since the walk (rewritten by rename): the file we opened is
 *    read and recorded with its own metadata (j->st), which matches the
 *    content;
 *  - written while we read it: read again from the start, up to
 *    CS_BACKUP_READ_TRIES times; then saved as last read and flagged
 *    j->unstable (the copy may mix old and new data). */
static int read_file(backup_run *b, job *j, wctx *w)
{
    cs_node *node = &j->fr->nodes[j->idx];
    _cleanup_close_ int fd = openat(j->fr->dirfd, node->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    struct stat st;
    int rc;

    if (fd < 0 && errno == EPERM)
        fd = openat(j->fr->dirfd, node->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)) {
        j->vanished = true;
        return 0;
    }
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode)) {
        j->vanished = true;
        return 0;
    }
    j->replaced = st.st_ino != j->st.st_ino || st.st_dev != j->st.st_dev;
    j->st = st; /* the metadata of what we read */
    if (st.st_size > (off_t)READ_FIRST) /* smaller ones take one read() */
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if ((rc = read_passes(b, j, fd, st, w)) < 0)
        return rc;
    /* through the open file (no path walk), after the stat j->st holds:
     * "none" then holds for that version (the file-change cache's flag) */
    if ((rc = read_xattrs(NULL, fd, node)) < 0)
        return rc;
    j->no_xattrs = rc == 1;
    return 0;
}

/* The job queue's bound: the workers are started before the walk. */
static size_t queue_max(const backup_run *b)
{
    return JOB_QUEUE_PER_WORKER * (size_t)(b->nworkers > 0 ? b->nworkers : 1);
}

/* Take a batch of jobs off the queue (b->mu held): small files go by the
 * dozen, so the queue's lock and its wakeups cost per batch, not per file;
 * at most a fair share of the queue, so that every worker has work.  A big
 * file is only ever alone or first: the directories of the small files
 * taken with it would otherwise wait for it (pending is counted down after
 * the batch). */
static job *take_batch(backup_run *b)
{
    size_t fair = b->qlen / (size_t)(b->nworkers > 0 ? b->nworkers : 1), n = 0;
    uint64_t bytes = 0;
    job *first = b->qhead, *last = NULL;

    do {
        last = b->qhead;
        b->qhead = last->next;
        b->qlen--;
        bytes += (uint64_t)last->st.st_size;
        n++;
    } while (b->qhead && n < fair && n < BATCH_MAX &&
             bytes + (uint64_t)b->qhead->st.st_size <= BATCH_BYTES);
    last->next = NULL;
    if (!b->qhead)
        b->qtail = NULL;
    /* the scan waits for the queue to drain to half (submit) */
    if (b->qlen <= queue_max(b) / 2 && b->qlen + n > queue_max(b) / 2)
        pthread_cond_broadcast(&b->cv_done);
    return first;
}

static void *worker(void *arg)
{
    backup_run *b = arg;
    /* the compression scratch of file blobs: file contents only (trees
     * have their own, b->tree_out, wiped as it grows) */
    wctx w = { .buf = malloc(CS_CHUNK_MAX), .cap = CS_CHUNK_MAX, .out = { .file_data = true },
               .zctx = cs_zctx_new() };
    double busy = 0;
    struct timespec cpu;
    share *s;

    pthread_mutex_lock(&b->mu);
    for (;;) {
        job *batch;
        bool frame_done = false;
        while (!b->qhead && !share_pending(b) && !b->stop)
            pthread_cond_wait(&b->cv_job, &b->mu);
        /* a big file's chunks first: its reader waits for them */
        if ((s = share_pending(b))) {
            double t_in = elapsed(b);
            if (w.zctx)
                w.helped++;
            else if (!s->err)
                s->err = -ENOMEM;
            share_take(b, s, &w);
            busy += elapsed(b) - t_in;
            continue;
        }
        if (!b->qhead)
            break;
        batch = take_batch(b);
        pthread_mutex_unlock(&b->mu);
        double t_in = elapsed(b);
        for (job *j = batch; j; j = j->next) {
            j->err = (w.buf && w.zctx) ? read_file(b, j, &w) : -ENOMEM;
            b->files++;
        }
        busy += elapsed(b) - t_in;
        pthread_mutex_lock(&b->mu);
        for (job *j = batch, *next; j; j = next) {
            next = j->next;
            j->next = NULL;
            frame_done |= --j->fr->pending == 0;
        }
        /* drain() waits for a whole directory, not for each file */
        if (frame_done)
            pthread_cond_broadcast(&b->cv_done);
    }
    pthread_mutex_unlock(&b->mu);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    log_debug("worker busy %.2f s of %.2f s, %.2f CPU-s, %" PRIu64 " chunks of others' files", busy, elapsed(b),
              (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9, w.helped);
    free(w.buf);
    free(w.cut);
    cs_buf_free(&w.out);
    cs_zctx_free(w.zctx);
    return NULL;
}

/* Queue one file.  When the queue is full the scan waits until it is half
 * empty: woken once per queue_max() / 2 files, not once per file. */
static void submit(backup_run *b, job *j)
{
    pthread_mutex_lock(&b->mu);
    if (b->qlen >= queue_max(b))
        while (b->qlen > queue_max(b) / 2)
            pthread_cond_wait(&b->cv_done, &b->mu);
    j->fr->pending++;
    j->next = NULL;
    if (b->qtail)
        b->qtail->next = j;
    else
        b->qhead = j;
    b->qtail = j;
    b->qlen++;
    pthread_cond_signal(&b->cv_job);
    pthread_mutex_unlock(&b->mu);
}

/* --------------------------------------------------------------- metadata */

static char *name_of(backup_run *b, uint32_t id, bool group)
{
    /* Owner and group names point into b's table of 64 ids, not copied per
     * node; past 64 ids a node holds a copy of its own.  node_release()
     * tells them apart. */
    __typeof__(b->users[0]) *v = group ? b->groups : b->users;
    size_t *n = group ? &b->ngroups : &b->nusers;
    char name[64] = "";
    char buf[4096];

    for (size_t i = 0; i < *n; i++)
        if (v[i].id == id)
            return v[i].name;
    if (group) {
        struct group g, *res = NULL;
        if (getgrgid_r(id, &g, buf, sizeof(buf), &res) == 0 && res)
            snprintf(name, sizeof(name), "%s", res->gr_name);
    } else {
        struct passwd p, *res = NULL;
        if (getpwuid_r(id, &p, buf, sizeof(buf), &res) == 0 && res)
            snprintf(name, sizeof(name), "%s", res->pw_name);
    }
    if (*n < 64) {
        v[*n].id = id;
        memcpy(v[*n].name, name, sizeof(name));
        return v[(*n)++].name;
    }
    return strdup(name);
}

static bool in_range(const void *p, const void *start, size_t size)
{
    return (uintptr_t)p >= (uintptr_t)start && (uintptr_t)p < (uintptr_t)start + size;
}

/* A node's memory, but for the names that belong to b's table. */
static void node_release(backup_run *b, cs_node *nd)
{
    if (in_range(nd->user, b->users, sizeof(b->users)))
        nd->user = NULL;
    if (in_range(nd->group, b->groups, sizeof(b->groups)))
        nd->group = NULL;
    cs_node_clear(nd);
}

/* The extended attributes of an entry, through fd when open (no path walk),
 * else by path.  1 when it has none for certain (an error other than "not
 * supported" leaves that unknown: 0), 0 when it has some, or -ENOMEM: a
 * snapshot never silently lacks an attribute it could not copy. */
static int read_xattrs(const char *path, int fd, cs_node *nd)
{
    char list[16384];
    ssize_t len = fd >= 0 ? flistxattr(fd, list, sizeof(list)) : llistxattr(path, list, sizeof(list));
    uint16_t count = 0;

    if (len <= 0)
        return len == 0 || errno == ENOTSUP;
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
        count++;
    if (count > CS_XATTR_MAX_COUNT)
        count = CS_XATTR_MAX_COUNT;
    nd->xattrs = calloc(count, sizeof(*nd->xattrs));
    if (!nd->xattrs)
        return -ENOMEM;
    for (ssize_t i = 0; i < len && nd->nxattrs < count; i += (ssize_t)strlen(list + i) + 1) {
        uint8_t val[CS_XATTR_VALUE_MAX];
        ssize_t vl = fd >= 0 ? fgetxattr(fd, list + i, val, sizeof(val)) : lgetxattr(path, list + i, val, sizeof(val));
        cs_xattr *x = &nd->xattrs[nd->nxattrs];
        if (vl < 0 || strlen(list + i) > 255)
            continue; /* removed since the listing */
        x->name = strdup(list + i);
        x->value = malloc(vl ? (size_t)vl : 1);
        if (!x->name || !x->value) {
            free(x->name);
            free(x->value);
            return -ENOMEM;
        }
        memcpy(x->value, val, (size_t)vl);
        x->len = (uint32_t)vl;
        nd->nxattrs++;
    }
    return 0;
}

static int node_from_stat(backup_run *b, int dirfd, const char *name, const char *path, const struct stat *st,
                          cs_node *nd)
{
    char *own = nd->name; /* the caller's: the directory listing's copy */

    memset(nd, 0, sizeof(*nd));
    nd->name = own;
    switch (st->st_mode & S_IFMT) {
    case S_IFREG: nd->type = CS_NODE_FILE; break;
    case S_IFDIR: nd->type = CS_NODE_DIR; break;
    case S_IFLNK: nd->type = CS_NODE_SYMLINK; break;
    case S_IFIFO: nd->type = CS_NODE_FIFO; break;
    case S_IFSOCK: nd->type = CS_NODE_SOCKET; break;
    case S_IFCHR: nd->type = CS_NODE_CHR; break;
    case S_IFBLK: nd->type = CS_NODE_BLK; break;
    default: return -EINVAL;
    }
    nd->name_len = (uint16_t)strlen(name);
    nd->mode = st->st_mode;
    nd->uid = st->st_uid;
    nd->gid = st->st_gid;
    nd->user = name_of(b, st->st_uid, false);
    nd->group = name_of(b, st->st_gid, true);
    nd->mtime_s = st->st_mtim.tv_sec;
    nd->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
    nd->ctime_s = st->st_ctim.tv_sec;
    nd->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
    nd->size = nd->type == CS_NODE_FILE ? (uint64_t)st->st_size : 0;
    nd->inode = st->st_ino;
    nd->dev = st->st_dev;
    nd->nlink = (uint32_t)st->st_nlink;
    nd->rdev = (nd->type == CS_NODE_CHR || nd->type == CS_NODE_BLK) ? st->st_rdev : 0;
    if (nd->type == CS_NODE_FILE && (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size)
        nd->flags |= CS_NODE_SPARSE;
    if (!nd->user || !nd->group)
        return -ENOMEM;
    if (nd->type == CS_NODE_SYMLINK) {
        char target[CS_NAME_MAX + 1];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return -errno;
        nd->link = strndup(target, (size_t)n);
        nd->link_len = (uint16_t)n;
        if (!nd->link)
            return -ENOMEM;
    }
    /* files: after the file-change cache (queue_files); directories: through their fd (descend) */
    if (nd->type != CS_NODE_FILE && nd->type != CS_NODE_DIR)
        return read_xattrs(path, -1, nd) < 0 ? -ENOMEM : 0;
    return 0;
}

/* The file a worker read may be another version than the walk saw: record
 * the metadata of the version read, so that content and metadata agree. */
static int node_refresh(backup_run *b, cs_node *nd, const struct stat *st)
{
    if (nd->uid != st->st_uid) {
        if (!in_range(nd->user, b->users, sizeof(b->users)))
            free(nd->user);
        nd->user = name_of(b, st->st_uid, false);
    }
    if (nd->gid != st->st_gid) {
        if (!in_range(nd->group, b->groups, sizeof(b->groups)))
            free(nd->group);
        nd->group = name_of(b, st->st_gid, true);
    }
    nd->mode = st->st_mode;
    nd->uid = st->st_uid;
    nd->gid = st->st_gid;
    nd->mtime_s = st->st_mtim.tv_sec;
    nd->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
    nd->ctime_s = st->st_ctim.tv_sec;
    nd->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
    nd->inode = st->st_ino;
    nd->dev = st->st_dev;
    nd->nlink = (uint32_t)st->st_nlink;
    nd->flags &= ~CS_NODE_SPARSE;
    if ((uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size)
        nd->flags |= CS_NODE_SPARSE;
    return nd->user && nd->group ? 0 : -ENOMEM;
}

/* --------------------------------------------------------------- excludes */

/* The literal head of an absolute pattern (escapes undone, up to the first
 * wildcard): a path that does not start with it cannot match, which spares
 * fnmatch() on every entry for the common patterns (cloudseal's own
 * directories, /home/x/.cache/...).  NULL for relative patterns. */
static char *literal_head(const char *pat)
{
    size_t l = strlen(pat), k = 0;
    char *h;

    if (pat[0] != '/' || !(h = malloc(l + 1)))
        return NULL;
    for (size_t i = 0; i < l && !strchr("*?[", pat[i]); i++) {
        if (pat[i] == '\\' && ++i == l)
            break;
        h[k++] = pat[i];
    }
    if (k && h[k - 1] == '/')
        k--; /* "dir/" also names "dir"; a shorter head is still a head */
    h[k] = '\0';
    return h;
}

static int exclude_hints(backup_run *b)
{
    if (!b->o->nexcludes)
        return 0;
    if (!(b->ex_prefix = calloc(b->o->nexcludes, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < b->o->nexcludes; i++)
        b->ex_prefix[i] = literal_head(b->o->excludes[i]);
    return 0;
}

static void exclude_hints_free(backup_run *b)
{
    for (size_t i = 0; b->ex_prefix && i < b->o->nexcludes; i++)
        free(b->ex_prefix[i]);
    free(b->ex_prefix);
}

/* The patterns that may match an entry of directory dir: an absolute one
 * whose literal head neither starts with dir + "/" nor is a prefix of dir
 * matches nothing in it (bit i: pattern i; from 64 on, always tried). */
static uint64_t excludes_for(const backup_run *b, const char *dir)
{
    size_t dl = strlen(dir);
    uint64_t m = 0;

    for (size_t i = 0; i < b->o->nexcludes && i < 64; i++) {
        const char *h = b->ex_prefix ? b->ex_prefix[i] : NULL;
        size_t hl = h ? strlen(h) : 0;
        if (!h || (hl <= dl ? strncmp(dir, h, hl) == 0 : strncmp(h, dir, dl) == 0 && h[dl] == '/'))
            m |= 1ull << i;
    }
    return m;
}

static bool excluded(const backup_run *b, const char *name, const char *path, bool is_dir, uint64_t mask)
{
    for (size_t i = 0; i < b->o->nexcludes; i++) {
        if (i < 64 && !(mask & (1ull << i)))
            continue;
        char pat[4096];
        const char *p = b->o->excludes[i], *h = b->ex_prefix ? b->ex_prefix[i] : NULL;
        size_t l = strlen(p);
        if (h && strncmp(path, h, strlen(h)) != 0)
            continue;
        if (l == 0 || l >= sizeof(pat))
            continue;
        memcpy(pat, p, l + 1);
        if (pat[l - 1] == '/') { /* "dir/": directories only */
            if (!is_dir)
                continue;
            pat[--l] = '\0';
            if (!l)
                continue;
        }
        if (pat[0] == '/' ? fnmatch(pat, path, FNM_PATHNAME) == 0
                          : (fnmatch(pat, name, 0) == 0 || (strchr(pat, '/') && fnmatch(pat, path, 0) == 0)))
            return true;
    }
    return false;
}

/* --exclude-caches, --exclude-if-present: a directory holding a marker file
 * is left out.  CACHEDIR.TAG counts only with its signature (the Cache
 * Directory Tagging Specification), so that a stray file of that name never
 * hides data. */
#define CACHEDIR_SIGNATURE "Signature: 8a477f597d28d172789f06886806bc55"

static bool marked(const backup_run *b, int dirfd, const char *name)
{
    char p[4096], sig[sizeof(CACHEDIR_SIGNATURE) - 1];
    struct stat st;
    bool tagged = false;

    for (size_t i = 0; i < b->o->nexclude_if_present; i++)
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", name, b->o->exclude_if_present[i]) < sizeof(p) &&
            fstatat(dirfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return true;
    if (b->o->exclude_caches && (size_t)snprintf(p, sizeof(p), "%s/CACHEDIR.TAG", name) < sizeof(p)) {
        int fd = openat(dirfd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            tagged = read(fd, sig, sizeof(sig)) == (ssize_t)sizeof(sig) && memcmp(sig, CACHEDIR_SIGNATURE,
                                                                                   sizeof(sig)) == 0;
            close(fd);
        }
    }
    return tagged;
}

/* ------------------------------------------------------------------ walk */

static void frame_free(frame *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        node_release(f->b, &f->nodes[i]);
        if (f->jobs && f->jobs[i]) {
            free(f->jobs[i]->ids);
            free(f->jobs[i]);
        }
        if (f->sub && f->sub[i])
            frame_free(f->sub[i]);
    }
    free(f->nodes);
    free(f->jobs);
    free(f->sub);
    free(f->stats);
    free(f->path);
    cs_fcache_dir_free(f->fcd);
    if (f->dirfd >= 0)
        close(f->dirfd);
    free(f);
}

/* Encode the directory's tree blob once every file in it is done. */
static int finalize(backup_run *b, frame *f)
{
    cs_buf *enc = &b->tree_enc, *out = &b->tree_out;
    size_t k = 0;
    int rc;

    for (size_t i = 0; i < f->n; i++) {
        cs_node *nd = &f->nodes[i];
        job *j = f->jobs ? f->jobs[i] : NULL;
        frame *s = f->sub ? f->sub[i] : NULL;
        bool drop = false;
        if (j) {
            int re = atomic_load(&b->repo_err);
            if (j->err < 0 && re < 0) {
                /* the repository failed, not this file: the backup fails */
                if (!b->fatal) {
                    /* a full disk is the caller's to explain: it knows where the repository is */
                    if (re != -ENOSPC && re != -EDQUOT)
                        log_error_errno(re, "cannot store data in the repository: %m; no snapshot is written");
                    b->fatal = re;
                }
                drop = true;
            } else if (j->err == -ENOMEM) {
                /* an attribute or content list not kept: never a short snapshot */
                log_error("%s/%s: out of memory; no snapshot is written", f->path, nd->name);
                if (!b->fatal)
                    b->fatal = -ENOMEM;
                drop = true;
            } else if (j->err < 0) {
                log_warning_errno(j->err, "skipping %s/%s", f->path, nd->name);
                b->errors++;
                drop = true;
            } else if (j->vanished) {
                log_notice("%s/%s vanished before it could be read: not in this snapshot", f->path, nd->name);
                b->vanished++;
                drop = true;
            } else {
                if (j->unstable) {
                    log_warning("%s/%s kept changing while it was read (%d times): saved as last read, "
                                "it may mix old and new data", f->path, nd->name, CS_BACKUP_READ_TRIES);
                    b->unstable++;
                }
                if (node_refresh(b, nd, &j->st) < 0 && !b->fatal)
                    b->fatal = -ENOMEM;
                nd->content = j->ids;
                nd->ncontent = j->n;
                nd->size = j->bytes;
                j->ids = NULL;
                if (!j->unstable && j->st.st_ctim.tv_sec < b->start_sec) {
                    cs_fcache_dir_put(f->fcd, nd->name, &j->st, nd->content, nd->ncontent, j->no_xattrs);
                }
            }
        }
        if (s) {
            if (s->failed) {
                drop = true;
                f->failed = s->failed && b->fatal;
            } else {
                nd->subtree = s->tree;
            }
        }
        if (drop) {
            node_release(b, nd);
            continue;
        }
        if (k != i) {
            f->nodes[k] = *nd;
            memset(nd, 0, sizeof(*nd));
        }
        k++;
    }
    /* the new file cache takes the directory's entries in the order the walk opened them */
    cs_fcache_dir_close(f->fcd);
    f->fcd = NULL;
    /* nodes [k, n) are cleared; keep n for frame_free */
    cs_buf_reset(enc);
    cs_buf_reset(out);
    rc = cs_tree_encode(f->nodes, k, enc);
    if (rc == 0)
        rc = save_blob(b, CS_BLOB_TREE, enc->data, enc->len, &f->tree, b->zctx, out);
    if (rc < 0) {
        f->failed = true;
        if (!b->fatal)
            b->fatal = rc;
    }
    f->finalized = true;
    b->dirs++;
    if (f->dirfd >= 0) {
        close(f->dirfd);
        f->dirfd = -1;
    }
    /* the subframes' trees are stored: free them now */
    for (size_t i = 0; f->sub && i < f->n; i++) {
        frame_free(f->sub[i]);
        f->sub[i] = NULL;
    }
    return rc;
}

/* Finalise frames at the head of the FIFO whose files are all done; when
 * block, wait until the FIFO is below its bound (or empty for block == 2). */
static void drain(backup_run *b, int block)
{
    for (;;) {
        frame *f;
        pthread_mutex_lock(&b->mu);
        f = b->fifo_head;
        if (f && f->pending && (block == 2 || (block == 1 && b->fifo_len > FIFO_MAX))) {
            while (f->pending)
                pthread_cond_wait(&b->cv_done, &b->mu);
        }
        if (!f || f->pending) {
            pthread_mutex_unlock(&b->mu);
            return;
        }
        b->fifo_head = f->next;
        if (!b->fifo_head)
            b->fifo_tail = NULL;
        b->fifo_len--;
        pthread_mutex_unlock(&b->mu);
        finalize(b, f);
    }
}

static void fifo_push(backup_run *b, frame *f)
{
    pthread_mutex_lock(&b->mu);
    f->next = NULL;
    if (b->fifo_tail)
        b->fifo_tail->next = f;
    else
        b->fifo_head = f;
    b->fifo_tail = f;
    b->fifo_len++;
    pthread_mutex_unlock(&b->mu);
}

static int frame_add(frame *f, const char *name, const struct stat *st)
{
    (void)name;
    if (CS_GREEDY_REALLOC(f->nodes, f->cap, f->n + 1) < 0 ||
        CS_GREEDY_REALLOC(f->stats, f->stats_cap, f->n + 1) < 0)
        return -ENOMEM;
    f->stats[f->n] = *st;
    memset(&f->nodes[f->n], 0, sizeof(f->nodes[0]));
    f->n++;
    return 0;
}

static frame *scan_dir(backup_run *b, int dirfd, const char *path, const selection *s);

/* Entries of one directory: all of them, or only those selected.  A name
 * that cannot be copied fails the walk: a short list would be saved as a
 * complete snapshot. */
static int collect(const frame *f, const selection *s, cs_strv *names)
{
    _cleanup_close_ int fd = -1;
    DIR *d;
    struct dirent *e;
    int r = 0;

    if (s && !s->all) {
        for (size_t i = 0; i < s->nkids && r == 0; i++)
            r = cs_strv_add(names, s->kids[i].name);
        return r;
    }
    if ((fd = dup(f->dirfd)) < 0 || !(d = fdopendir(fd)))
        return -errno;
    fd = -1; /* the DIR owns it */
    while (r == 0) {
        errno = 0;
        if (!(e = readdir(d))) {
            r = -errno;
            break;
        }
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        r = cs_strv_add(names, e->d_name);
    }
    closedir(d);
    return r;
}

static const selection *sel_kid(const selection *s, const char *name)
{
    if (!s || s->all)
        return NULL;
    for (size_t i = 0; i < s->nkids; i++)
        if (strcmp(s->kids[i].name, name) == 0)
            return &s->kids[i];
    return NULL;
}

/* Whether an entry goes into the snapshot: anything named on the command
 * line (ks); else what no exclude pattern or marker file leaves out and,
 * with one_file_system, no directory of another file system. */
static bool should_include(backup_run *b, const frame *f, const char *name, const char *full, const struct stat *st,
                           const selection *ks)
{
    bool dir = S_ISDIR(st->st_mode);

    if (ks)
        return true;
    if (excluded(b, name, full, dir, f->excludes) || (dir && marked(b, f->dirfd, name)))
        return false;
    return !(b->o->one_file_system && dir && st->st_dev != b->root_dev);
}

/* dir + "/" + name in b's path buffer, valid until the next join() (one
 * path per entry, without a printf and a malloc for each). */
static const char *join(backup_run *b, const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);

    if (CS_GREEDY_REALLOC(b->pbuf, b->pcap, dl + nl + 2) < 0)
        return NULL;
    memcpy(b->pbuf, dir, dl);
    b->pbuf[dl] = '/';
    memcpy(b->pbuf + dl + 1, name, nl + 1);
    return b->pbuf;
}

/* One entry into f's nodes: stat, include, read its metadata.  What
 * vanished or cannot be read is counted and left out; ENOMEM is returned.
 * The node takes *namep when it is added. */
static int add_entry(backup_run *b, frame *f, const char *path, char **namep, const selection *ks)
{
    const char *name = *namep;
    const char *full = join(b, path, name);
    struct stat st;
    int r;

    if (!full)
        return -ENOMEM;
    if (fstatat(f->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT || ks) {
            log_warning_errno(-errno, "cannot stat %s", full);
            b->errors++;
        } else {
            log_notice("%s vanished before it could be read: not in this snapshot", full);
            b->vanished++;
        }
        return 0;
    }
    if (!should_include(b, f, name, full, &st, ks))
        return 0;
    if (frame_add(f, name, &st) < 0)
        return -ENOMEM;
    f->nodes[f->n - 1].name = *namep;
    *namep = NULL;
    r = node_from_stat(b, f->dirfd, name, full, &st, &f->nodes[f->n - 1]);
    if (r < 0) {
        node_release(b, &f->nodes[f->n - 1]);
        f->n--;
        if (r == -ENOMEM)
            return r;
        log_warning_errno(r, "cannot read %s", full);
        b->errors++;
    }
    return 0;
}

/* Name order, the canonical tree encoding: strcmp() orders as cs_name_cmp()
 * (unsigned bytes, a prefix first).  Sorting the names before the entries
 * are added moves pointers, not nodes and their stats. */
static int name_ptr_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A file the file-change cache knows, with every blob still in the index:
 * its content list is taken from the cache instead of reading it, and its
 * extended attributes are read only if it had some.  1 when taken, 0 (hit 0
 * or 2 in *hit) when it must be read. */
static int from_cache(backup_run *b, frame *f, size_t i, const char *path, int *hit)
{
    cs_node *nd = &f->nodes[i];
    const char *full;
    const cs_id *ids;
    uint32_t nids;
    bool all = true, known_none = false;
    int nox;

    *hit = cs_fcache_dir_lookup(f->fcd, nd->name, &f->stats[i], &ids, &nids, &known_none);
    nox = known_none;
    if (*hit != 1)
        return 0;
    pthread_mutex_lock(&b->r->index.lock);
    for (uint32_t k = 0; k < nids && all; k++)
        all = cs_index_find(&b->r->index, &ids[k]) != NULL;
    pthread_mutex_unlock(&b->r->index.lock);
    if (!all || !(nd->content = malloc((nids ? nids : 1) * sizeof(cs_id))))
        return 0;
    if (nids)
        memcpy(nd->content, ids, nids * sizeof(cs_id));
    nd->ncontent = nids;
    /* the lookup marked it seen; written back only when "no xattrs" is learnt
     * (read after the stat, "none" holds for it) */
    if (!nox && (!(full = join(b, path, nd->name)) || (nox = read_xattrs(full, -1, nd)) < 0))
        return -ENOMEM;
    if (nox == 1 && !known_none)
        cs_fcache_dir_put(f->fcd, nd->name, &f->stats[i], ids, nids, true);
    b->files_unchanged++;
    b->files++;
    b->bytes += nd->size;
    return 1;
}

/* Files: from the cache, or queued for the workers.  Called for each
 * directory after its subdirectories (post-order), the order of the cache. */
static int queue_files(backup_run *b, frame *f, const char *path)
{
    if (b->fc && !(f->fcd = cs_fcache_dir_open(b->fc, path)))
        return -ENOMEM;
    for (size_t i = 0; i < f->n && !b->fatal; i++) {
        int hit;
        job *j;
        if (f->nodes[i].type != CS_NODE_FILE)
            continue;
        int taken = from_cache(b, f, i, path, &hit);
        if (taken < 0)
            return taken;
        if (taken)
            continue;
        if (hit)
            b->files_changed++;
        else
            b->files_new++;
        if (!(j = calloc(1, sizeof(*j))))
            return -ENOMEM;
        j->fr = f;
        j->idx = i;
        f->jobs[i] = j; /* freed with the frame */
        j->st = f->stats[i];
        submit(b, j); /* its xattrs are read by the worker, through the open file */
    }
    return 0;
}

/* A directory that cannot be opened keeps its node (metadata) with an empty
 * tree; one gone or replaced by another type is left out like a vanished file. */
static frame *unreadable_dir(backup_run *b, const char *full, int err)
{
    bool gone = err == ENOENT || err == ENOTDIR || err == ELOOP;
    frame *empty;

    if (gone) {
        log_notice("%s vanished before it could be read: not in this snapshot", full);
        b->vanished++;
    } else {
        log_warning_errno(-err, "cannot open directory %s", full);
        b->errors++;
    }
    if (!(empty = calloc(1, sizeof(*empty)))) {
        b->fatal = -ENOMEM;
        return NULL;
    }
    empty->b = b;
    empty->dirfd = -1;
    empty->failed = gone;
    if (!(empty->path = strdup(full)))
        b->fatal = -ENOMEM;
    fifo_push(b, empty);
    return empty;
}

/* Subdirectories, depth first. */
static int descend(backup_run *b, frame *f, const char *path, const selection *s)
{
    for (size_t i = 0; i < f->n && !b->fatal; i++) {
        cs_node *nd = &f->nodes[i];
        _cleanup_free_ char *full = NULL;
        int fd, err;
        if (nd->type != CS_NODE_DIR) {
            if (nd->type != CS_NODE_FILE)
                b->others++;
            continue;
        }
        if (asprintf(&full, "%s/%s", path, nd->name) < 0) {
            full = NULL;
            return -ENOMEM;
        }
        fd = openat(f->dirfd, nd->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        err = errno;
        if (read_xattrs(full, fd, nd) < 0) {
            if (fd >= 0)
                close(fd);
            return -ENOMEM;
        }
        f->sub[i] = fd < 0 ? unreadable_dir(b, full, err) : scan_dir(b, fd, full, sel_kid(s, nd->name));
        drain(b, 1);
    }
    return 0;
}

/* One directory: list, stat, sort, descend, queue its files.  Every
 * failure to allocate is fatal (b->fatal): a snapshot must never be short. */
static frame *scan_dir(backup_run *b, int dirfd, const char *path, const selection *s)
{
    frame *f = calloc(1, sizeof(*f));
    _cleanup_strv_ cs_strv names = CS_STRV_INIT;
    int r;

    if (!f)
        return NULL;
    f->b = b;
    f->dirfd = dirfd;
    if (!(f->path = strdup(path)))
        b->fatal = -ENOMEM;
    if ((r = collect(f, s, &names)) == -ENOMEM) {
        b->fatal = r;
    } else if (r < 0) {
        log_warning_errno(r, "cannot read directory %s", path[0] ? path : "/");
        b->errors++;
    }
    if (names.n > 1)
        qsort(names.v, names.n, sizeof(char *), name_ptr_cmp);
    f->excludes = excludes_for(b, path);
    for (size_t i = 0; i < names.n && !b->fatal; i++)
        if ((r = add_entry(b, f, path, &names.v[i], sel_kid(s, names.v[i]))) < 0)
            b->fatal = r;
    f->jobs = calloc(f->n ? f->n : 1, sizeof(job *));
    f->sub = calloc(f->n ? f->n : 1, sizeof(frame *));
    if (!f->jobs || !f->sub) {
        f->failed = true;
        b->fatal = -ENOMEM;
        fifo_push(b, f);
        return f;
    }
    /* subdirectories first: the file cache is in post-order */
    if ((r = descend(b, f, path, s)) < 0 || (r = queue_files(b, f, path)) < 0)
        b->fatal = r;
    fifo_push(b, f);
    drain(b, 0);
    return f;
}

/* ------------------------------------------------------------- selections */

static void sel_free(selection *s)
{
    for (size_t i = 0; i < s->nkids; i++)
        sel_free(&s->kids[i]);
    free(s->kids);
    free(s->name);
}

static int sel_add(selection *root, const char *path)
{
    char *copy = strdup(path), *save = NULL, *comp;
    selection *cur = root;

    if (!copy)
        return -ENOMEM;
    for (comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        selection *k = NULL;
        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            free(copy);
            return -EINVAL;
        }
        if (cur->all)
            break;
        for (size_t i = 0; i < cur->nkids; i++)
            if (strcmp(cur->kids[i].name, comp) == 0)
                k = &cur->kids[i];
        if (!k) {
            selection *nv = realloc(cur->kids, (cur->nkids + 1) * sizeof(*nv));
            if (!nv) {
                free(copy);
                return -ENOMEM;
            }
            cur->kids = nv;
            k = &cur->kids[cur->nkids++];
            memset(k, 0, sizeof(*k));
            if (!(k->name = strdup(comp))) {
                free(copy);
                return -ENOMEM;
            }
        }
        cur = k;
    }
    if (cur == root) {
        free(copy);
        return -EINVAL; /* "/" or "." itself: name a directory below it */
    }
    cur->all = true;
    for (size_t i = 0; i < cur->nkids; i++)
        sel_free(&cur->kids[i]);
    free(cur->kids);
    cur->kids = NULL;
    cur->nkids = 0;
    free(copy);
    return 0;
}

/* --------------------------------------------------------------- progress */

/* For the ETA: a stat-only walk of the same paths (excludes ignored, so it
 * is an upper bound), run beside the backup only when progress is shown. */
static _Atomic uint64_t est_files, est_bytes;
static int est_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode)) {
        est_files++;
        est_bytes += (uint64_t)st->st_size;
    }
    return 0;
}

static void *estimate_thread(void *arg)
{
    backup_run *b = arg;

    est_files = est_bytes = 0;
    for (size_t i = 0; i < b->o->npaths; i++)
        nftw(b->o->paths[i], est_cb, 16, FTW_PHYS | (b->o->one_file_system ? FTW_MOUNT : 0));
    b->total_files = est_files;
    b->total_bytes = est_bytes;
    return NULL;
}

static void *progress_thread(void *arg)
{
    backup_run *b = arg;
    struct timespec ts;

    pthread_mutex_lock(&b->prog_mu);
    while (!b->prog_stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&b->prog_cv, &b->prog_mu, &ts);
        if (b->prog_stop)
            break;
        cs_progress p = { .files = b->files, .dirs = b->dirs, .bytes = b->bytes,
                          .bytes_added = b->bytes_added, .errors = b->errors, .elapsed = elapsed(b),
                          .total_files = b->total_files, .total_bytes = b->total_bytes };
        b->o->progress(&p, b->o->progress_ud);
    }
    pthread_mutex_unlock(&b->prog_mu);
    return NULL;
}

/* ---------------------------------------------------------------- dry run */

/* nftw has no user data: one listing at a time (the CLI's). */
static struct {
    backup_run b;
    cs_backup_list_cb cb;
    void *ud;
} dry_listing;

static int list_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    bool dir = type == FTW_D || type == FTW_DNR;

    if (type == FTW_NS)
        return FTW_CONTINUE;
    /* the same rules as the backup's walk; what was named is always in */
    if (ftw->level > 0 &&
        (excluded(&dry_listing.b, path + ftw->base, path, dir, UINT64_MAX) ||
         (dir && marked(&dry_listing.b, AT_FDCWD, path))))
        return dir ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
    dry_listing.cb(path, st, dry_listing.ud);
    return FTW_CONTINUE;
}

int cs_backup_list(const cs_backup_opts *o, cs_backup_list_cb cb, void *ud)
{
    int rc = 0;

    memset(&dry_listing, 0, sizeof(dry_listing));
    dry_listing.b.o = o;
    dry_listing.cb = cb;
    dry_listing.ud = ud;
    for (size_t i = 0; i < o->npaths && rc == 0; i++)
        if (nftw(o->paths[i], list_cb, 16, FTW_PHYS | FTW_ACTIONRETVAL | (o->one_file_system ? FTW_MOUNT : 0)) < 0)
            rc = -errno;
    return rc;
}

/* ------------------------------------------------------------------- main */

static int run(backup_run *b, cs_snapshot *snap)
{
    const cs_backup_opts *o = b->o;
    selection root = { 0 };
    bool absolute = o->npaths && o->paths[0][0] == '/';
    struct stat rst;
    frame *rf;
    int rc = 0, rootfd;
    char *rootpath;

    for (size_t i = 0; i < o->npaths; i++) {
        if ((o->paths[i][0] == '/') != absolute) {
            log_error("give either absolute or relative paths, not both");
            sel_free(&root);
            return -EINVAL;
        }
        if ((rc = sel_add(&root, o->paths[i])) == -ENOMEM) {
            sel_free(&root);
            return rc;
        }
        if (rc < 0) {
            log_error("cannot back up '%s': name a directory or file, without '..'", o->paths[i]);
            sel_free(&root);
            return rc;
        }
    }
    if (absolute) {
        rootpath = strdup("");
        rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        rootpath = getcwd(NULL, 0);
        rootfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootpath && strcmp(rootpath, "/") == 0)
            rootpath[0] = '\0';
    }
    if (rootfd < 0 || !rootpath) {
        free(rootpath);
        sel_free(&root);
        return rootfd < 0 ? -errno : -ENOMEM;
    }
    fstat(rootfd, &rst);
    b->root_dev = rst.st_dev;
    if (o->one_file_system && root.nkids) {
        struct stat ps;
        if (fstatat(rootfd, o->paths[0][0] == '/' ? o->paths[0] + 1 : o->paths[0], &ps, 0) == 0)
            b->root_dev = ps.st_dev;
    }
    rf = scan_dir(b, rootfd, rootpath, &root);
    log_debug("walk done at %.2f s", elapsed(b));
    drain(b, 2);
    log_debug("all files done at %.2f s", elapsed(b));
    if (!rf || rf->failed || b->fatal)
        rc = b->fatal ? b->fatal : -EIO;
    else
        snap->tree = rf->tree;
    frame_free(rf);
    free(rootpath);
    sel_free(&root);
    return rc;
}

static int fill_snapshot(backup_run *b, cs_snapshot *s)
{
    char host[256] = "";
    struct timespec now;
    struct passwd pw, *res = NULL;
    char buf[4096];

    clock_gettime(CLOCK_REALTIME, &now);
    s->time_sec = now.tv_sec;
    s->time_ns = (uint32_t)now.tv_nsec;
    if (b->o->host)
        snprintf(host, sizeof(host), "%s", b->o->host);
    else
        gethostname(host, sizeof(host) - 1);
    s->host = strdup(host);
    s->uid = getuid();
    s->user = strdup(getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res ? res->pw_name : "");
    s->paths = calloc(b->o->npaths ? b->o->npaths : 1, sizeof(char *));
    s->tags = calloc(b->o->ntags ? b->o->ntags : 1, sizeof(char *));
    if (!s->host || !s->user || !s->paths || !s->tags)
        return -ENOMEM;
    for (size_t i = 0; i < b->o->npaths; i++, s->npaths++)
        if (!(s->paths[s->npaths] = strdup(b->o->paths[i])))
            return -ENOMEM;
    for (size_t i = 0; i < b->o->ntags; i++, s->ntags++)
        if (!(s->tags[s->ntags] = strdup(b->o->tags[i])))
            return -ENOMEM;
    return 0;
}

static void set_parent(cs_repo *r, cs_snapshot *s)
{
    cs_snapshot *v = NULL;
    size_t n = 0;

    if (cs_snapshot_list(r, &v, &n, NULL) < 0)
        return;
    for (size_t i = n; i-- > 0;) {
        bool same = v[i].npaths == s->npaths && strcmp(v[i].host, s->host) == 0;
        for (size_t k = 0; same && k < s->npaths; k++)
            same = strcmp(v[i].paths[k], s->paths[k]) == 0;
        if (same) {
            s->has_parent = true;
            s->parent = v[i].id;
            break;
        }
    }
    cs_snapshots_free(v, n);
}

static int save_fcache_task(void *arg)
{
    backup_run *b = arg;
    int cr = b->fc ? cs_fcache_save(b->fc) : 0;

    if (cr < 0)
        log_warning_errno(cr, "could not save the file cache (%m): the next backup reads every file");
    return 0;
}

static int unlock_task(void *arg)
{
    cs_repo_unlock(arg); /* reports its own failure: the snapshot is stored, the backup succeeded */
    return 0;
}

/* The snapshot is stored: save the file cache (local disk) while the lock's
 * DELETE is in flight, so that round trip adds nothing to the backup. */
static void save_and_unlock(backup_run *b)
{
    cs_storage_task t[2] = { { .fn = save_fcache_task, .arg = b }, { .fn = unlock_task, .arg = b->r } };

    cs_storage_run_tasks(b->r->st, t, 2);
}

int cs_backup(cs_repo *r, const cs_backup_opts *o, cs_snapshot *snap)
{
    backup_run *b;
    int rc, nw;

    assert(r && o);
    nw = o->workers;
    if (!r->chunker) { /* opened without its config (repo_config.c) */
        log_error("backup refused: the repository config is damaged and no copy of it is on this machine; "
                  "a new one would cut files differently and nothing would deduplicate against the stored "
                  "data; run 'cloudseal repair config' where the repository was used before");
        return -EBADMSG;
    }
    if (!(b = calloc(1, sizeof(*b))))
        return -ENOMEM;
    memset(snap, 0, sizeof(*snap));
    if (o->npaths == 0) {
        free(b);
        return -EINVAL;
    }
    b->r = r;
    b->o = o;
    /* Buffers of a MiB and more (read buffers, packs, compression scratch)
     * are mmapped and given back on free.  glibc otherwise raises its mmap
     * threshold after the first such free and serves later ones from the
     * threads' arenas, which keep the memory: measured +15-25 MiB of peak RSS
     * from run to run on the benchmark.  Pinning the threshold also pins
     * the trim threshold at 128 KiB: every directory's frame freed at the
     * top of a heap gave its pages back (brk, madvise) and the next ones
     * faulted them in again.  2 MiB is what glibc's own adjustment would
     * set (twice the mmap threshold): on the 1 M tree 91 k -> 66 k page
     * faults at the same peak RSS; 8 MiB saved no more and kept 5 MiB more. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 2 << 20);
    clock_gettime(CLOCK_MONOTONIC, &b->t0);
    b->start_sec = time(NULL);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv_job, NULL);
    pthread_cond_init(&b->cv_done, NULL);
    pthread_cond_init(&b->cv_share, NULL);
    pthread_mutex_init(&b->prog_mu, NULL);
    pthread_cond_init(&b->prog_cv, NULL);
    if (nw <= 0)
        nw = cs_usable_cores();
    if (nw > MAX_WORKERS)
        nw = MAX_WORKERS;

    rc = exclude_hints(b);
    /* opened with CS_REPO_OPEN_LOCKED: locked, and the index listed after */
    if (rc == 0 && !r->has_lock)
        rc = cs_repo_lock(r, false);
    if (rc == 0 && !r->index_after_lock)
        rc = cs_repo_reload_index(r);
    r->index_after_lock = false; /* a second backup on this handle reads it again */
    if (rc < 0)
        goto out;
    if (o->cache_dir && (rc = cs_fcache_load(r, o->cache_dir, &b->fc)) < 0)
        goto out;
    b->zctx = cs_zctx_new();
    if (!b->zctx || (rc = cs_pack_writer_new(r, 3, &b->writer)) < 0) {
        rc = rc < 0 ? rc : -ENOMEM;
        goto out;
    }
    for (int i = 0; i < nw; i++)
        if (pthread_create(&b->workers[i], NULL, worker, b) == 0)
            b->nworkers++;
    if (o->progress && pthread_create(&b->prog_thread, NULL, progress_thread, b) == 0)
        b->prog_running = true;
    if (o->progress && pthread_create(&b->est_thread, NULL, estimate_thread, b) == 0)
        b->est_running = true;

    rc = fill_snapshot(b, snap);
    if (rc == 0)
        rc = run(b, snap);

    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->cv_job);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->nworkers; i++)
        pthread_join(b->workers[i], NULL);
    if (b->est_running)
        pthread_join(b->est_thread, NULL);
    if (b->prog_running) {
        pthread_mutex_lock(&b->prog_mu);
        b->prog_stop = true;
        pthread_cond_signal(&b->prog_cv);
        pthread_mutex_unlock(&b->prog_mu);
        pthread_join(b->prog_thread, NULL);
    }
    /* packs, then the index naming them, then the snapshot naming the trees */
    if (rc == 0)
        rc = cs_pack_writer_finish(b->writer);
    if (rc == 0) {
        set_parent(r, snap);
        snap->summary = (cs_backup_summary){
            .files_new = b->files_new, .files_changed = b->files_changed,
            .files_unchanged = b->files_unchanged, .dirs = b->dirs, .others = b->others,
            .bytes_processed = b->bytes, .bytes_added = b->bytes_added, .bytes_stored = b->bytes_stored,
            .blobs_added = b->blobs_added, .errors = b->errors, .files_vanished = b->vanished,
            .files_unstable = b->unstable, .duration = elapsed(b),
        };
        rc = cs_snapshot_write(r, snap);
    }
    if (rc == 0)
        save_and_unlock(b);
    if (rc == 0)
        snap->summary.duration = elapsed(b);
    if (rc == 0 && (b->errors || b->unstable))
        rc = 1;
out:
    cs_pack_writer_free(b->writer);
    cs_fcache_free(b->fc);
    cs_zctx_free(b->zctx);
    cs_repo_unlock(r);
    exclude_hints_free(b);
    free(b->pbuf);
    cs_buf_free(&b->tree_enc);
    cs_buf_free(&b->tree_out);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv_job);
    pthread_cond_destroy(&b->cv_done);
    pthread_cond_destroy(&b->cv_share);
    pthread_mutex_destroy(&b->prog_mu);
    pthread_cond_destroy(&b->prog_cv);
    free(b);
    return rc;
}
