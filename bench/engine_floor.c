/* SPDX-License-Identifier: MIT */
/* engine_floor DIR [--hash sodium|openssl] [--dict] [--check]
 *
 * The floor of any initial backup with our format and libraries (issue 23,
 * bench/README.md "Floors measured by make bench"): the engine's per-byte
 * work on every regular file of DIR and nothing else.  One thread per usable
 * core takes files from one shared list, as the backup's workers do, and for
 * each: reads it (open, read, close), cuts it with the repository's
 * content-defined chunker (files below the chunker's minimum are one chunk,
 * as in the backup), computes each chunk's id (keyed BLAKE2b-256, the key in
 * cs_secure_alloc memory), compresses it with cs_blob_payload (the levels by
 * size class) and seals it with cs_blob_seal_into (the blob AEAD).  No
 * packs, index, trees, writes or file cache: the gap between this and
 * `cloudseal backup` is the cost of our pipeline.  The file list is made
 * before the timer starts (the stat walk is a floor of its own).
 *
 * Measurement only, never in the engine:
 *   --hash openssl  the same ids by OpenSSL's EVP_MAC BLAKE2BMAC (faster on
 *                   this CPU, but OpenSSL copies the key into its own
 *                   unlocked heap, which the project's rules forbid);
 *   --dict          blobs below 128 KiB compressed with a zstd dictionary
 *                   (112 KiB, trained before the timer on every 100th small
 *                   file; train_s is its wall time) at levels 1/2/3 for
 *                   < 4/32/128 KiB: what a
 *                   per-repository dictionary (a format change) would save;
 *   --check         also computes every id with libsodium and fails on a
 *                   difference (slower: not a timing run).
 *
 * Prints one line of key=value: wall_s, cpu_s (getrusage user+sys of the
 * timed part), the CPU split by part (read, chunk, hash, compress, seal:
 * thread CPU clocks on every 8th file, scaled to cpu_s), bytes_in,
 * bytes_compressed (payloads as stored, before the AEAD's 41 bytes) and
 * ids_xor (the XOR of all ids, equal between hash modes for the same key:
 * the key is random per run, so only within one --check run). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <zdict.h>
#include <zstd.h>
#include "basic/stopwatch.h"
#include "repo/repo_int.h"
#include "util/alloc.h"
#include "util/cores.h"
#include "util/fileio.h"

#define SMALL_MAX (128u << 10) /* below: whole small files, the dictionary's classes */
#define DICT_SIZE (112u << 10)
#define DICT_EVERY 100
#define BUF_CAP (2 * (size_t)CS_CHUNK_MAX)
/* The split is timed on every SPLIT_EVERY-th file of the list and scaled to
 * the whole CPU time: a thread's CPU clock is a system call here (~0.5 us),
 * and ~6 a file cost 0.25 CPU-s (5 %) on the real tree when timed on all. */
#define SPLIT_EVERY 8

typedef struct file {
    char *path;
    off_t size;
} file;

static struct {
    file *v;
    size_t n, cap;
} files;

static struct {
    bool openssl, dict, check;
    cs_repo_keys *keys; /* secure memory: mac for ids, data for the AEAD */
    cs_chunker *chunker;
    ZSTD_CDict *cdict[3];
    EVP_MAC *mac;
    _Atomic size_t next;
} run;

typedef struct worker {
    pthread_t thread;
    void *zctx;
    ZSTD_CCtx *dctx; /* --dict: compresses with the dictionaries */
    EVP_MAC_CTX *mac;
    uint8_t *buf;
    cs_buf scratch, sealed;
    double t[5];     /* read, chunk, hash, compress, seal: of the sampled files */
    bool timing;     /* this file is one of the sample */
    uint64_t bytes_in, bytes_z, blobs;
    uint8_t ids_xor[CS_ID_LEN];
    int err;
} worker;

enum { T_READ, T_CHUNK, T_HASH, T_ZSTD, T_SEAL };
static const char *const part_name[] = { "read", "chunk", "hash", "compress", "seal" };

/* The thread's CPU time since *t0 goes to part (none: < 0), on sampled files only */
static void lap(worker *w, int part, double *t0)
{
    double t;

    if (!w->timing)
        return;
    t = cs_clock_s(CLOCK_THREAD_CPUTIME_ID);
    if (part >= 0)
        w->t[part] += t - *t0;
    *t0 = t;
}

