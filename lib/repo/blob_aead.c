/* SPDX-License-Identifier: MIT */
/* The AEAD of blobs: XChaCha20-Poly1305-IETF, byte for byte libsodium's
 * crypto_aead_xchacha20poly1305_ietf (an HChaCha20 subkey from the key and
 * the first 16 nonce bytes, then IETF ChaCha20-Poly1305 with the nonce
 * 0^4 || nonce[16..24)), computed with OpenSSL's ChaCha20-Poly1305.
 *
 * Why a second library for this one thing: blobs are the only bulk data
 * (every stored byte of a backup and of a restore passes here), and
 * OpenSSL's stitched ChaCha20-Poly1305 runs at 2064 MiB/s per core on this
 * project's machines against libsodium's 1218 MiB/s (1 MiB blobs, including
 * the copy it saves: it takes the plaintext in pieces, so the flag byte and
 * the payload are encrypted straight from where they are).  docs/repository.md
 * has the measurement; tests/unit/test_blob_aead.c checks every size class
 * against libsodium itself, both ways.
 *
 * Key hygiene: the repository data key stays in libsodium's locked memory.
 * Only the per-blob HChaCha20 subkey enters OpenSSL's context; it opens that
 * one blob, whose plaintext this process holds anyway.  The context is per
 * thread and freed (OpenSSL cleanses it) when the thread ends.
 *
 * Where OpenSSL cannot provide the cipher (a FIPS-only provider
 * configuration, no memory for a context), libsodium computes the same
 * bytes: blobs are never unreadable for want of the fast path. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <openssl/evp.h>
#include <sodium.h>
#include "repo/repo_int.h"

static pthread_once_t ctx_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static bool ctx_key_ok;
static atomic_bool cipher_unavailable; /* OpenSSL refused it once: don't ask per blob */

static void ctx_destroy(void *ctx)
{
    EVP_CIPHER_CTX_free(ctx);
}

static void ctx_key_init(void)
{
    ctx_key_ok = pthread_key_create(&ctx_key, ctx_destroy) == 0;
}

/* This thread's context, created on first use (cipher fetched once). */
static EVP_CIPHER_CTX *thread_ctx(void)
{
    EVP_CIPHER_CTX *ctx;

    pthread_once(&ctx_key_once, ctx_key_init);
    if (!ctx_key_ok || atomic_load(&cipher_unavailable))
        return NULL;
    ctx = pthread_getspecific(ctx_key);
    if (ctx)
        return ctx;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return NULL;
    if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, 1) != 1) {
        atomic_store(&cipher_unavailable, true);
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    if (pthread_setspecific(ctx_key, ctx) != 0) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Key the context for one message: subkey = HChaCha20(key, nonce[0..16)). */
static int ctx_start(EVP_CIPHER_CTX *ctx, const uint8_t key[32], const uint8_t nonce[24], int enc)
{
    uint8_t subkey[32], iv[12] = { 0 };
    int ok;

    crypto_core_hchacha20(subkey, nonce, key, NULL);
    memcpy(iv + 4, nonce + 16, 8);
    ok = EVP_CipherInit_ex(ctx, NULL, NULL, subkey, iv, enc) == 1;
    sodium_memzero(subkey, sizeof(subkey));
    return ok ? 0 : -EIO;
}

int cs_blob_aead_seal_sodium(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                             uint8_t flag, const uint8_t *payload, size_t plen, uint8_t *ct)
{
    ct[0] = flag;
    memcpy(ct + 1, payload, plen);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, ct, plen + 1, ad, adlen, NULL, nonce, key);
    return 0;
}

int cs_blob_aead_open_sodium(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                             const uint8_t *ct, size_t clen, uint8_t *pt)
{
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, clen, ad, adlen, nonce, key) != 0)
        return -EBADMSG;
    return 0;
}

int cs_blob_aead_seal(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                      uint8_t flag, const uint8_t *payload, size_t plen, uint8_t *ct)
{
    EVP_CIPHER_CTX *ctx = thread_ctx();
    int n, r;

    if (plen > INT_MAX - 1 || adlen > INT_MAX)
        return -EMSGSIZE;
    if (!ctx)
        return cs_blob_aead_seal_sodium(key, nonce, ad, adlen, flag, payload, plen, ct);
    if ((r = ctx_start(ctx, key, nonce, 1)) < 0)
        return r;
    if (EVP_EncryptUpdate(ctx, NULL, &n, ad, (int)adlen) != 1 ||
        EVP_EncryptUpdate(ctx, ct, &n, &flag, 1) != 1 || n != 1 ||
        (plen && (EVP_EncryptUpdate(ctx, ct + 1, &n, payload, (int)plen) != 1 || (size_t)n != plen)) ||
        EVP_EncryptFinal_ex(ctx, ct + 1 + plen, &n) != 1 || n != 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, ct + 1 + plen) != 1)
        return -EIO;
    return 0;
}

int cs_blob_aead_open(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                      const uint8_t *ct, size_t clen, uint8_t *pt)
{
    EVP_CIPHER_CTX *ctx = thread_ctx();
    size_t mlen;
    int n, r, ok;

    if (clen < 16)
        return -EBADMSG;
    mlen = clen - 16;
    if (mlen > INT_MAX || adlen > INT_MAX)
        return -EMSGSIZE;
    if (!ctx)
        return cs_blob_aead_open_sodium(key, nonce, ad, adlen, ct, clen, pt);
    if ((r = ctx_start(ctx, key, nonce, 0)) < 0)
        return r;
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(ct + mlen)) == 1 &&
         EVP_DecryptUpdate(ctx, NULL, &n, ad, (int)adlen) == 1 &&
         (mlen == 0 || (EVP_DecryptUpdate(ctx, pt, &n, ct, (int)mlen) == 1 && (size_t)n == mlen)) &&
         EVP_DecryptFinal_ex(ctx, pt + mlen, &n) == 1;
    if (!ok) {
        /* OpenSSL decrypts before it checks the tag: nothing unverified may
         * outlive the failure */
        sodium_memzero(pt, mlen);
        return -EBADMSG;
    }
    return 0;
}
