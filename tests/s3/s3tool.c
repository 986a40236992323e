/* SPDX-License-Identifier: MIT */
/* s3tool: drives the storage backends from the integration tests.
 *
 *   s3tool [--config FILE] URL COMMAND [ARGS]
 *     mkbucket
 *     put KEY [--immutable]          body from stdin
 *     get KEY [OFFSET LENGTH [MAX]]  body to stdout
 *     getif KEY ETAG                 prints "unchanged" or "changed ETAG"
 *     stat KEY                       prints "SIZE ETAG MTIME"
 *     del KEY
 *     list [PREFIX]                  prints "KEY SIZE" lines
 *     cleanup AGE                    abort unfinished uploads older than AGE s
 *     stress N SIZE THREADS          N objects of SIZE random bytes from THREADS
 *                                    threads: put-immutable, list, get, compare
 *     fetch [PREFIX [THREADS]]       every object under PREFIX by whole GETs from
 *                                    THREADS threads (default: 4 per usable core,
 *                                    as many as a restore's workers), bytes dropped:
 *                                    the fetch floor of bench/s3.sh; prints
 *                                    "fetch objects= bytes= threads= requests=
 *                                    wall_s= cpu_s=" (the listing before the timer)
 *
 * Credentials: --config's [storage] section, else AWS_* variables.  On
 * failure prints "s3tool: OP failed: ERRNAME (message)" and exits 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "basic/stopwatch.h"
#include "config/config.h"
#include "storage/storage_s3.h"
#include "util/buf.h"
#include "util/cores.h"
#include "util/log.h"

static int fail(const char *op, int r)
{
    fprintf(stderr, "s3tool: %s failed: %s (%s)\n", op, strerrorname_np(-r) ? strerrorname_np(-r) : "?",
            strerror(-r));
    return 1;
}

static int read_stdin(cs_buf *b)
{
    char chunk[65536];
    ssize_t n;

    while ((n = read(0, chunk, sizeof(chunk))) > 0)
        if (cs_buf_append(b, chunk, (size_t)n) < 0)
            return -ENOMEM;
    return n < 0 ? -errno : 0;
}

static int print_key(const char *key, const cs_object_stat *st, void *ud)
{
    (void)ud;
    printf("%s %llu\n", key, (unsigned long long)st->size);
    return 0;
}

/* ---- stress ---- */
typedef struct stress {
    cs_storage *s;
    int n, size, threads;
    _Atomic int next;
    _Atomic int errors;
    uint8_t seed[32];
} stress;

static void object_bytes(const stress *t, int i, uint8_t *out)
{
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = { 0 };

    memcpy(nonce, &i, sizeof(i));
    crypto_stream_chacha20(out, (unsigned long long)t->size, nonce, t->seed);
}

static void *stress_put(void *ud)
{
    stress *t = ud;
    uint8_t *buf = malloc((size_t)t->size + 1);
    int i;

    while (buf && (i = t->next++) < t->n) {
        char key[64];
        int r;

        snprintf(key, sizeof(key), "stress/%02x/obj-%06d", i & 0xff, i);
        object_bytes(t, i, buf);
        r = cs_storage_put(t->s, key, buf, (size_t)t->size, CS_PUT_IMMUTABLE);
        if (r < 0) {
            fail("put", r);
            t->errors++;
        }
    }
    free(buf);
    return NULL;
}

static void *stress_get(void *ud)
{
    stress *t = ud;
    uint8_t *want = malloc((size_t)t->size + 1);
    int i;

    while (want && (i = t->next++) < t->n) {
        char key[64];
        cs_buf got = CS_BUF_INIT;
        int r;

        snprintf(key, sizeof(key), "stress/%02x/obj-%06d", i & 0xff, i);
        object_bytes(t, i, want);
        r = cs_storage_get(t->s, key, 0, 0, (size_t)t->size, &got);
        if (r < 0) {
            fail("get", r);
            t->errors++;
        } else if (got.len != (size_t)t->size || (t->size && memcmp(got.data, want, got.len) != 0)) {
            fprintf(stderr, "s3tool: %s: content differs\n", key);
            t->errors++;
        }
        cs_buf_free(&got);
    }
    free(want);
    return NULL;
}

static int count_key(const char *key, const cs_object_stat *st, void *ud)
{
    (void)key; (void)st;
    (*(int *)ud)++;
    return 0;
}

static int run_threads(stress *t, void *(*fn)(void *))
{
    pthread_t th[64];
    int n = t->threads > 64 ? 64 : t->threads;

    t->next = 0;
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, fn, t);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    return t->errors ? -EIO : 0;
}

