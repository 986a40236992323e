/* SPDX-License-Identifier: MIT */
/* Repository cryptography: subkeys, sealed objects, blob encryption.
 * XChaCha20-Poly1305 with the object's type and id as associated data (so
 * nothing can be swapped or renamed), keyed BLAKE2b-256 for blob ids, zstd
 * when it pays.  See docs/repository.md. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#define ZSTD_STATIC_LINKING_ONLY /* static contexts: ZSTD_initStaticCCtx */
#include <zstd.h>
#include "repo/repo_int.h"
#include "util/secmem.h"

static const uint8_t seal_magic[4] = { 'C', 'S', 'R', '1' };
static const uint8_t blob_magic[4] = { 'C', 'S', 'B', '1' };

int cs_rkeys_new(const cs_amk *amk, cs_repo_keys **out)
{
    cs_repo_keys *k = cs_secure_alloc(sizeof(*k));
    int r;

    if (!k)
        return -ENOMEM;
    if ((r = cs_amk_derive(amk, CS_SUBKEY_BACKUP_DATA, k->data)) < 0 ||
        (r = cs_amk_derive(amk, CS_SUBKEY_CHUNK_MAC, k->mac)) < 0 ||
        (r = cs_amk_derive(amk, CS_SUBKEY_LOCAL_CACHE, k->cache)) < 0) {
        cs_secure_free(k);
        return r;
    }
    *out = k;
    return 0;
}

/* libsodium's BLAKE2b, not a faster own copy (plain C ran at 1390 MB/s
 * against libsodium 1.0.18's 740 MB/s here, ~0.6 CPU-s of a 0.93 GB initial
 * backup): the project writes no cryptographic primitive a dependency has,
 * and OpenSSL's BLAKE2BMAC, as fast, would hold the chunk MAC key outside
 * locked memory. */
void cs_blob_id(const cs_repo_keys *k, const void *data, size_t len, cs_id *out)
{
    crypto_generichash(out->b, CS_ID_LEN, data, len, k->mac, sizeof(k->mac));
}

void cs_rkeys_free(cs_repo_keys *k)
{
    cs_secure_free(k);
}

static void make_ad(uint8_t ad[37], const uint8_t magic[4], int type, const cs_id *id)
{
    memcpy(ad, magic, 4);
    ad[4] = (uint8_t)type;
    if (id)
        memcpy(ad + 5, id->b, 32);
    else
        memset(ad + 5, 0, 32);
}

int cs_seal(const uint8_t key[32], int type, const cs_id *id, const void *pt, size_t len, cs_buf *out)
{
    uint8_t ad[37];
    uint8_t *p;
    unsigned long long clen;
    int r = cs_buf_reserve(out, len + CS_SEAL_OVERHEAD);

    if (r < 0)
        return r;
    make_ad(ad, seal_magic, type, id);
    p = out->data + out->len;
    memcpy(p, seal_magic, 4);
    p[4] = (uint8_t)type;
    randombytes_buf(p + 5, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + 29, &clen, pt, len, ad, sizeof(ad), NULL, p + 5, key);
    out->len += 29 + (size_t)clen;
    return 0;
}

int cs_unseal(const uint8_t key[32], int type, const cs_id *id, const void *ct, size_t len, cs_buf *out)
{
    const uint8_t *c = ct;
    uint8_t ad[37];
    unsigned long long plen;
    int r;

    if (len < CS_SEAL_OVERHEAD || memcmp(c, seal_magic, 4) != 0 || c[4] != type)
        return -EBADMSG;
    r = cs_buf_reserve(out, len - CS_SEAL_OVERHEAD);
    if (r < 0)
        return r;
    make_ad(ad, seal_magic, type, id);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->data + out->len, &plen, NULL, c + 29, len - 29,
                                                   ad, sizeof(ad), c + 5, key) != 0)
        return -EBADMSG;
    out->len += (size_t)plen;
    return 0;
}

