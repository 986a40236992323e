/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the local state file (<state_dir>/state).  Each input
 * is tried as it is (checksum checks) and with its trailing BLAKE2b-256
 * recomputed, so that mutations reach the field decoders behind the
 * checksum.  Accepted input must re-encode to something that decodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "archive/state.h"
#include "archive_fuzz_common.h"
#include "util/log.h"

static void try_decode(const uint8_t *data, size_t size)
{
    cs_arch_state *st = NULL, *back = NULL;
    cs_buf enc = CS_BUF_INIT;

    if (cs_arch_state_decode(data, size, &st) != 0)
        return;
    if (cs_arch_state_encode(st, &enc) != 0 || cs_arch_state_decode(enc.data, enc.len, &back) != 0)
        abort();
    cs_arch_state_free(back);
    cs_arch_state_free(st);
    cs_buf_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed;

    if (!fuzz_keys("fuzz_archive_state"))
        return 0;
    try_decode(data, size);
    if (size < 32 || !(fixed = malloc(size)))
        return 0;
    memcpy(fixed, data, size);
    crypto_generichash(fixed + size - 32, 32, fixed, size - 32, NULL, 0);
    try_decode(fixed, size);
    free(fixed);
    return 0;
}