static int add_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    if (CS_GREEDY_REALLOC(files.v, files.cap, files.n + 1) < 0 || !(files.v[files.n].path = strdup(path)))
        return -ENOMEM;
    files.v[files.n++].size = st->st_size;
    return 0;
}

static int blob_id(worker *w, const uint8_t *data, size_t len, cs_id *id)
{
    size_t n = 0;

    if (!run.openssl) {
        cs_blob_id(run.keys, data, len, id);
        return 0;
    }
    /* a NULL key re-initialises with the key set when the context was made */
    if (!EVP_MAC_init(w->mac, NULL, 0, NULL) || !EVP_MAC_update(w->mac, data, len) ||
        !EVP_MAC_final(w->mac, id->b, &n, CS_ID_LEN) || n != CS_ID_LEN)
        return -EIO;
    return 0;
}

/* --dict: the small classes through their dictionaries, kept on the same
 * terms as cs_blob_payload (>= 64 bytes, at least 1/32 smaller) */
static int dict_payload(worker *w, const uint8_t *data, size_t len, const uint8_t **payload, size_t *plen,
                        uint8_t *flag)
{
    size_t bound = ZSTD_compressBound(len), n;
    int r, c = len < (4u << 10) ? 0 : len < (32u << 10) ? 1 : 2;

    *payload = data;
    *plen = len;
    *flag = 0;
    if (len < 64)
        return 0;
    cs_buf_reset(&w->scratch);
    if ((r = cs_buf_reserve(&w->scratch, bound)) < 0)
        return r;
    n = ZSTD_compress_usingCDict(w->dctx, w->scratch.data, bound, data, len, run.cdict[c]);
    if (!ZSTD_isError(n) && n < len - len / 32) {
        *payload = w->scratch.data;
        *plen = n;
        *flag = 1;
    }
    return 0;
}

/* One chunk: id, compress, seal, each part on its own clock. */
static int chunk(worker *w, const uint8_t *data, size_t len, double *t0)
{
    const uint8_t *payload;
    size_t plen;
    uint8_t flag;
    cs_id id, check;
    int r;

    if ((r = blob_id(w, data, len, &id)) < 0)
        return r;
    lap(w, T_HASH, t0);
    if (run.check) {
        cs_blob_id(run.keys, data, len, &check);
        if (memcmp(check.b, id.b, CS_ID_LEN) != 0)
            return -EBADMSG;
        lap(w, -1, t0);
    }
    r = run.dict && len < SMALL_MAX ? dict_payload(w, data, len, &payload, &plen, &flag)
                                    : cs_blob_payload(w->zctx, data, len, &w->scratch, &payload, &plen, &flag);
    lap(w, T_ZSTD, t0);
    if (r < 0)
        return r;
    cs_buf_reset(&w->sealed);
    if ((r = cs_buf_reserve(&w->sealed, CS_BLOB_OVERHEAD + plen)) < 0 ||
        (r = cs_blob_seal_into(run.keys, CS_BLOB_DATA, &id, flag, payload, plen, w->sealed.data)) < 0)
        return r;
    lap(w, T_SEAL, t0);
    for (size_t i = 0; i < CS_ID_LEN; i++)
        w->ids_xor[i] ^= id.b[i];
    w->bytes_in += len;
    w->bytes_z += plen;
    w->blobs++;
    return 0;
}

/* Read the file through the buffer, cutting chunks as the backup does: the
 * chunker sees at least its maximum or the end of the file. */
static int one_file(worker *w, const file *f)
{
    size_t off = 0, len = 0;
    uint64_t pos = 0;
    bool eof = false;
    double t0 = w->timing ? cs_clock_s(CLOCK_THREAD_CPUTIME_ID) : 0;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW), r = 0;

    if (fd < 0)
        return -errno;
    for (;;) {
        size_t cut;
        while (!eof && len < CS_CHUNK_MAX) {
            ssize_t n;
            if (off + len == BUF_CAP) {
                memmove(w->buf, w->buf + off, len);
                off = 0;
            }
            n = read(fd, w->buf + off + len, BUF_CAP - off - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                r = -errno;
                goto out;
            }
            pos += (uint64_t)n;
            len += (size_t)n;
            eof = n == 0 || pos >= (uint64_t)f->size; /* one read() for a small file */
        }
        lap(w, T_READ, &t0);
        if (len == 0)
            break;
        cut = cs_chunker_next(run.chunker, w->buf + off, len, eof);
        lap(w, T_CHUNK, &t0);
        if ((r = chunk(w, w->buf + off, cut, &t0)) < 0)
            goto out;
        off += cut;
        len -= cut;
    }