/* The level by blob size, chosen by measurement on the real-tree benchmark
 * (73 k files of /usr, 933 MB; bench/README.md, session 8): bytes saved per
 * CPU-second differ by size, so each class gets the level where one more
 * level stops paying.  Blobs below 128 KiB are whole small files and trees:
 *   below 4 KiB (54 k files, 73 MB): level 2; 6 this cost 0.62 CPU-s for
 *     0.3 MB less (a frame's tables and headers cost more than its matches);
 *   4-32 KiB (14.6 k files, 181 MB): level 4 (dfast, minimum match 4);
 *   32-128 KiB (3.5 k files, 221 MB): level 5 (greedy); level 6 took
 *     0.5 CPU-s more for 1.2 MB; level 4 (session 9) 0.4 CPU-s less, but
 *     the repository went from 0.978 to 0.984-0.990 of restic's (target
 *     0.99) in the quiet benchmark: too near the edge;
 * chunks of bigger files (>= 128 KiB: 458 MB) get level 3 with a 2^16-entry
 * hash and a 2^15-entry chain table (one 512 KiB pair, beside the chunk in
 * L2): 3.8 MB less than level 2 for +0.2 CPU-s, the best trade of all; the
 * default level 3 tables saved 0.6 MB more for twice that.
 * Together: the same repository size as level 6 below 128 KiB and level 2
 * above (-0.4 MB), for 1.3 CPU-s (28 %) less zstd time.
 * The sample class compresses the 64 KiB probes of worth_compressing(). */
#define ZSTD_TINY_MAX (4u << 10)
#define ZSTD_SMALL_MAX (32u << 10)
#define ZSTD_MID_MAX (128u << 10)
#define ZSTD_SAMPLE (64u << 10)

enum { Z_TINY, Z_SMALL, Z_MID, Z_MAIN, Z_SAMPLE, Z_CLASSES };

/* level, and the input sizes the class sees (max 0: any size) */
static const struct {
    int level;
    size_t min, max;
} zclass[Z_CLASSES] = {
    [Z_TINY] = { 2, 64, ZSTD_TINY_MAX - 1 },
    [Z_SMALL] = { 4, ZSTD_TINY_MAX, ZSTD_SMALL_MAX - 1 },
    [Z_MID] = { 5, ZSTD_SMALL_MAX, ZSTD_MID_MAX - 1 },
    [Z_MAIN] = { 3, ZSTD_MID_MAX, 0 },
    [Z_SAMPLE] = { 1, ZSTD_SAMPLE, ZSTD_SAMPLE },
};

/* Compressors per thread, one per size class: switching one context between
 * levels would reinitialise its tables on every blob.  Each lives in a
 * workspace allocated once for the largest input of its class
 * (ZSTD_initStaticCCtx): a context of zstd's own allocation grows for a big
 * input and frees its workspace after 128 smaller ones, and every regrowth
 * faulted fresh pages in (zeroed by the kernel, then memset by zstd): ~40 %
 * of the initial backup's page faults, which cost far more on a VM that
 * returns freed pages to its host.  The output is the same: the parameters
 * follow the input size, not the workspace. */
typedef struct zset {
    ZSTD_CCtx *c[Z_CLASSES];
    void *ws[Z_CLASSES];
    size_t size[Z_CLASSES];
} zset;

static int zparams_set(ZSTD_CCtx_params *p, int class)
{
    size_t e = ZSTD_CCtxParams_setParameter(p, ZSTD_c_compressionLevel, zclass[class].level);

    if (!ZSTD_isError(e) && class == Z_MAIN)
        e = ZSTD_CCtxParams_setParameter(p, ZSTD_c_hashLog, 16);
    if (!ZSTD_isError(e) && class == Z_MAIN)
        e = ZSTD_CCtxParams_setParameter(p, ZSTD_c_chainLog, 15);
    return ZSTD_isError(e) ? -EINVAL : 0;
}

/* The workspace for every input size of the class: zstd derives its tables
 * from the size's power of two (window log) and from size rows that end at
 * powers of two (16, 128, 256 KiB), so the largest estimate over the powers
 * of two that cover the class (and over "size unknown", which is what any
 * size above 256 KiB gets, for the open-ended class) bounds them all. */
static size_t zclass_workspace(int class)
{
    ZSTD_CCtx_params *p = ZSTD_createCCtxParams();
    size_t max = zclass[class].max ? zclass[class].max : CS_MAX_TREE, need = 0;

    if (!p || zparams_set(p, class) < 0) {
        ZSTD_freeCCtxParams(p);
        return 0;
    }
    for (size_t hint = 64;; hint *= 2) {
        size_t e;
        if (hint * 2 > zclass[class].min) {
            ZSTD_CCtxParams_setParameter(p, ZSTD_c_srcSizeHint, (int)hint);
            e = ZSTD_estimateCCtxSize_usingCCtxParams(p);
            if (ZSTD_isError(e) || e == 0) {
                need = 0;
                break;
            }
            need = e > need ? e : need;
        }
        if (hint >= max)
            break;
    }
    ZSTD_freeCCtxParams(p);
    return need;
}

