/* SPDX-License-Identifier: MIT */
/* libFuzzer: opening a stored blob (lib/repo/crypto.c, blob_aead.c), the
 * path every byte read back from storage takes.  Input: 4 bytes of claimed
 * raw length (the index's word, as hostile as the blob), one mode byte, then
 * the rest.  Mode even: the rest is a stored blob as read from storage (the
 * AEAD must refuse it unless it is one).  Mode odd: the rest is a plaintext
 * flag | payload that the harness seals first, so the fuzzer reaches what
 * only an authenticated blob reaches: the flag, the zstd frame, the lengths
 * and the id check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "util/buf.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_repo_keys *keys;
    static const uint8_t ad_id[32] = { 7 };
    cs_buf tmp = CS_BUF_INIT, out = CS_BUF_INIT, blob = CS_BUF_INIT;
    cs_id id;
    uint32_t raw_len;
    uint8_t mode;

    if (!keys) {
        cs_amk *amk;
        cs_crypto_init();
        cs_amk_from_bytes((const uint8_t *)"0123456789abcdef0123456789abcdef", 32, &amk);
        cs_rkeys_new(amk, &keys);
        cs_amk_free(amk);
    }
    if (size < 5)
        return 0;
    raw_len = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)(data[3] & 0x0f) << 24;
    mode = data[4];
    data += 5;
    size -= 5;
    memcpy(id.b, ad_id, sizeof(id.b));
    if (mode & 1) {
        /* seal flag | payload under the repository key, as a writer would */
        if (size < 1 || cs_buf_reserve(&blob, CS_BLOB_OVERHEAD + size) < 0)
            goto out;
        memset(blob.data, 0, 24);
        if (cs_blob_seal_into(keys, CS_BLOB_DATA, &id, data[0], data + 1, size - 1, blob.data) < 0)
            goto out;
        blob.len = CS_BLOB_OVERHEAD + size - 1;
        /* the id check: half the time the real id of what the payload
         * decodes to is unknown, so the keyed hash must refuse */
        (void)cs_blob_open_dctx(keys, CS_BLOB_DATA, &id, blob.data, blob.len, raw_len, &tmp, &out, NULL, mode & 2);
    } else {
        (void)cs_blob_open(keys, CS_BLOB_DATA, &id, data, size, raw_len, &tmp, &out);
    }
out:
    cs_buf_free(&blob);
    cs_buf_free(&tmp);
    cs_buf_free(&out);
    return 0;
}
