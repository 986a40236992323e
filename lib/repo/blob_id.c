/* SPDX-License-Identifier: MIT */
/* Blob ids: keyed BLAKE2b-256 (RFC 7693) with the 32-byte chunk MAC key,
 * byte for byte libsodium's crypto_generichash(out, 32, data, len, key, 32),
 * which defines the format (docs/repository.md).
 *
 * Why not libsodium itself: every byte of a backup is hashed here, and
 * libsodium 1.0.18 (Debian 12) runs BLAKE2b at 740 MB/s on this project's
 * machines where this plain C compression function runs at 1390 MB/s
 * (1 MiB and 4 KiB inputs alike; bench/README.md, session 8): 0.6 CPU-s of
 * the 7.5 of an initial backup of the 0.93 GB real tree.  Besides, the key
 * block is compressed once per repository key (cs_blob_id_init) instead of
 * once per blob, one compression of the ~2 a small file costs.
 *
 * BLAKE2b is add-rotate-xor only: no table, no branch on data or key.
 * Key hygiene: the state after the key block is key material and lives in
 * cs_repo_keys (secure memory); the key block's words are wiped from the
 * stack, and so is each call's chaining value before returning.  tests/unit/test_blob_id.c checks
 * every length around the 128-byte block against libsodium. */
#include <string.h>
#include <sodium.h>
#include "repo/repo_int.h"
#include "util/bytes.h"

static const uint64_t iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t sigma[12][16] = {
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
    { 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
    { 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
    { 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
    { 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
    { 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
    { 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
    { 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
    { 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
    { 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
    { 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
};

static inline uint64_t rotr64(uint64_t x, int n)
{
    return (x >> n) | (x << (64 - n));
}

#define G(r, i, a, b, c, d)                                                                                    \
    do {                                                                                                       \
        a = a + b + m[sigma[r][2 * (i)]];                                                                      \
        d = rotr64(d ^ a, 32);                                                                                 \
        c = c + d;                                                                                             \
        b = rotr64(b ^ c, 24);                                                                                 \
        a = a + b + m[sigma[r][2 * (i) + 1]];                                                                  \
        d = rotr64(d ^ a, 16);                                                                                 \
        c = c + d;                                                                                             \
        b = rotr64(b ^ c, 63);                                                                                 \
    } while (0)

#define ROUND(r)                                                                                               \
    do {                                                                                                       \
        G(r, 0, v[0], v[4], v[8], v[12]);                                                                      \
        G(r, 1, v[1], v[5], v[9], v[13]);                                                                      \
        G(r, 2, v[2], v[6], v[10], v[14]);                                                                     \
        G(r, 3, v[3], v[7], v[11], v[15]);                                                                     \
        G(r, 4, v[0], v[5], v[10], v[15]);                                                                     \
        G(r, 5, v[1], v[6], v[11], v[12]);                                                                     \
        G(r, 6, v[2], v[7], v[8], v[13]);                                                                      \
        G(r, 7, v[3], v[4], v[9], v[14]);                                                                      \
    } while (0)

/* One 128-byte block; t = bytes so far including this block (inputs stay
 * below 2^64 bytes: the counter's high word is always 0). */
static void compress(uint64_t h[8], const uint8_t *block, uint64_t t, bool last, bool wipe)
{
    uint64_t m[16], v[16];

    for (int i = 0; i < 16; i++)
        m[i] = cs_load_le64(block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = iv[i];
    }
    v[12] ^= t;
    if (last)
        v[14] = ~v[14];
    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);
    ROUND(10);
    ROUND(11);
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
    if (wipe) { /* the key block: data blocks are the caller's plaintext */
        sodium_memzero(m, sizeof(m));
        sodium_memzero(v, sizeof(v));
    }
}

void cs_blob_id_init(cs_repo_keys *k)
{
    uint8_t block[128] = { 0 };

    memcpy(k->mac_state, iv, sizeof(iv));
    /* parameter block: 32-byte digest, 32-byte key, fanout 1, depth 1 */
    k->mac_state[0] ^= 0x01010000ULL ^ ((uint64_t)sizeof(k->mac) << 8) ^ CS_ID_LEN;
    memcpy(block, k->mac, sizeof(k->mac));
    compress(k->mac_state, block, 128, false, true);
    sodium_memzero(block, sizeof(block));
}

void cs_blob_id(const cs_repo_keys *k, const void *data, size_t len, cs_id *out)
{
    const uint8_t *p = data;
    uint8_t last[128];
    uint64_t h[8], t = 128;

    if (len == 0) {
        /* the key block is then the last block: not the stored state */
        crypto_generichash(out->b, CS_ID_LEN, NULL, 0, k->mac, sizeof(k->mac));
        return;
    }
    memcpy(h, k->mac_state, sizeof(h));
    for (; len > 128; p += 128, len -= 128) {
        t += 128;
        compress(h, p, t, false, false);
    }
    memset(last, 0, sizeof(last));
    memcpy(last, p, len);
    compress(h, last, t + len, true, false);
    for (int i = 0; i < CS_ID_LEN; i++)
        out->b[i] = (uint8_t)(h[i / 8] >> (8 * (i % 8)));
    sodium_memzero(h, sizeof(h));
    sodium_memzero(last, sizeof(last));
}
