/* SPDX-License-Identifier: MIT */
/* libFuzzer target: a sealed message body from a pack (AEAD with the id as
 * associated data, zstd size limits, the id check after decryption). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "archive_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_arch_keys *k = fuzz_keys("fuzz_archive_body");
    static const uint8_t id[CS_ARCH_ID_BYTES] = { 1 };
    cs_buf out = CS_BUF_INIT;
    int r;

    if (!k)
        return 0;
    r = cs_arch_body_open(k, id, data, size, &out);
    if (r < 0 && r != -EBADMSG && r != -EMSGSIZE && r != -ENOMEM)
        abort();
    cs_buf_free(&out);
    return 0;
}
