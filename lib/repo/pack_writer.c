/* SPDX-License-Identifier: MIT */
/* Fills pack objects with sealed blobs and uploads them from a small pool of
 * threads, so slow storage (fsync, S3 round trips) overlaps the CPU work:
 * a 4 MiB put + fsync measured 5-26 ms here, 160 of them per GiB, so one
 * uploader alone can be the bottleneck of a backup.
 * Memory: the open data and tree packs plus at most QUEUE_MAX waiting and one
 * per uploader, each ~CS_PACK_TARGET + one blob.
 *
 * Crash safety: a pack is put before any index names it, and the index
 * object that names a batch of packs is written only after all of them are
 * stored (every INDEX_EVERY packs or CS_INDEX_OBJECT_BLOBS blobs, and at
 * the end: a pack of small files holds ~10 000 blobs). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/mman.h>
#include <time.h>
#include "repo/repo_int.h"
#include "util/alloc.h"
#include "util/log.h"

#define QUEUE_MAX 1
#define INDEX_EVERY 64
#define MAX_UPLOADERS 8
#define SPARE_MAX 4

typedef struct open_pack {
    cs_buf buf;
    cs_pack_blob *blobs;
    size_t n, cap;
    int type;
    int writers;        /* reservations not yet committed */
    bool full;          /* no longer open: upload when writers reaches 0 */
    struct open_pack *next;
} open_pack;

struct cs_pack_writer {
    cs_repo *r;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    open_pack *cur[2];          /* data, tree */
    open_pack *queue_head, *queue_tail;
    size_t queued;
    cs_index_pack_blobs *done_packs; /* uploaded, not yet in an index object */
    size_t ndone, done_cap;
    size_t done_blobs;          /* blobs in done_packs */
    cs_buf spare[SPARE_MAX];    /* pack buffers to reuse: no heap churn, bounded RSS */
    size_t nspare;
    int err;
    bool finishing;
    pthread_t threads[MAX_UPLOADERS];
    int nthreads;
    uint64_t bytes;
    double waited;
};

/* A pack buffer's capacity: an open pack is below CS_PACK_TARGET, so one
 * more blob always fits and the buffer never moves while writers fill
 * their reservations; rounded to whole huge pages. */
#define HUGE_PAGE ((size_t)2 << 20)
#define PACK_BUF_CAP ((CS_PACK_TARGET + CS_MAX_BLOB + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE)

_Static_assert(CS_PACK_TARGET % HUGE_PAGE == 0, "a pack's target is whole huge pages");

/* A new pack buffer, 2 MiB-aligned, its first CS_PACK_TARGET bytes in
 * transparent huge pages where the kernel gives them on request (THP
 * "madvise"): filling a pack then faults in 2 huge pages and the last
 * blob's overshoot, not ~1 100 pages of 4 KiB (the largest share of an
 * initial backup's faults, each one a page from the host on this VM).
 * Every full pack fills those huge pages; the overshoot stays in 4 KiB
 * pages, so the peak RSS grows by at most a partly filled huge page for a
 * small pack (tree packs, the last one).  Page-aligned as cs_buf's big
 * buffers are, for O_DIRECT.  Kept for the next packs (spare): the pages
 * are faulted in once per buffer, not once per pack. */
static int pack_buf_new(cs_buf *b)
{
    void *p;

    if (posix_memalign(&p, HUGE_PAGE, PACK_BUF_CAP) != 0)
        return -ENOMEM;
    (void)madvise(p, CS_PACK_TARGET, MADV_HUGEPAGE); /* a hint: 4 KiB pages without THP */
    *b = (cs_buf){ .data = p, .cap = PACK_BUF_CAP };
    return 0;
}

static void open_pack_free(open_pack *op)
{
    if (!op)
        return;
    cs_buf_free_ciphertext(&op->buf); /* sealed blobs only */
    free(op->blobs);
    free(op);
}

static int write_done_index(cs_pack_writer *p, cs_index_pack_blobs *v, size_t n)
{
    int rc = n ? cs_repo_write_index(p->r, v, n) : 0;

    for (size_t i = 0; i < n; i++)
        free(v[i].blobs);
    free(v);
    return rc < 0 ? rc : 0;
}

