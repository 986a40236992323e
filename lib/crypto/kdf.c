/* Argon2id parameter bounds and calibration. */
#include "crypto/kdf.h"

#include <errno.h>
#include <time.h>
#include <sodium.h>
#include "util/log.h"
#include "util/secmem.h"

_Static_assert(CS_KDF_SALT_BYTES == crypto_pwhash_argon2id_SALTBYTES, "salt size");

int cs_kdf_check(const cs_kdf_params *p)
{
    if (!p || p->ops < CS_KDF_OPS_MIN || p->ops > CS_KDF_OPS_MAX)
        return -E2BIG;
    if (p->mem_bytes < CS_KDF_MEM_MIN || p->mem_bytes > CS_KDF_MEM_MAX || p->mem_bytes % 1024)
        return -E2BIG;
    return 0;
}

int cs_kdf_derive(const cs_kdf_params *p, const uint8_t salt[CS_KDF_SALT_BYTES],
                  const char *password, size_t password_len, uint8_t *out, size_t out_len)
{
    int r = cs_kdf_check(p);

    if (r < 0)
        return r;
    if (out_len < crypto_pwhash_argon2id_BYTES_MIN || password_len > crypto_pwhash_argon2id_PASSWD_MAX)
        return -EINVAL;
    /* crypto_pwhash fails only when it cannot allocate its memory */
    if (crypto_pwhash(out, out_len, password, password_len, salt, p->ops, (size_t)p->mem_bytes,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -ENOMEM;
    return 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int cs_kdf_calibrate(uint64_t mem_bytes, unsigned target_ms, uint64_t min_ops, cs_kdf_params *out)
{
    cs_kdf_params p = { .ops = 1, .mem_bytes = mem_bytes - mem_bytes % 1024 };
    uint8_t salt[CS_KDF_SALT_BYTES] = { 0 };
    uint8_t *key = cs_secure_alloc(32);
    uint64_t t0, us, ops, t1 = UINT64_MAX, t2, per;
    int r;

    if (!key)
        return -ENOMEM;
    if (min_ops < CS_KDF_OPS_MIN)
        min_ops = CS_KDF_OPS_MIN;
    r = cs_kdf_check(&p);
    if (r < 0)
        goto out;
    /* Argon2's cost is a fixed part (allocating and first touching the
     * memory) plus a share per pass: time one pass (best of two, since the
     * noise of this shared machine only ever makes a run slower) and two
     * passes, and solve for the number of passes that fits the target. */
    for (int i = 0; i < 2; i++) {
        t0 = now_us();
        if ((r = cs_kdf_derive(&p, salt, "calibrate", 9, key, 32)) < 0)
            goto out;
        us = now_us() - t0;
        t1 = us < t1 ? us : t1;
    }
    p.ops = 2;
    t0 = now_us();
    if ((r = cs_kdf_derive(&p, salt, "calibrate", 9, key, 32)) < 0)
        goto out;
    t2 = now_us() - t0;
    per = t2 > t1 ? t2 - t1 : t1;
    if (per == 0)
        per = 1;
    us = (uint64_t)target_ms * 1000u;
    ops = us <= t1 ? 1 : 1 + (us - t1 + per / 2) / per;
    if (ops < min_ops)
        ops = min_ops;
    if (ops > CS_KDF_OPS_MAX)
        ops = CS_KDF_OPS_MAX;
    p.ops = ops;
    log_debug("kdf calibration: %llu MiB, 1 pass %llu ms, 2 passes %llu ms; using %llu passes",
              (unsigned long long)(p.mem_bytes >> 20), (unsigned long long)(t1 / 1000),
              (unsigned long long)(t2 / 1000), (unsigned long long)ops);
    *out = p;
out:
    cs_secure_free(key);
    return r;
}

int cs_kdf_params_from_config(const cs_config *cfg, cs_kdf_params *out)
{
    int64_t mem = cs_config_int(cfg, "kdf", "memory");
    int64_t ms = cs_config_int(cfg, "kdf", "target_time_ms");
    int64_t min_ops = cs_config_int(cfg, "kdf", "min_ops");

    if (mem < (int64_t)CS_KDF_MEM_MIN)
        mem = (int64_t)CS_KDF_MEM_MIN;
    return cs_kdf_calibrate((uint64_t)mem, (unsigned)ms, (uint64_t)min_ops, out);
}
