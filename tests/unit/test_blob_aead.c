/* SPDX-License-Identifier: MIT */
/* The blob AEAD (lib/repo/blob_aead.c) against libsodium's
 * crypto_aead_xchacha20poly1305_ietf, which defines the format: the same
 * bytes both ways for every size class around the 64-byte block and the
 * 16-byte Poly1305 boundaries, refusal of every single-bit change, of
 * truncation and of other associated data, nothing unverified left behind,
 * one context per thread, and the libsodium fallback (used where OpenSSL
 * cannot provide the cipher) giving the same bytes. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "repo/repo_int.h"

static const size_t sizes[] = { 0, 1, 15, 16, 17, 62, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 4095,
                                4096, 65535, 65536, 65537, (1u << 20) - 1, 1u << 20, (8u << 20) + 3 };

/* libsodium's encryption of flag | payload: the reference */
static uint8_t *reference_seal(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                               uint8_t flag, const uint8_t *payload, size_t plen)
{
    uint8_t *pt = malloc(plen + 1), *ct = malloc(plen + 17);
    unsigned long long clen;

    assert_non_null(pt);
    assert_non_null(ct);
    pt[0] = flag;
    memcpy(pt + 1, payload, plen);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, pt, plen + 1, ad, adlen, NULL, nonce,
                                                                key), 0);
    assert_int_equal(clen, plen + 17);
    free(pt);
    return ct;
}

static void test_same_bytes_as_libsodium(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t key[32], nonce[24], ad[37], flag = (uint8_t)(i & 1);
        uint8_t *payload = malloc(n + 1), *ct = malloc(n + 17), *pt = malloc(n + 1), *ref;
        unsigned long long mlen;

        randombytes_buf(key, sizeof(key));
        randombytes_buf(nonce, sizeof(nonce));
        randombytes_buf(ad, sizeof(ad));
        randombytes_buf(payload, n + 1);
        ref = reference_seal(key, nonce, ad, sizeof(ad), flag, payload, n);

        assert_int_equal(cs_blob_aead_seal(key, nonce, ad, sizeof(ad), flag, payload, n, ct), 0);
        assert_memory_equal(ct, ref, n + 17);
        /* the fallback, too */
        memset(ct, 0, n + 17);
        assert_int_equal(cs_blob_aead_seal_sodium(key, nonce, ad, sizeof(ad), flag, payload, n, ct), 0);
        assert_memory_equal(ct, ref, n + 17);
        memset(pt, 0, n + 1);
        assert_int_equal(cs_blob_aead_open_sodium(key, nonce, ad, sizeof(ad), ct, n + 17, pt), 0);
        assert_int_equal(pt[0], flag);
        ct[n / 2] ^= 4;
        assert_int_equal(cs_blob_aead_open_sodium(key, nonce, ad, sizeof(ad), ct, n + 17, pt), -EBADMSG);
        ct[n / 2] ^= 4;

        /* libsodium opens ours; ours opens libsodium's */
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, ct, n + 17, ad, sizeof(ad),
                                                                    nonce, key), 0);
        assert_int_equal(mlen, n + 1);
        memset(pt, 0, n + 1);
        assert_int_equal(cs_blob_aead_open(key, nonce, ad, sizeof(ad), ref, n + 17, pt), 0);
        assert_int_equal(pt[0], flag);
        if (n)
            assert_memory_equal(pt + 1, payload, n);
        free(payload);
        free(ct);
        free(pt);
        free(ref);
    }
}

static void test_every_bit_refused(void **state)
{
    uint8_t key[32], nonce[24], ad[37], payload[70], ct[87], pt[71];

    (void)state;
    randombytes_buf(key, sizeof(key));
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(ad, sizeof(ad));
    randombytes_buf(payload, sizeof(payload));
    assert_int_equal(cs_blob_aead_seal(key, nonce, ad, sizeof(ad), 1, payload, sizeof(payload), ct), 0);
    for (size_t bit = 0; bit < sizeof(ct) * 8; bit++) {
        ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(pt, 0xAA, sizeof(pt));
        assert_int_equal(cs_blob_aead_open(key, nonce, ad, sizeof(ad), ct, sizeof(ct), pt), -EBADMSG);
        /* decrypted before the tag was checked: wiped again */
        for (size_t i = 0; i < sizeof(pt); i++)
            assert_int_equal(pt[i], 0);
        ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < sizeof(ad) * 8; bit += 7) {
        ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(cs_blob_aead_open(key, nonce, ad, sizeof(ad), ct, sizeof(ct), pt), -EBADMSG);
        ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < sizeof(nonce) * 8; bit += 5) {
        nonce[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(cs_blob_aead_open(key, nonce, ad, sizeof(ad), ct, sizeof(ct), pt), -EBADMSG);
        nonce[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    key[31] ^= 0x80;
    assert_int_equal(cs_blob_aead_open(key, nonce, ad, sizeof(ad), ct, sizeof(ct), pt), -EBADMSG);
    key[31] ^= 0x80;
    /* truncated: every shorter length, including less than a tag */
    for (size_t len = 0; len < sizeof(ct); len++)
        assert_int_equal(cs_blob_aead_open(key, nonce, ad, sizeof(ad), ct, len, pt), -EBADMSG);
    /* and the untouched message still opens (the context recovers from failures) */
    assert_int_equal(cs_blob_aead_open(key, nonce, ad, sizeof(ad), ct, sizeof(ct), pt), 0);
    assert_int_equal(pt[0], 1);
    assert_memory_equal(pt + 1, payload, sizeof(payload));
}

/* One context per thread: threads sealing at once get libsodium's bytes. */
static void *seal_many(void *arg)
{
    uintptr_t bad = 0;

    (void)arg;
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + randombytes_uniform(20000);
        uint8_t key[32], nonce[24], ad[5], *payload = malloc(n), *ct = malloc(n + 17), *ref;

        randombytes_buf(key, sizeof(key));
        randombytes_buf(nonce, sizeof(nonce));
        randombytes_buf(ad, sizeof(ad));
        randombytes_buf(payload, n);
        ref = reference_seal(key, nonce, ad, sizeof(ad), 0, payload, n);
        if (cs_blob_aead_seal(key, nonce, ad, sizeof(ad), 0, payload, n, ct) != 0 || memcmp(ct, ref, n + 17) != 0)
            bad++;
        free(payload);
        free(ct);
        free(ref);
    }
    return (void *)bad;
}

static void test_threads(void **state)
{
    pthread_t t[4];
    void *bad;

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, seal_many, NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_as_libsodium),
        cmocka_unit_test(test_every_bit_refused),
        cmocka_unit_test(test_threads),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