static int upload(cs_pack_writer *p, open_pack *op)
{
    cs_repo *r = p->r;
    cs_id pid;
    char key[1200];
    uint32_t pidx;
    int rc = cs_pack_finish(r->keys, op->blobs, op->n, &op->buf);

    if (rc < 0)
        return rc;
    /* a random name: hashing every pack would cost as much CPU as encrypting
     * it, and each blob and the header are authenticated anyway */
    randombytes_buf(pid.b, sizeof(pid.b));
    cs_repo_key(r, "data", &pid, key, sizeof(key));
    /* 256 random bits name no other object: a plain PUT, as for index and
     * snapshot objects.  Put-immutable would guard against nothing and cost,
     * on S3, the conditional-put probe (3 round trips) and, where the server
     * ignores If-None-Match, a HEAD before every pack. */
    rc = cs_storage_put(r->st, key, op->buf.data, op->buf.len, CS_PUT_REPLACE | CS_PUT_UNCACHED);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&r->index.lock);
    rc = cs_index_add_pack(&r->index, &pid, op->buf.len, &pidx);
    if (rc == 0) {
        r->index.packs[pidx].nblobs = (uint32_t)op->n;
        r->index.packs[pidx].type = (uint8_t)op->type;
        for (size_t i = 0; i < op->n && rc == 0; i++) {
            cs_ientry *e = cs_index_find(&r->index, &op->blobs[i].id);
            if (e && e->pack == CS_PACK_PENDING)
                rc = cs_index_locate(e, pidx, op->buf.len, &op->blobs[i]);
        }
    }
    pthread_mutex_unlock(&r->index.lock);
    if (rc < 0)
        return rc;

    pthread_mutex_lock(&p->mu);
    if (CS_GREEDY_REALLOC(p->done_packs, p->done_cap, p->ndone + 1) < 0) {
        pthread_mutex_unlock(&p->mu);
        return -ENOMEM;
    }
    p->done_packs[p->ndone++] = (cs_index_pack_blobs){ pid, op->buf.len, (uint32_t)op->n, op->blobs };
    p->done_blobs += op->n;
    op->blobs = NULL;
    p->bytes += op->buf.len;
    if (p->ndone >= INDEX_EVERY || p->done_blobs >= CS_INDEX_OBJECT_BLOBS) {
        cs_index_pack_blobs *v = p->done_packs;
        size_t n = p->ndone;
        p->done_packs = NULL;
        p->ndone = p->done_cap = p->done_blobs = 0;
        pthread_mutex_unlock(&p->mu);
        return write_done_index(p, v, n);
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static void *uploader(void *arg)
{
    cs_pack_writer *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        open_pack *op;
        int rc;
        while (!p->queue_head && !p->finishing)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->queue_head)
            break;
        op = p->queue_head;
        p->queue_head = op->next;
        if (!p->queue_head)
            p->queue_tail = NULL;
        p->queued--;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        rc = p->err ? 0 : upload(p, op);
        pthread_mutex_lock(&p->mu);
        if (p->nspare < SPARE_MAX) {
            cs_buf_reset(&op->buf);
            p->spare[p->nspare++] = op->buf;
            memset(&op->buf, 0, sizeof(op->buf));
        }
        open_pack_free(op);
        if (rc < 0 && !p->err)
            p->err = rc;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int cs_pack_writer_new(cs_repo *r, int uploaders, cs_pack_writer **out)
{
    cs_pack_writer *p = calloc(1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    p->r = r;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (uploaders < 1)
        uploaders = 1;
    if (uploaders > MAX_UPLOADERS)
        uploaders = MAX_UPLOADERS;
    for (int i = 0; i < uploaders; i++) {
        if (pthread_create(&p->threads[i], NULL, uploader, p) != 0)
            break;
        p->nthreads++;
    }
    if (!p->nthreads) {
        free(p);
        return -EAGAIN;
    }
    *out = p;
    return 0;
}

/* Called with p->mu held. */
static void enqueue(cs_pack_writer *p, open_pack *op)
{
    op->next = NULL;
    if (p->queue_tail)
        p->queue_tail->next = op;
    else
        p->queue_head = op;
    p->queue_tail = op;
    p->queued++;
    pthread_cond_broadcast(&p->cv);
}

int cs_pack_writer_reserve(cs_pack_writer *p, int type, const cs_id *id, size_t enc_len, uint32_t raw_len,
                           uint8_t **dst, void **ticket)
{
    int slot = type == CS_BLOB_TREE;
    open_pack *op;
    int rc = 0;

    if (enc_len > CS_MAX_BLOB)
        return -E2BIG;
    pthread_mutex_lock(&p->mu);
    if (p->err) {
        rc = p->err;
        goto out;
    }
    op = p->cur[slot];
    if (!op) {
        op = p->cur[slot] = calloc(1, sizeof(*op));
        if (!op) {
            rc = -ENOMEM;
            goto out;
        }
        op->type = type;
        if (p->nspare)
            op->buf = p->spare[--p->nspare];
        else if ((rc = pack_buf_new(&op->buf)) < 0)
            goto out;
    }
    if (CS_GREEDY_REALLOC(op->blobs, op->cap, op->n + 1) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    op->blobs[op->n++] = (cs_pack_blob){ (uint8_t)type, *id, (uint32_t)op->buf.len, (uint32_t)enc_len, raw_len };
    *dst = op->buf.data + op->buf.len;
    op->buf.len += enc_len;
    op->writers++;
    *ticket = op;
    if (op->buf.len >= CS_PACK_TARGET) {
        p->cur[slot] = NULL;
        op->full = true;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void cs_pack_writer_commit(cs_pack_writer *p, void *ticket, int error)
{
    open_pack *op = ticket;

    pthread_mutex_lock(&p->mu);
    if (error < 0 && !p->err) {
        p->err = error; /* before the pack can be queued: uploaders skip it */
        pthread_cond_broadcast(&p->cv);
    }
    if (--op->writers == 0 && op->full) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (p->queued >= QUEUE_MAX && !p->err)
            pthread_cond_wait(&p->cv, &p->mu);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        p->waited += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        enqueue(p, op);
    }
    pthread_mutex_unlock(&p->mu);
}

int cs_pack_writer_add(cs_pack_writer *p, int type, const cs_id *id, const uint8_t *enc, size_t enc_len,
                       uint32_t raw_len)
{
    uint8_t *dst;
    void *ticket;
    int rc = cs_pack_writer_reserve(p, type, id, enc_len, raw_len, &dst, &ticket);

    if (rc < 0)
        return rc;
    memcpy(dst, enc, enc_len);
    cs_pack_writer_commit(p, ticket, 0);
    return 0;
}

uint64_t cs_pack_writer_bytes(cs_pack_writer *p)
{
    uint64_t b;

    pthread_mutex_lock(&p->mu);
    b = p->bytes;
    pthread_mutex_unlock(&p->mu);
    return b;
}

int cs_pack_writer_finish(cs_pack_writer *p)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    for (int s = 0; s < 2; s++) {
        if (p->cur[s] && p->cur[s]->n)
            enqueue(p, p->cur[s]);
        else
            open_pack_free(p->cur[s]);
        p->cur[s] = NULL;
    }
    p->finishing = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
    log_debug("pack writer: workers waited %.2f s for the upload queue", p->waited);
    rc = p->err;
    if (rc == 0) {
        rc = write_done_index(p, p->done_packs, p->ndone);
    } else {
        for (size_t i = 0; i < p->ndone; i++)
            free(p->done_packs[i].blobs);
        free(p->done_packs);
    }
    p->done_packs = NULL;
    p->ndone = p->done_blobs = 0;
    return rc;
}

void cs_pack_writer_free(cs_pack_writer *p)
{
    if (!p)
        return;
    if (p->nthreads) {
        pthread_mutex_lock(&p->mu);
        p->err = p->err ? p->err : -ECANCELED;
        p->finishing = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->nthreads; i++)
            pthread_join(p->threads[i], NULL);
    }
    for (int s = 0; s < 2; s++)
        open_pack_free(p->cur[s]);
    while (p->queue_head) {
        open_pack *n = p->queue_head->next;
        open_pack_free(p->queue_head);
        p->queue_head = n;
    }
    for (size_t i = 0; i < p->ndone; i++)
        free(p->done_packs[i].blobs);
    free(p->done_packs);
    for (size_t i = 0; i < p->nspare; i++)
        cs_buf_free_ciphertext(&p->spare[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
