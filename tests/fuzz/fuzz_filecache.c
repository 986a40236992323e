/* SPDX-License-Identifier: MIT */
/* libFuzzer: the local file-change cache parser (plaintext after decryption). */
#include <stdint.h>
#include "repo/filecache.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = { 7 };
    cs_fcache *c;

    cs_crypto_init();
    if (cs_fcache_new_empty(key, &c) == 0) {
        (void)cs_fcache_parse(c, data, size);
        cs_fcache_free(c);
    }
    return 0;
}
