/* SPDX-License-Identifier: MIT */
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

/* 0 when p is within the format's bounds and within this process's limit
 * (cs_kdf_set_limit), else -E2BIG; a parameter over the limit is logged at
 * warning with the setting that allows it. */
int cs_kdf_check(const cs_kdf_params *p);

/* What this workstation accepts from a keybag, beyond the format's bounds:
 * a keybag from storage is hostile, and every password attempt on it runs
 * as root.  The limit is per process and starts at the format's bounds;
 * programs that unwrap keybags set it from the configuration
 * (cs_kdf_set_limit_from_config) right after loading it. */
void cs_kdf_set_limit(const cs_kdf_params *max);
const cs_kdf_params *cs_kdf_limit(void);
/* The limit for [kdf] memory, max_memory (0: automatic), max_ops and
 * min_ops on a machine with ram_bytes of memory (0: unknown):
 * max_memory, or 4 x memory when 0, at most a quarter of ram_bytes, never
 * less than memory; max_ops, never less than min_ops.  Pure: unit-tested. */
void cs_kdf_limit_compute(uint64_t memory, uint64_t max_memory, uint64_t max_ops, uint64_t min_ops,
                          uint64_t ram_bytes, cs_kdf_params *out);
/* cs_kdf_limit_compute() with the configuration and this machine's RAM,
 * then cs_kdf_set_limit(). */
void cs_kdf_set_limit_from_config(const cs_config *cfg);

/* Derive out_len bytes (out should be secure memory) from a password.
 * -E2BIG out of bounds, -ENOMEM when Argon2 cannot get its memory. */
int cs_kdf_derive(const cs_kdf_params *p, const uint8_t salt[CS_KDF_SALT_BYTES],
                  const char *password, size_t password_len, uint8_t *out, size_t out_len);

/* Choose ops for mem_bytes so one derivation takes about target_ms on this
 * machine (at least min_ops, at most CS_KDF_OPS_MAX and the limit's ops), by timing a one-pass
 * run and scaling, as fscrypt does.  The memory is never lowered. */
int cs_kdf_calibrate(uint64_t mem_bytes, unsigned target_ms, uint64_t min_ops,
                     cs_kdf_params *out);

/* cs_kdf_calibrate() with [kdf] memory, target_time_ms and min_ops. */
int cs_kdf_params_from_config(const cs_config *cfg, cs_kdf_params *out);

#endif
