/* SPDX-License-Identifier: MIT */
/* libFuzzer target: a sealed log segment as storage returns it (header
 * checks, AEAD, zstd limits), then its entries. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "archive/claim.h"
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "archive_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_arch_keys *k = fuzz_keys("fuzz_archive_segment");
    cs_buf plain = CS_BUF_INIT;
    cs_arch_state *st = NULL;
    uint8_t flags = 0;
    int r;

    if (!k)
        return 0;
    r = cs_arch_segment_open_ex(k, fuzz_dev, FUZZ_SEQ, data, size, &plain, &flags);
    if (r == 0 && cs_arch_state_new(&st) == 0) {
        cs_arch_claim claim;
        uint64_t first;
        size_t skip;

        r = cs_arch_segment_body(plain.data, plain.len, flags, FUZZ_SEQ, &first, &claim, &skip);
        if (r == 0 && (flags & CS_ARCH_SEG_CLAIM))
            cs_arch_claim_record(st, 0, FUZZ_SEQ, &claim, NULL);
        if (r == 0)
            cs_arch_apply_segment(st, 0, plain.data + skip, plain.len - skip, NULL);
        else if (r != -EBADMSG && r != -ENOMEM)
            abort();
        cs_arch_claim_free(&claim);
        cs_arch_state_free(st);
    } else if (r < 0 && r != -EBADMSG && r != -EMSGSIZE && r != -EPROTONOSUPPORT && r != -ENOMEM) {
        abort();
    }
    cs_buf_free(&plain);
    return 0;
}
