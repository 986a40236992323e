/* SPDX-License-Identifier: MIT */
/* libFuzzer: the pack header parser (plaintext after decryption) and the
 * pack trailer reader (before decryption). */
#include <stdint.h>
#include <stdlib.h>
#include "repo/repo_int.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_repo_keys *keys;
    cs_pack_blob *b = NULL;
    size_t n = 0;

    if (!keys) {
        cs_amk *amk;
        cs_crypto_init();
        cs_amk_from_bytes((const uint8_t *)"0123456789abcdef0123456789abcdef", 32, &amk);
        cs_rkeys_new(amk, &keys);
        cs_amk_free(amk);
    }
    if (size >= 4 && cs_pack_header_parse(data + 4, size - 4, data[0] | (uint64_t)data[1] << 8 | (uint64_t)data[2] << 16,
                                          &b, &n) == 0)
        free(b);
    b = NULL;
    if (cs_pack_read_header(keys, data, size, &b, &n) == 0)
        free(b);
    /* the fallback's tail read: the pack's listed size may exceed the tail */
    if (size >= 12) {
        uint64_t listed = size + (data[0] & 3) * 1000;
        uint32_t hlen;
        b = NULL;
        if (cs_pack_trailer(data, size, listed, &hlen) == 0 && (uint64_t)hlen + 8 <= size &&
            cs_pack_open_header(keys, data + size - 8 - hlen, hlen, listed, &b, &n) == 0)
            free(b);
    }
    return 0;
}