out:
    close(fd);
    lap(w, T_READ, &t0);
    return r;
}

static void *work(void *arg)
{
    worker *w = arg;

    for (size_t i; !w->err && (i = atomic_fetch_add(&run.next, 1)) < files.n;) {
        int r;
        w->timing = i % SPLIT_EVERY == 0;
        r = one_file(w, &files.v[i]);
        if (r < 0 && r != -ENOENT) { /* a file gone since the walk is not the floor's business */
            fprintf(stderr, "engine_floor: %s: %s\n", files.v[i].path, strerror(-r));
            w->err = r;
        }
    }
    return NULL;
}

static int worker_init(worker *w)
{
    if (!(w->zctx = cs_zctx_new()) || !(w->buf = malloc(BUF_CAP)))
        return -ENOMEM;
    if (run.dict && !(w->dctx = ZSTD_createCCtx()))
        return -ENOMEM;
    if (run.openssl) {
        size_t size = CS_ID_LEN;
        OSSL_PARAM p[] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_END };
        if (!(w->mac = EVP_MAC_CTX_new(run.mac)) || !EVP_MAC_init(w->mac, run.keys->mac, sizeof(run.keys->mac), p))
            return -EIO;
    }
    return 0;
}

static void worker_free(worker *w)
{
    cs_zctx_free(w->zctx);
    ZSTD_freeCCtx(w->dctx);
    EVP_MAC_CTX_free(w->mac); /* OpenSSL cleanses its copy of the key */
    free(w->buf);
    cs_buf_free(&w->scratch);
    cs_buf_free(&w->sealed);
}

/* --dict: one dictionary from every DICT_EVERY-th small file (of a tree
 * with fewer than DICT_EVERY^2 small files, every n/DICT_EVERY-th: zstd's
 * trainer wants some dozens of samples), at each level */
static int train(void)
{
    cs_buf samples = CS_BUF_INIT;
    size_t *sizes = NULL, n = 0, cap = 0, small = 0, nsmall = 0, every, dsize;
    void *dict = malloc(DICT_SIZE);
    static const int level[3] = { 1, 2, 3 };
    int r = -ENOMEM;

    for (size_t i = 0; i < files.n; i++)
        nsmall += files.v[i].size < SMALL_MAX;
    every = nsmall >= DICT_EVERY * DICT_EVERY ? DICT_EVERY : nsmall / DICT_EVERY ? nsmall / DICT_EVERY : 1;
    for (size_t i = 0; dict && i < files.n; i++) {
        cs_buf one = CS_BUF_INIT;
        if (files.v[i].size >= SMALL_MAX || small++ % every)
            continue;
        if (cs_read_file(files.v[i].path, SMALL_MAX, &one) < 0)
            continue;
        if (CS_GREEDY_REALLOC(sizes, cap, n + 1) < 0 || cs_buf_append(&samples, one.data, one.len) < 0) {
            cs_buf_free(&one);
            goto out;
        }
        sizes[n++] = one.len;
        cs_buf_free(&one);
    }
    dsize = dict ? ZDICT_trainFromBuffer(dict, DICT_SIZE, samples.data, sizes, (unsigned)n) : 0;
    if (dict && ZDICT_isError(dsize)) {
        fprintf(stderr, "engine_floor: dictionary: %s (%zu samples)\n", ZDICT_getErrorName(dsize), n);
        r = -EINVAL;
        goto out;
    }
    for (int c = 0; dict && c < 3; c++)
        if (!(run.cdict[c] = ZSTD_createCDict(dict, dsize, level[c])))
            goto out;
    r = dict ? 0 : -ENOMEM;
out:
    free(dict);
    free(sizes);
    cs_buf_free(&samples);
    return r;
}

static int setup(void)
{
    uint64_t gear[256];

    if (cs_crypto_init() < 0 || !(run.keys = cs_secure_alloc(sizeof(*run.keys))) ||
        !(run.chunker = cs_secure_alloc(sizeof(*run.chunker))))
        return -ENOMEM;
    randombytes_buf(run.keys, sizeof(*run.keys));
    randombytes_buf(gear, sizeof(gear)); /* the repository's gear table is secret and random too */
    if (cs_chunker_init(run.chunker, gear, CS_CHUNK_MIN, CS_CHUNK_AVG, CS_CHUNK_MAX) < 0)
        return -EINVAL;
    if (run.openssl && !(run.mac = EVP_MAC_fetch(NULL, "BLAKE2BMAC", NULL)))
        return -ENOTSUP;
    return 0;
}

