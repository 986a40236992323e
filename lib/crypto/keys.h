/* SPDX-License-Identifier: MIT */
/* The key hierarchy: account master key (AMK) and the subkeys derived from it.
 *
 *   AMK (32 random bytes, created at enrollment, only ever stored wrapped)
 *    |- crypto_kdf(id, "cldseal1") -> one 32-byte subkey per purpose below
 *    '- CS_SUBKEY_SIGN_SEED -> Ed25519 account keypair (public key pinned by
 *                              the fleet directory)
 *
 * Subkey ids are part of the on-disk format: append new ones, never renumber.
 */
#ifndef CS_CRYPTO_KEYS_H
#define CS_CRYPTO_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define CS_KEY_BYTES 32
#define CS_KDF_CONTEXT "cldseal1" /* exactly crypto_kdf_CONTEXTBYTES (8) */

typedef enum cs_subkey_id {
    CS_SUBKEY_BACKUP_DATA = 1,   /* encrypts backup repository blobs/objects */
    CS_SUBKEY_CHUNK_MAC = 2,     /* keyed BLAKE2b for chunk ids */
    CS_SUBKEY_ARCHIVE = 3,       /* message-archive encryption */
    CS_SUBKEY_KEYBAG_MAC = 4,    /* MAC over the whole keybag */
    CS_SUBKEY_SIGN_SEED = 5,     /* seed of the account Ed25519 keypair */
    CS_SUBKEY_PAYLOAD = 6,       /* keybag payload (credentials, locations) */
    CS_SUBKEY_ARCHIVE_ID = 7,    /* keyed hash ids of archive messages */
    CS_SUBKEY_LOCAL_CACHE = 8,   /* encrypts local caches (file-change cache) */
    CS_SUBKEY_CREDENTIAL = 9,    /* seals storage secrets inside the payload */
} cs_subkey_id;

/* The AMK, always in secure memory (cs_secure_alloc). */
typedef struct cs_amk {
    uint8_t key[CS_KEY_BYTES];
} cs_amk;

/* New random AMK in secure memory. */
int cs_amk_generate(cs_amk **out);
/* AMK from 32 raw bytes (copied into secure memory). */
int cs_amk_from_bytes(const uint8_t *bytes, size_t len, cs_amk **out);
void cs_amk_free(cs_amk *amk);
static inline void cs_amk_freep(cs_amk **a) { if (*a) cs_amk_free(*a); }
#define _cleanup_amk_ __attribute__((cleanup(cs_amk_freep)))

/* Derive a 32-byte subkey.  out must be secure memory of CS_KEY_BYTES. */
int cs_amk_derive(const cs_amk *amk, cs_subkey_id id, uint8_t out[CS_KEY_BYTES]);

/* The account signing keypair (Ed25519) derived from the AMK.
 * sk is 64 bytes and must be secure memory; pk is 32 bytes. */
#define CS_SIGN_PK_BYTES 32
#define CS_SIGN_SK_BYTES 64
int cs_amk_sign_keypair(const cs_amk *amk, uint8_t pk[CS_SIGN_PK_BYTES], uint8_t sk[CS_SIGN_SK_BYTES]);
/* Only the public key (derives and wipes the secret half internally). */
int cs_amk_account_pubkey(const cs_amk *amk, uint8_t pk[CS_SIGN_PK_BYTES]);

#endif
