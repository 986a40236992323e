/* SPDX-License-Identifier: MIT */
/* Blob ids (lib/repo/blob_id.c) against libsodium's keyed BLAKE2b-256,
 * which defines the format: every length around the 128-byte block and a
 * chunk's sizes, unaligned input, several keys, and keys made by
 * cs_rkeys_new() as the repository makes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "repo/repo_int.h"

static cs_repo_keys *keys_with(const uint8_t mac[32])
{
    cs_repo_keys *k = calloc(1, sizeof(*k));

    assert_non_null(k);
    memcpy(k->mac, mac, 32);
    cs_blob_id_init(k);
    return k;
}

static void check(const cs_repo_keys *k, const uint8_t *data, size_t len)
{
    uint8_t want[CS_ID_LEN];
    cs_id got;

    crypto_generichash(want, sizeof(want), data, len, k->mac, sizeof(k->mac));
    cs_blob_id(k, data, len, &got);
    assert_memory_equal(got.b, want, CS_ID_LEN);
}

static void test_every_length_to_three_blocks(void **state)
{
    uint8_t mac[32], data[3 * 128 + 2];
    cs_repo_keys *k;

    (void)state;
    randombytes_buf(mac, sizeof(mac));
    randombytes_buf(data, sizeof(data));
    k = keys_with(mac);
    for (size_t len = 0; len <= 3 * 128 + 1; len++) {
        check(k, data, len);
        check(k, data + 1, len); /* unaligned */
    }
    free(k);
}

static void test_chunk_sizes(void **state)
{
    static const size_t sizes[] = { 4095, 4096, 65536, 131071, (512u << 10) + 17, 1u << 20, (8u << 20) + 3 };
    size_t max = (8u << 20) + 4;
    uint8_t mac[32], *data = malloc(max);
    cs_repo_keys *k;

    (void)state;
    assert_non_null(data);
    randombytes_buf(mac, sizeof(mac));
    randombytes_buf(data, max);
    k = keys_with(mac);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check(k, data, sizes[i]);
    free(k);
    free(data);
}

static void test_keys_differ_and_fixed_keys(void **state)
{
    uint8_t zeros[32] = { 0 }, ones[32], data[300];
    cs_repo_keys *a, *b;
    cs_id ia, ib;

    (void)state;
    memset(ones, 0xff, sizeof(ones));
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    a = keys_with(zeros);
    b = keys_with(ones);
    check(a, data, sizeof(data));
    check(b, data, sizeof(data));
    cs_blob_id(a, data, sizeof(data), &ia);
    cs_blob_id(b, data, sizeof(data), &ib);
    assert_memory_not_equal(ia.b, ib.b, CS_ID_LEN);
    free(a);
    free(b);
}

static void test_repository_keys(void **state)
{
    cs_amk *amk = NULL;
    cs_repo_keys *k = NULL;
    uint8_t data[1000];

    (void)state;
    assert_int_equal(cs_amk_generate(&amk), 0);
    assert_int_equal(cs_rkeys_new(amk, &k), 0);
    randombytes_buf(data, sizeof(data));
    for (size_t len = 0; len < sizeof(data); len += 37)
        check(k, data, len);
    cs_rkeys_free(k);
    cs_amk_free(amk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_length_to_three_blocks),
        cmocka_unit_test(test_chunk_sizes),
        cmocka_unit_test(test_keys_differ_and_fixed_keys),
        cmocka_unit_test(test_repository_keys),
    };

    if (cs_crypto_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
