/* SPDX-License-Identifier: MIT */
/* Parallel ranged GETs of packs and delivery of the bodies in them. */
#include "archive/deliver.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "util/log.h"

#define FETCH_SPAN_MAX (64u << 20)
#define FETCH_THREADS 4

typedef struct span {
    size_t first, n;
} span;

typedef struct job {
    cs_storage *s;
    const char *prefix;
    const cs_arch_keys *k;
    int rootfd;
    cs_arch_delivery *v;
    span *spans;
    size_t nspans;
    atomic_size_t next;
    atomic_uint_fast64_t bytes;
    pthread_mutex_t lock;
    int first_err;
    cs_arch_progress_fn progress;
    void *userdata;
    size_t done;            /* messages handled, under lock */
    size_t total;
} job;

static int cmp_delivery(const void *a, const void *b)
{
    const cs_arch_inst *x = ((const cs_arch_delivery *)a)->in, *y = ((const cs_arch_delivery *)b)->in;
    int r = memcmp(x->ref.pack, y->ref.pack, CS_ARCH_PACK_BYTES);

    if (r)
        return r;
    return x->ref.offset < y->ref.offset ? -1 : x->ref.offset > y->ref.offset;
}

static void deliver_span(job *j, const span *sp, cs_buf *raw, cs_buf *plain)
{
    cs_arch_delivery *v = j->v + sp->first;
    uint64_t start = v[0].in->ref.offset, end = 0;
    char key[400], name[CS_ARCH_PACK_BYTES * 2 + 1];
    int r;

    for (size_t i = 0; i < sp->n; i++)
        if ((uint64_t)v[i].in->ref.offset + v[i].in->ref.length > end)
            end = (uint64_t)v[i].in->ref.offset + v[i].in->ref.length;
    sodium_bin2hex(name, sizeof(name), v[0].in->ref.pack, CS_ARCH_PACK_BYTES);
    snprintf(key, sizeof(key), "%spack/%s", j->prefix, name);
    raw->len = 0;
    r = cs_storage_get(j->s, key, start, end - start, FETCH_SPAN_MAX + CS_ARCH_MSG_MAX, raw);
    if (r == 0 && raw->len != end - start)
        r = -EBADMSG;
    if (r == -EINVAL)
        r = -EBADMSG; /* the pack is shorter than the log says */
    if (r < 0) {
        pthread_mutex_lock(&j->lock);
        if (r == -EBADMSG || r == -ENOENT)
            log_error("archive: %s is missing or truncated: storage was tampered with", key);
        else
            log_error_errno(r, "archive: cannot read %s", key);
        if (!j->first_err)
            j->first_err = r == -ENOENT ? -EBADMSG : r;
        pthread_mutex_unlock(&j->lock);
        for (size_t i = 0; i < sp->n; i++)
            v[i].result = r == -ENOENT ? -EBADMSG : r;
        return;
    }
    atomic_fetch_add(&j->bytes, raw->len);
    for (size_t i = 0; i < sp->n; i++) {
        const cs_arch_inst *in = v[i].in;

        r = cs_arch_body_open(j->k, in->id, raw->data + (in->ref.offset - start), in->ref.length, plain);
        if (r == -EMSGSIZE)
            r = -EBADMSG;
        if (r == 0)
            r = cs_md_deliver(j->rootfd, in->folder, in->subdir, v[i].name, plain->data, plain->len, in->mtime);
        v[i].result = r;
    }
    if (j->progress) {
        pthread_mutex_lock(&j->lock);
        j->done += sp->n;
        j->progress(j->userdata, "receiving", j->done, j->total);
        pthread_mutex_unlock(&j->lock);
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    cs_buf raw = CS_BUF_INIT, plain = CS_BUF_INIT;

    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);

        if (i >= j->nspans)
            break;
        deliver_span(j, &j->spans[i], &raw, &plain);
    }
    cs_buf_free(&raw);
    cs_buf_free(&plain);
    return NULL;
}

int cs_arch_deliver_all(cs_storage *s, const char *prefix, const cs_arch_keys *k, int rootfd,
                        cs_arch_delivery *v, size_t n, uint64_t *bytes_downloaded,
                        cs_arch_progress_fn progress, void *userdata)
{
    job j = { .s = s, .prefix = prefix, .k = k, .rootfd = rootfd, .v = v,
              .progress = progress, .userdata = userdata, .total = n };
    pthread_t t[FETCH_THREADS];
    size_t started = 0;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_delivery);
    j.spans = calloc(n, sizeof(*j.spans));
    if (!j.spans)
        return -ENOMEM;
    /* one span = one ranged GET: neighbours in one pack, at most 64 MiB */
    for (size_t i = 0; i < n;) {
        size_t e = i + 1;

        while (e < n && memcmp(v[e].in->ref.pack, v[i].in->ref.pack, CS_ARCH_PACK_BYTES) == 0 &&
               (uint64_t)v[e].in->ref.offset + v[e].in->ref.length - v[i].in->ref.offset <= FETCH_SPAN_MAX)
            e++;
        j.spans[j.nspans++] = (span){ i, e - i };
        i = e;
    }
    atomic_init(&j.next, 0);
    atomic_init(&j.bytes, 0);
    pthread_mutex_init(&j.lock, NULL);
    for (; started < FETCH_THREADS - 1 && started + 1 < j.nspans; started++)
        if (pthread_create(&t[started], NULL, worker, &j) != 0)
            break;
    worker(&j);
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&j.lock);
    free(j.spans);
    if (bytes_downloaded)
        *bytes_downloaded += atomic_load(&j.bytes);
    return j.first_err;
}