static int do_stress(cs_storage *s, int n, int size, int threads)
{
    stress t = { .s = s, .n = n, .size = size, .threads = threads > 0 ? threads : 1 };
    uint64_t req = 0, retries = 0, sent = 0, recv = 0;
    int listed = 0, r;

    randombytes_buf(t.seed, sizeof(t.seed));
    if ((r = run_threads(&t, stress_put)) < 0)
        return fail("stress put", r);
    if ((r = cs_storage_list(s, "stress/", count_key, &listed)) < 0)
        return fail("stress list", r);
    if (listed != n) {
        fprintf(stderr, "s3tool: listed %d objects, wrote %d\n", listed, n);
        return 1;
    }
    if ((r = run_threads(&t, stress_get)) < 0)
        return fail("stress get", r);
    cs_s3_stats(s, &req, &retries, &sent, &recv);
    printf("stress ok: %d objects of %d bytes, %llu requests, %llu retries, %llu bytes sent, "
           "%llu received, immutable=%s\n", n, size, (unsigned long long)req, (unsigned long long)retries,
           (unsigned long long)sent, (unsigned long long)recv, cs_s3_immutable_mode(s));
    return 0;
}

/* ---- fetch: the floor of fetching a repository (bench/s3.sh) ---- */
typedef struct fetch {
    cs_storage *s;
    char **keys;
    uint64_t *sizes;
    size_t n, cap;
    _Atomic size_t next;
    _Atomic uint64_t bytes;
    _Atomic int errors;
} fetch;

static int fetch_add(const char *key, const cs_object_stat *st, void *ud)
{
    fetch *f = ud;

    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 1024;
        char **k = realloc(f->keys, cap * sizeof(*k));
        uint64_t *z = k ? realloc(f->sizes, cap * sizeof(*z)) : NULL;
        if (k)
            f->keys = k;
        if (!z)
            return -ENOMEM;
        f->sizes = z;
        f->cap = cap;
    }
    if (!(f->keys[f->n] = strdup(key)))
        return -ENOMEM;
    f->sizes[f->n++] = st->size;
    return 0;
}

/* One buffer per thread, emptied and reused: a fresh one per object would
 * fault its pages in again each time (~4 s per GiB on this VM). */
static void *fetch_worker(void *ud)
{
    fetch *f = ud;
    cs_buf b = CS_BUF_INIT;
    size_t i;

    b.file_data = true; /* ciphertext only: grow by realloc, no wipe */
    while ((i = f->next++) < f->n) {
        int r;

        cs_buf_reset(&b);
        r = cs_storage_get(f->s, f->keys[i], 0, 0, (size_t)f->sizes[i], &b);
        if (r < 0 || b.len != f->sizes[i]) {
            fprintf(stderr, "s3tool: %s: %s\n", f->keys[i], r < 0 ? strerror(-r) : "size differs from the listing");
            f->errors++;
        } else
            f->bytes += b.len;
    }
    cs_buf_free_ciphertext(&b);
    return NULL;
}

