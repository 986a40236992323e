/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the decrypted body of a compacted version 3 segment
 * ("supersedes from", the claim, then entries), recorded into a state that
 * must then survive a save and load, and whose claim must encode back to
 * the same bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "archive/claim.h"
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "archive_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_arch_state *st = NULL, *back = NULL;
    cs_arch_claim claim;
    cs_buf enc = CS_BUF_INIT;
    uint64_t first;
    size_t off;
    int r;

    if (!fuzz_keys("fuzz_archive_claim") || cs_arch_state_new(&st) < 0)
        return 0;
    if (cs_arch_state_dev(st, fuzz_dev) < 0)
        abort();
    r = cs_arch_segment_body(data, size, CS_ARCH_SEG_COMPACTED | CS_ARCH_SEG_CLAIM, FUZZ_SEQ, &first, &claim, &off);
    if (r < 0 && r != -EBADMSG && r != -ENOMEM)
        abort(); /* only the documented errors */
    if (r == 0) {
        /* canonical: what was accepted encodes to exactly the bytes read */
        if (cs_arch_claim_encode(&claim, &enc) < 0 || enc.len != off - 8 || memcmp(enc.data, data + 8, enc.len) != 0)
            abort();
        if (cs_arch_claim_record(st, 1, FUZZ_SEQ, &claim, NULL) == 0)
            cs_arch_apply_segment(st, 1, data + off, size - off, NULL);
        enc.len = 0;
        if (cs_arch_state_encode(st, &enc) == 0) {
            if (cs_arch_state_decode(enc.data, enc.len, &back) != 0)
                abort();
            cs_arch_state_free(back);
        }
        cs_arch_claim_free(&claim);
    }
    cs_buf_free(&enc);
    cs_arch_state_free(st);
    return 0;
}
