/* Password key derivation: Argon2id (libsodium crypto_pwhash) with bounded,
 * calibrated parameters.
 *
 * Parameters come from two places: calibration at enrollment (our own
 * choice) and keybags read from disk or storage (hostile).  Every derivation
 * goes through cs_kdf_check() first, so a planted keybag cannot make a
 * login allocate 64 GiB or spin for an hour.
 */
#ifndef CS_CRYPTO_KDF_H
#define CS_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>
#include "config/config.h"

#define CS_KDF_SALT_BYTES 16               /* crypto_pwhash_SALTBYTES */
#define CS_KDF_MEM_MIN (8ULL << 20)        /* 8 MiB */
#define CS_KDF_MEM_MAX (4ULL << 30)        /* 4 GiB */
#define CS_KDF_OPS_MIN 1ULL
#define CS_KDF_OPS_MAX 64ULL
#define CS_KDF_ALG_NAME "argon2id13"       /* the only algorithm keybag v1 knows */

typedef struct cs_kdf_params {
    uint64_t ops;       /* Argon2 passes (opslimit) */
    uint64_t mem_bytes; /* Argon2 memory (memlimit), bytes, multiple of 1 KiB */
} cs_kdf_params;

/* 0 when p is within bounds, else -E2BIG. */
int cs_kdf_check(const cs_kdf_params *p);

/* Derive out_len bytes (out should be secure memory) from a password.
 * -E2BIG out of bounds, -ENOMEM when Argon2 cannot get its memory. */
int cs_kdf_derive(const cs_kdf_params *p, const uint8_t salt[CS_KDF_SALT_BYTES],
                  const char *password, size_t password_len, uint8_t *out, size_t out_len);

/* Choose ops for mem_bytes so one derivation takes about target_ms on this
 * machine (at least min_ops, at most CS_KDF_OPS_MAX), by timing a one-pass
 * run and scaling, as fscrypt does.  The memory is never lowered. */
int cs_kdf_calibrate(uint64_t mem_bytes, unsigned target_ms, uint64_t min_ops,
                     cs_kdf_params *out);

/* cs_kdf_calibrate() with [kdf] memory, target_time_ms and min_ops. */
int cs_kdf_params_from_config(const cs_config *cfg, cs_kdf_params *out);

#endif
