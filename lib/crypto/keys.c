/* SPDX-License-Identifier: MIT */
/* Account master key and subkey derivation. */
#include "crypto/keys.h"

#include <errno.h>
#include <string.h>
#include <sodium.h>
#include "util/secmem.h"

_Static_assert(sizeof(CS_KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context size");
_Static_assert(CS_KEY_BYTES == crypto_kdf_KEYBYTES, "kdf key size");

int cs_amk_generate(cs_amk **out)
{
    cs_amk *a = cs_secure_alloc(sizeof(*a));

    if (!a)
        return -ENOMEM;
    crypto_kdf_keygen(a->key);
    *out = a;
    return 0;
}

int cs_amk_from_bytes(const uint8_t *bytes, size_t len, cs_amk **out)
{
    cs_amk *a;

    if (len != CS_KEY_BYTES)
        return -EINVAL;
    a = cs_secure_alloc(sizeof(*a));
    if (!a)
        return -ENOMEM;
    memcpy(a->key, bytes, CS_KEY_BYTES);
    *out = a;
    return 0;
}

void cs_amk_free(cs_amk *amk)
{
    cs_secure_free(amk);
}

int cs_amk_derive(const cs_amk *amk, cs_subkey_id id, uint8_t out[CS_KEY_BYTES])
{
    if (crypto_kdf_derive_from_key(out, CS_KEY_BYTES, (uint64_t)id, CS_KDF_CONTEXT, amk->key) != 0)
        return -EIO;
    return 0;
}

int cs_amk_sign_keypair(const cs_amk *amk, uint8_t pk[CS_SIGN_PK_BYTES], uint8_t sk[CS_SIGN_SK_BYTES])
{
    uint8_t *seed = cs_secure_alloc(crypto_sign_SEEDBYTES);
    int r;

    if (!seed)
        return -ENOMEM;
    r = cs_amk_derive(amk, CS_SUBKEY_SIGN_SEED, seed);
    if (r == 0 && crypto_sign_seed_keypair(pk, sk, seed) != 0)
        r = -EIO;
    cs_secure_free(seed);
    return r;
}

int cs_amk_account_pubkey(const cs_amk *amk, uint8_t pk[CS_SIGN_PK_BYTES])
{
    uint8_t *sk = cs_secure_alloc(CS_SIGN_SK_BYTES);
    int r;

    if (!sk)
        return -ENOMEM;
    r = cs_amk_sign_keypair(amk, pk, sk);
    cs_secure_free(sk);
    return r;
}