static int zclass_init(zset *z, int class)
{
    ZSTD_CCtx_params *p = ZSTD_createCCtxParams();
    size_t n = zclass_workspace(class);
    int r = -ENOMEM;

    /* malloc's alignment is what ZSTD_initStaticCCtx asks for (8 bytes) */
    if (p && n && (z->ws[class] = malloc(n)) && (z->c[class] = ZSTD_initStaticCCtx(z->ws[class], n)))
        r = zparams_set(p, class);
    if (r == 0 && ZSTD_isError(ZSTD_CCtx_setParametersUsingCCtxParams(z->c[class], p)))
        r = -EINVAL;
    z->size[class] = n;
    ZSTD_freeCCtxParams(p);
    return r;
}

void *cs_zctx_new(void)
{
    zset *z = calloc(1, sizeof(*z));

    if (!z)
        return NULL;
    for (int i = 0; i < Z_CLASSES; i++) {
        if (zclass_init(z, i) < 0) {
            cs_zctx_free(z);
            return NULL;
        }
    }
    return z;
}

void cs_zctx_free(void *p)
{
    zset *z = p;

    if (!z)
        return;
    for (int i = 0; i < Z_CLASSES; i++)
        free(z->ws[i]); /* a static context is its workspace */
    free(z);
}

size_t cs_zctx_sizeof(const void *p)
{
    const zset *z = p;
    size_t n = 0;

    for (int i = 0; i < Z_CLASSES; i++)
        n += ZSTD_sizeof_CCtx(z->c[i]);
    return n;
}

static ZSTD_CCtx *zctx_for(const zset *z, size_t len)
{
    if (len < ZSTD_TINY_MAX)
        return z->c[Z_TINY];
    if (len < ZSTD_SMALL_MAX)
        return z->c[Z_SMALL];
    return z->c[len < ZSTD_MID_MAX ? Z_MID : Z_MAIN];
}

/* Already-compressed data (media, archives) is most of a home directory's
 * bytes: sample it before paying for a full compression.  Three samples
 * (head, middle, tail), because a chunk of a PDF, a disk image or a PSD
 * often holds compressible runs next to embedded media: one middle sample
 * missed 6.5 MB of savings on the 1 GiB benchmark, three find 5.8 of them.
 * Media fail the samples at ~3.7 GB/s, so the samples cost little; the
 * threshold (2 %) is below what the whole-chunk test keeps (3 %), and
 * chunks whose samples promise more than they give are dropped there. */
static bool worth_compressing(zset *z, const uint8_t *data, size_t len, uint8_t *scratch, size_t scap)
{
    const size_t sample = ZSTD_SAMPLE;
    const size_t at[3] = { 0, len / 2 - sample / 2, len - sample };

    if (len < 3 * sample)
        return true;
    for (size_t i = 0; i < 3; i++) {
        size_t n = ZSTD_compress2(z->c[Z_SAMPLE], scratch, scap, data + at[i], sample);
        if (!ZSTD_isError(n) && n < sample - sample / 50)
            return true;
    }
    return false;
}

int cs_blob_payload(void *zctx, const void *data, size_t len, cs_buf *scratch, const uint8_t **payload,
                    size_t *plen, uint8_t *flag)
{
    zset *z = zctx;
    size_t bound = ZSTD_compressBound(len);
    int r;

    *payload = data;
    *plen = len;
    *flag = 0;
    if (len < 64)
        return 0;
    cs_buf_reset(scratch);
    if ((r = cs_buf_reserve(scratch, bound)) < 0)
        return r;
    if (worth_compressing(z, data, len, scratch->data, bound)) {
        size_t n = ZSTD_compress2(zctx_for(z, len), scratch->data, bound, data, len);
        if (!ZSTD_isError(n) && n < len - len / 32) {
            scratch->len = n;
            *payload = scratch->data;
            *plen = n;
            *flag = 1;
        }
    }
    return 0;
}

/* Blob nonces: random, as before, but drawn from a per-thread pool filled
 * by one randombytes_buf() per 170 blobs instead of one per blob (75 k
 * getrandom() calls in a backup of the real tree; libsodium reads 256 bytes
 * a call, so ~16 per refill).  Nonces are public; what matters is that
 * none is used twice: each pool byte is handed out once, and a forked
 * child (which inherits the pool) refills before its first blob. */
#define NONCE_POOL (170 * 24)
static _Atomic unsigned fork_generation = 1;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;
static _Thread_local struct {
    uint8_t bytes[NONCE_POOL];
    size_t used;
    unsigned generation;
} nonces;