/* Start the workers, wait, print the line. */
static int measure(int nthreads, double train_s)
{
    worker *w = calloc((size_t)nthreads, sizeof(*w));
    double t0, c0, t[5] = { 0 }, sampled = 0;
    uint64_t in = 0, z = 0, blobs = 0;
    uint8_t x[CS_ID_LEN] = { 0 };
    int r = 0, started = 0;

    if (!w)
        return -ENOMEM;
    for (int i = 0; i < nthreads && r == 0; i++)
        r = worker_init(&w[i]);
    t0 = cs_clock_s(CLOCK_MONOTONIC);
    c0 = cs_process_cpu_s();
    for (; r == 0 && started < nthreads; started++)
        if (pthread_create(&w[started].thread, NULL, work, &w[started]) != 0)
            r = -EAGAIN;
    for (int i = 0; i < started; i++)
        pthread_join(w[i].thread, NULL);
    t0 = cs_clock_s(CLOCK_MONOTONIC) - t0;
    c0 = cs_process_cpu_s() - c0;
    for (int i = 0; i < nthreads; i++) {
        r = r < 0 ? r : w[i].err;
        for (int p = 0; p < 5; p++)
            t[p] += w[i].t[p];
        in += w[i].bytes_in;
        z += w[i].bytes_z;
        blobs += w[i].blobs;
        for (size_t b = 0; b < CS_ID_LEN; b++)
            x[b] ^= w[i].ids_xor[b];
        worker_free(&w[i]);
    }
    free(w);
    if (r < 0)
        return r;
    printf("engine hash=%s dict=%d threads=%d files=%zu blobs=%" PRIu64 " bytes_in=%" PRIu64
           " bytes_compressed=%" PRIu64 " wall_s=%.3f cpu_s=%.3f train_s=%.3f",
           run.openssl ? "openssl" : "sodium", run.dict, nthreads, files.n, blobs, in, z, t0, c0, train_s);
    for (int p = 0; p < 5; p++)
        sampled += t[p];
    for (int p = 0; p < 5; p++)
        printf(" %s_s=%.3f", part_name[p], sampled > 0 ? t[p] / sampled * c0 : 0);
    printf(" ids_xor=");
    for (size_t b = 0; b < CS_ID_LEN; b++)
        printf("%02x", x[b]);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "hash", required_argument, NULL, 'H' },
        { "dict", no_argument, NULL, 'd' },
        { "check", no_argument, NULL, 'c' },
        { "threads", required_argument, NULL, 't' },
        {}
    };
    int c, r, nthreads = cs_usable_cores();
    double train_s = 0;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (strcmp(optarg, "openssl") != 0 && strcmp(optarg, "sodium") != 0)
                goto usage;
            run.openssl = strcmp(optarg, "openssl") == 0;
            break;
        case 'd': run.dict = true; break;
        case 'c': run.check = true; break;
        case 't': nthreads = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (optind + 1 != argc || nthreads < 1 || nthreads > 256)
        goto usage;
    if ((r = setup()) == 0 && (r = nftw(argv[optind], add_file, 64, FTW_PHYS)) == -1)
        r = -errno;
    if (r < 0) {
        fprintf(stderr, "engine_floor: %s: %s\n", argv[optind], strerror(-r));
        return 1;
    }
    if (run.dict) {
        double t0 = cs_clock_s(CLOCK_MONOTONIC);
        if ((r = train()) < 0)
            return 1;
        train_s = cs_clock_s(CLOCK_MONOTONIC) - t0;
    }
    r = measure(nthreads, train_s);
    if (r < 0)
        fprintf(stderr, "engine_floor: %s\n", r == -EBADMSG ? "OpenSSL's id differs from libsodium's" : strerror(-r));
    for (int i = 0; i < 3; i++)
        ZSTD_freeCDict(run.cdict[i]);
    EVP_MAC_free(run.mac);
    cs_secure_free(run.chunker);
    cs_secure_free(run.keys);
    return r < 0 ? 1 : 0;
usage:
    fprintf(stderr, "usage: engine_floor DIR [--hash sodium|openssl] [--dict] [--check] [--threads N]\n");
    return 2;
}
