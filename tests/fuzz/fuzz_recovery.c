/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the recovery-code parser (typed by a person, but also
 * fed by the PAM conversation during password-drift repair).  A code that
 * parses must re-encode to a code that parses to the same key. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/recovery.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[CS_RECOVERY_KEY_BYTES], again[CS_RECOVERY_KEY_BYTES];
    char code[CS_RECOVERY_CODE_MAX];
    static int ready;

    if (!ready && cs_crypto_init() < 0)
        return 0;
    ready = 1;
    if (cs_recovery_parse((const char *)data, size, key) != 0)
        return 0;
    cs_recovery_encode(key, code);
    if (cs_recovery_parse(code, strlen(code), again) != 0 || memcmp(key, again, sizeof(key)) != 0)
        abort();
    return 0;
}
