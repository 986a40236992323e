/* SPDX-License-Identifier: MIT */
/* Parallel sealing and background pack uploads. */
#include "archive/ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "util/fileio.h"
#include "util/log.h"

#define MAX_WORKERS 8

typedef struct batch {
    const cs_arch_keys *k;
    int dirfd;
    cs_arch_job *jobs;
    size_t n;
    bool seal;
    atomic_size_t next;
} batch;

static void *seal_worker(void *arg)
{
    batch *b = arg;

    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        cs_arch_job *j;

        if (i >= b->n)
            return NULL;
        j = &b->jobs[i];
        j->msg.len = 0;
        j->sealed.len = 0;
        j->err = cs_read_file_at(b->dirfd, j->path, CS_ARCH_MSG_MAX, &j->msg);
        if (j->err < 0)
            continue;
        cs_arch_content_id(b->k, j->msg.data, j->msg.len, j->id);
        j->err = b->seal ? cs_arch_body_seal(b->k, j->id, j->msg.data, j->msg.len, &j->sealed) : 0;
    }
}

int cs_arch_seal_batch(const cs_arch_keys *k, int dirfd, cs_arch_job *jobs, size_t n, bool seal)
{
    batch b = { .k = k, .dirfd = dirfd, .jobs = jobs, .n = n, .seal = seal };
    pthread_t t[MAX_WORKERS];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    /* at least 4 threads: on a cold disk they wait on reads, not CPUs */
    size_t extra = (size_t)(cpus > 4 ? cpus : 4) - 1, started = 0;

    if (extra > MAX_WORKERS)
        extra = MAX_WORKERS;
    if (extra > n / 2)
        extra = n / 2; /* a thread for one small message costs more than it saves */
    atomic_init(&b.next, 0);
    for (; started < extra; started++)
        if (pthread_create(&t[started], NULL, seal_worker, &b) != 0)
            break; /* fewer threads: the caller's thread does the rest */
    seal_worker(&b);
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    return 0;
}

struct cs_arch_packer {
    cs_storage *s;
    char prefix[320];
    size_t target;
    cs_buf cur;                       /* the pack being filled */
    uint8_t cur_name[CS_ARCH_PACK_BYTES];
    bool cur_open;
    /* the upload in flight */
    pthread_t thread;
    bool busy;
    cs_buf up;
    char up_key[400];
    int up_err;
    int first_err;
    uint64_t packs, bytes;
};

int cs_arch_packer_new(cs_storage *s, const char *prefix, size_t target, cs_arch_packer **out)
{
    cs_arch_packer *p = calloc(1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    p->s = s;
    snprintf(p->prefix, sizeof(p->prefix), "%s", prefix);
    p->target = target;
    *out = p;
    return 0;
}

static void *upload_thread(void *arg)
{
    cs_arch_packer *p = arg;

    p->up_err = cs_storage_put(p->s, p->up_key, p->up.data, p->up.len, CS_PUT_IMMUTABLE);
    return NULL;
}

/* Account for a finished upload (the thread, if any, has been joined). */
static int upload_done(cs_arch_packer *p)
{
    if (p->up_err < 0) {
        log_error_errno(p->up_err, "archive: cannot upload %s", p->up_key);
        if (!p->first_err)
            p->first_err = p->up_err;
        return p->up_err;
    }
    p->packs++;
    p->bytes += p->up.len;
    return 0;
}

static int wait_upload(cs_arch_packer *p)
{
    if (!p->busy)
        return 0;
    pthread_join(p->thread, NULL);
    p->busy = false;
    return upload_done(p);
}

static int start_upload(cs_arch_packer *p)
{
    char name[CS_ARCH_PACK_BYTES * 2 + 1];
    cs_buf t;
    int r = wait_upload(p);

    if (r < 0)
        return r;
    if (!p->cur_open || p->cur.len == 0)
        return 0;
    sodium_bin2hex(name, sizeof(name), p->cur_name, CS_ARCH_PACK_BYTES);
    snprintf(p->up_key, sizeof(p->up_key), "%spack/%s", p->prefix, name);
    t = p->up; /* swap buffers: keep both allocations for reuse */
    p->up = p->cur;
    p->cur = t;
    p->cur.len = 0;
    p->cur_open = false;
    if (pthread_create(&p->thread, NULL, upload_thread, p) == 0) {
        p->busy = true;
        return 0;
    }
    upload_thread(p); /* no thread to be had: upload inline */
    return upload_done(p);
}

int cs_arch_packer_append(cs_arch_packer *p, const uint8_t *sealed, size_t len, uint32_t size, cs_arch_ref *ref)
{
    int r;

    if (p->first_err)
        return p->first_err;
    if (!p->cur_open) {
        randombytes_buf(p->cur_name, CS_ARCH_PACK_BYTES);
        p->cur.len = 0;
        p->cur_open = true;
    }
    if (p->cur.len + len > UINT32_MAX)
        return -EMSGSIZE;
    memset(ref, 0, sizeof(*ref));
    memcpy(ref->pack, p->cur_name, CS_ARCH_PACK_BYTES);
    ref->offset = (uint32_t)p->cur.len;
    ref->length = (uint32_t)len;
    ref->size = size;
    r = cs_buf_append(&p->cur, sealed, len);
    if (r < 0)
        return r;
    return p->cur.len >= p->target ? start_upload(p) : 0;
}

int cs_arch_packer_finish(cs_arch_packer *p)
{
    int r = start_upload(p);
    int r2 = wait_upload(p);

    if (p->first_err)
        return p->first_err;
    return r < 0 ? r : r2;
}

void cs_arch_packer_free(cs_arch_packer *p)
{
    if (!p)
        return;
    (void)wait_upload(p);
    cs_buf_free(&p->cur);
    cs_buf_free(&p->up);
    free(p);
}

uint64_t cs_arch_packer_packs(const cs_arch_packer *p) { return p->packs; }
uint64_t cs_arch_packer_bytes(const cs_arch_packer *p) { return p->bytes; }