static void forked(void)
{
    fork_generation++;
}

static void fork_hook(void)
{
    pthread_atfork(NULL, NULL, forked);
}

static void blob_nonce(uint8_t nonce[24])
{
    pthread_once(&fork_hook_once, fork_hook);
    if (nonces.generation != fork_generation || nonces.used + 24 > sizeof(nonces.bytes)) {
        randombytes_buf(nonces.bytes, sizeof(nonces.bytes));
        nonces.used = 0;
        nonces.generation = fork_generation;
    }
    memcpy(nonce, nonces.bytes + nonces.used, 24);
    nonces.used += 24;
}

/* layout: nonce | AEAD(flag | payload) | tag, written at dst (blob_aead.c) */
int cs_blob_seal_into(const cs_repo_keys *k, int type, const cs_id *id, uint8_t flag, const uint8_t *payload,
                      size_t plen, uint8_t *dst)
{
    uint8_t ad[37];

    make_ad(ad, blob_magic, type, id);
    blob_nonce(dst);
    return cs_blob_aead_seal(k->data, dst, ad, sizeof(ad), flag, payload, plen, dst + 24);
}

int cs_blob_seal(const cs_repo_keys *k, int type, const cs_id *id, const void *data, size_t len,
                 void *zctx, cs_buf *out)
{
    zset *z = zctx ? zctx : cs_zctx_new();
    cs_buf scratch = CS_BUF_INIT;
    const uint8_t *payload;
    size_t plen;
    uint8_t flag;
    int r;

    if (!z)
        return -ENOMEM;
    cs_buf_reset(out);
    r = cs_blob_payload(z, data, len, &scratch, &payload, &plen, &flag);
    if (r == 0)
        r = cs_buf_reserve(out, CS_BLOB_OVERHEAD + plen);
    if (r == 0)
        r = cs_blob_seal_into(k, type, id, flag, payload, plen, out->data);
    if (r == 0)
        out->len = CS_BLOB_OVERHEAD + plen;
    cs_buf_free(&scratch);
    if (!zctx)
        cs_zctx_free(z);
    return r;
}

int cs_blob_open(const cs_repo_keys *k, int type, const cs_id *id, const void *ct, size_t len,
                 uint32_t raw_len, cs_buf *tmp, cs_buf *out)
{
    return cs_blob_open_dctx(k, type, id, ct, len, raw_len, tmp, out, NULL, true);
}

int cs_blob_open_dctx(const cs_repo_keys *k, int type, const cs_id *id, const void *ct, size_t len,
                      uint32_t raw_len, cs_buf *tmp, cs_buf *out, void *dctx, bool verify_id)
{
    const uint8_t *c = ct;
    uint8_t ad[37];
    size_t plen;
    cs_id check;
    int r;

    if (len < CS_BLOB_OVERHEAD || len > CS_MAX_BLOB || raw_len > CS_MAX_TREE)
        return -EBADMSG;
    cs_buf_reset(tmp);
    cs_buf_reset(out);
    if ((r = cs_buf_reserve(tmp, len)) < 0)
        return r;
    make_ad(ad, blob_magic, type, id);
    if ((r = cs_blob_aead_open(k->data, c, ad, sizeof(ad), c + 24, len - 24, tmp->data)) < 0)
        return r;
    plen = len - CS_BLOB_OVERHEAD + 1;
    if (tmp->data[0] == 0) {
        if (plen - 1 != raw_len)
            return -EBADMSG;
        if ((r = cs_buf_append(out, tmp->data + 1, plen - 1)) < 0)
            return r;
    } else if (tmp->data[0] == 1) {
        unsigned long long fsize = ZSTD_getFrameContentSize(tmp->data + 1, plen - 1);
        size_t n;
        if (fsize != raw_len)
            return -EBADMSG;
        if ((r = cs_buf_reserve(out, raw_len ? raw_len : 1)) < 0)
            return r;
        n = dctx ? ZSTD_decompressDCtx(dctx, out->data, raw_len, tmp->data + 1, plen - 1)
                 : ZSTD_decompress(out->data, raw_len, tmp->data + 1, plen - 1);
        if (ZSTD_isError(n) || n != raw_len)
            return -EBADMSG;
        out->len = n;
    } else {
        return -EBADMSG;
    }
    if (!verify_id)
        return 0; /* the AEAD already bound this plaintext to the id */
    cs_blob_id(k, out->data, out->len, &check);
    if (sodium_memcmp(check.b, id->b, CS_ID_LEN) != 0)
        return -EBADMSG;
    return 0;
}
