/* SPDX-License-Identifier: MIT */
/* Argon2id parameter bounds and calibration. */
#include "crypto/kdf.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "util/log.h"
#include "util/secmem.h"

_Static_assert(CS_KDF_SALT_BYTES == crypto_pwhash_argon2id_SALTBYTES, "salt size");

/* The workstation's limit (cs_kdf_set_limit); the format's bounds until set. */
static cs_kdf_params limit = { .ops = CS_KDF_OPS_MAX, .mem_bytes = CS_KDF_MEM_MAX };

void cs_kdf_set_limit(const cs_kdf_params *max)
{
    limit = *max;
}

const cs_kdf_params *cs_kdf_limit(void)
{
    return &limit;
}

void cs_kdf_limit_compute(uint64_t memory, uint64_t max_memory, uint64_t max_ops, uint64_t min_ops,
                          uint64_t ram_bytes, cs_kdf_params *out)
{
    uint64_t mem = max_memory ? max_memory : 4 * memory;

    /* several logins (of different users) may derive at once: no single
     * keybag may claim more than a quarter of the machine */
    if (ram_bytes && mem > ram_bytes / 4)
        mem = ram_bytes / 4;
    if (mem < memory)
        mem = memory; /* what this workstation writes itself must always open */
    if (mem > CS_KDF_MEM_MAX)
        mem = CS_KDF_MEM_MAX;
    out->mem_bytes = mem - mem % 1024;
    out->ops = max_ops < min_ops ? min_ops : max_ops;
    if (out->ops > CS_KDF_OPS_MAX)
        out->ops = CS_KDF_OPS_MAX;
    if (out->ops < CS_KDF_OPS_MIN)
        out->ops = CS_KDF_OPS_MIN;
}

void cs_kdf_set_limit_from_config(const cs_config *cfg)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    cs_kdf_params max;

    cs_kdf_limit_compute((uint64_t)cs_config_int(cfg, "kdf", "memory"),
                         (uint64_t)cs_config_int(cfg, "kdf", "max_memory"),
                         (uint64_t)cs_config_int(cfg, "kdf", "max_ops"),
                         (uint64_t)cs_config_int(cfg, "kdf", "min_ops"),
                         pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0, &max);
    cs_kdf_set_limit(&max);
}

/* The format's bounds only (calibration's own runs). */
static int check_bounds(const cs_kdf_params *p)
{
    if (!p || p->ops < CS_KDF_OPS_MIN || p->ops > CS_KDF_OPS_MAX)
        return -E2BIG;
    if (p->mem_bytes < CS_KDF_MEM_MIN || p->mem_bytes > CS_KDF_MEM_MAX || p->mem_bytes % 1024)
        return -E2BIG;
    return 0;
}

int cs_kdf_check(const cs_kdf_params *p)
{
    int r = check_bounds(p);

    if (r < 0)
        return r;
    if (p->mem_bytes > limit.mem_bytes || p->ops > limit.ops) {
        log_warning("Argon2id parameters of %llu MiB and %llu passes (a keybag's); this workstation accepts at "
                    "most %llu MiB ([kdf] max_memory) and %llu passes ([kdf] max_ops): refused before "
                    "deriving anything.  If the keybag is genuine (set on a bigger machine), raise "
                    "those settings in cloudseal.conf",
                    (unsigned long long)(p->mem_bytes >> 20), (unsigned long long)p->ops,
                    (unsigned long long)(limit.mem_bytes >> 20), (unsigned long long)limit.ops);
        return -E2BIG;
    }
    return 0;
}

static int derive(const cs_kdf_params *p, const uint8_t salt[CS_KDF_SALT_BYTES],
                  const char *password, size_t password_len, uint8_t *out, size_t out_len)
{
    int r;

    if (out_len < crypto_pwhash_argon2id_BYTES_MIN || password_len > crypto_pwhash_argon2id_PASSWD_MAX)
        return -EINVAL;
    /* the start and end lines let a test draw the timeline of derivations */
    log_debug("argon2id: %llu MiB, %llu passes: start", (unsigned long long)(p->mem_bytes >> 20),
              (unsigned long long)p->ops);
    /* crypto_pwhash fails only when it cannot allocate its memory */
    r = crypto_pwhash(out, out_len, password, password_len, salt, p->ops, (size_t)p->mem_bytes,
                      crypto_pwhash_ALG_ARGON2ID13) != 0 ? -ENOMEM : 0;
    log_debug("argon2id: done");
    return r;
}

int cs_kdf_derive(const cs_kdf_params *p, const uint8_t salt[CS_KDF_SALT_BYTES],
                  const char *password, size_t password_len, uint8_t *out, size_t out_len)
{
    int r = cs_kdf_check(p); /* before Argon2 allocates anything */

    return r < 0 ? r : derive(p, salt, password, password_len, out, out_len);
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
    if (min_ops > limit.ops)
        min_ops = limit.ops;
    /* Argon2's cost is a fixed part (allocating and first touching the
     * memory) plus a share per pass: time one pass (best of two, since the
     * noise of this shared machine only ever makes a run slower) and two
     * passes, and solve for the number of passes that fits the target. */
    for (int i = 0; i < 2; i++) {
        t0 = now_us();
        if ((r = derive(&p, salt, "calibrate", 9, key, 32)) < 0)
            goto out;
        us = now_us() - t0;
        t1 = us < t1 ? us : t1;
    }
    p.ops = 2; /* may exceed max_ops = 1: a timing run, not a keybag */
    t0 = now_us();
    if ((r = derive(&p, salt, "calibrate", 9, key, 32)) < 0)
        goto out;
    t2 = now_us() - t0;
    per = t2 > t1 ? t2 - t1 : t1;
    if (per == 0)
        per = 1;
    us = (uint64_t)target_ms * 1000u;
    ops = us <= t1 ? 1 : 1 + (us - t1 + per / 2) / per;
    if (ops < min_ops)
        ops = min_ops;
    if (ops > limit.ops)
        ops = limit.ops; /* what we write must open here */
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
