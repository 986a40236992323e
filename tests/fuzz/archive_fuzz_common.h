/* SPDX-License-Identifier: MIT */
/* Shared by the archive fuzz targets and their seed generator: the fixed
 * key and segment identity the targets open inputs with. */
#ifndef CS_TESTS_ARCHIVE_FUZZ_COMMON_H
#define CS_TESTS_ARCHIVE_FUZZ_COMMON_H

#include <string.h>
#include "archive/seal.h"
#include "util/log.h"
#include "util/secmem.h"

static const uint8_t fuzz_dev[CS_ARCH_DEV_BYTES] = { 0xf0, 1, 2, 3, 4, 5, 6, 7 };
#define FUZZ_SEQ 3

static cs_arch_keys *fuzz_keys(const char *name)
{
    static cs_arch_keys *k;

    if (!k) {
        uint8_t raw[32];
        cs_amk *amk = NULL;

        if (cs_crypto_init() < 0)
            return NULL;
        cs_log_setup(name, LOG_CRIT);
        memset(raw, 0x5a, sizeof(raw));
        if (cs_amk_from_bytes(raw, sizeof(raw), &amk) < 0)
            return NULL;
        if (cs_arch_keys_derive(amk, &k) < 0)
            k = NULL;
        cs_amk_free(amk);
    }
    return k;
}

#endif