static int do_fetch(cs_storage *s, const char *prefix, int threads)
{
    fetch f = { .s = s };
    pthread_t th[256];
    uint64_t req0 = 0, req = 0, x;
    double wall, cpu;
    int n = threads > 0 ? threads : 4 * cs_usable_cores(), started = 0, r;

    if (n > 256)
        n = 256;
    if ((r = cs_storage_list(s, prefix, fetch_add, &f)) < 0) {
        fail("fetch list", r);
        goto out;
    }
    cs_s3_stats(s, &req0, &x, &x, &x);
    wall = cs_clock_s(CLOCK_MONOTONIC);
    cpu = cs_process_cpu_s();
    while (started < n && pthread_create(&th[started], NULL, fetch_worker, &f) == 0)
        started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    wall = cs_clock_s(CLOCK_MONOTONIC) - wall;
    cpu = cs_process_cpu_s() - cpu;
    cs_s3_stats(s, &req, &x, &x, &x);
    r = started == 0 ? -EAGAIN : f.errors ? -EIO : 0;
    if (r < 0)
        fail("fetch", r);
    else
        printf("fetch objects=%zu bytes=%llu threads=%d requests=%llu wall_s=%.3f cpu_s=%.3f\n", f.n,
               (unsigned long long)f.bytes, started, (unsigned long long)(req - req0), wall, cpu);
out:
    for (size_t i = 0; i < f.n; i++)
        free(f.keys[i]);
    free(f.keys);
    free(f.sizes);
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *url, *cmd;
    cs_config *config = NULL;
    cs_storage *s = NULL;
    int r, rc = 0;

    cs_log_setup("s3tool", getenv("S3TOOL_DEBUG") ? LOG_DEBUG : LOG_INFO);
    if (argc > 2 && strcmp(argv[1], "--config") == 0) {
        config_path = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: s3tool [--config FILE] URL COMMAND [ARGS]\n");
        return 2;
    }
    url = argv[1];
    cmd = argv[2];
    if (cs_crypto_init() < 0)
        return 1;
    r = config_path ? cs_config_load(config_path, &config) : cs_config_new_default(&config);
    if (r < 0)
        return fail("config", r);
    r = cs_storage_open_config(config, url, &s);
    if (r < 0) {
        rc = fail("open", r);
        goto out;
    }
    if (strcmp(cmd, "mkbucket") == 0) {
        if ((r = cs_s3_create_bucket(s)) < 0)
            rc = fail("mkbucket", r);
    } else if (strcmp(cmd, "put") == 0 && argc >= 4) {
        cs_buf b = CS_BUF_INIT;
        int flags = argc > 4 && strcmp(argv[4], "--immutable") == 0 ? CS_PUT_IMMUTABLE : CS_PUT_REPLACE;
        r = read_stdin(&b);
        if (r == 0)
            r = cs_storage_put(s, argv[3], b.data ? b.data : (uint8_t *)"", b.len, flags);
        if (r < 0)
            rc = fail("put", r);
        else if (flags)
            fprintf(stderr, "immutable=%s\n", cs_s3_immutable_mode(s));
        uint64_t req = 0, retries = 0, sent = 0, received = 0;
        if (r == 0 && cs_s3_stats(s, &req, &retries, &sent, &received) == 0)
            fprintf(stderr, "requests=%llu retries=%llu\n", (unsigned long long)req, (unsigned long long)retries);
        cs_buf_free(&b);
    } else if (strcmp(cmd, "get") == 0 && argc >= 4) {
        cs_buf b = CS_BUF_INIT;
        uint64_t off = argc > 5 ? strtoull(argv[4], NULL, 10) : 0, len = argc > 5 ? strtoull(argv[5], NULL, 10) : 0;
        size_t max = argc > 6 ? strtoull(argv[6], NULL, 10) : (size_t)1 << 30;
        r = cs_storage_get(s, argv[3], off, len, max, &b);
        if (r < 0)
            rc = fail("get", r);
        else if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len)
            rc = 1;
        cs_buf_free(&b);
    } else if (strcmp(cmd, "getif") == 0 && argc >= 5) {
        cs_buf b = CS_BUF_INIT;
        char etag[80] = "";
        r = cs_storage_get_if_changed(s, argv[3], argv[4], 1 << 30, &b, etag);
        if (r < 0)
            rc = fail("getif", r);
        else if (r == 1)
            printf("unchanged\n");
        else
            printf("changed %s %zu\n", etag, b.len);
        cs_buf_free(&b);
    } else if (strcmp(cmd, "stat") == 0 && argc >= 4) {
        cs_object_stat st;
        r = cs_storage_stat(s, argv[3], &st);
        if (r < 0)
            rc = fail("stat", r);
        else
            printf("%llu %s %lld\n", (unsigned long long)st.size, st.etag, (long long)st.mtime_sec);
    } else if (strcmp(cmd, "del") == 0 && argc >= 4) {
        if ((r = cs_storage_del(s, argv[3])) < 0)
            rc = fail("del", r);
    } else if (strcmp(cmd, "list") == 0) {
        if ((r = cs_storage_list(s, argc > 3 ? argv[3] : "", print_key, NULL)) < 0)
            rc = fail("list", r);
    } else if (strcmp(cmd, "cleanup") == 0 && argc >= 4) {
        unsigned aborted = 0;
        if ((r = cs_s3_cleanup_uploads(s, strtoll(argv[3], NULL, 10), &aborted)) < 0)
            rc = fail("cleanup", r);
        else
            printf("aborted %u\n", aborted);
    } else if (strcmp(cmd, "stress") == 0 && argc >= 6) {
        rc = do_stress(s, atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    } else if (strcmp(cmd, "fetch") == 0) {
        rc = do_fetch(s, argc > 3 ? argv[3] : "", argc > 4 ? atoi(argv[4]) : 0);
    } else {
        fprintf(stderr, "s3tool: unknown command or missing arguments: %s\n", cmd);
        rc = 2;
    }
out:
    cs_storage_close(s);
    cs_config_free(config);
    return rc;
}
