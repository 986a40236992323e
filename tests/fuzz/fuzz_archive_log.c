/* SPDX-License-Identifier: MIT */
/* libFuzzer target: decrypted change-log entries (the entry decoder and the
 * CRDT merge), then the local-state encoder/decoder on the result. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "archive_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_arch_state *st = NULL, *back = NULL;
    cs_buf enc = CS_BUF_INIT;
    int r;

    if (!fuzz_keys("fuzz_archive_log") || cs_arch_state_new(&st) < 0)
        return 0;
    if (cs_arch_state_dev(st, fuzz_dev) < 0)
        abort();
    r = cs_arch_apply_segment(st, 1, data, size, NULL);
    if (r < 0 && r != -EBADMSG && r != -ENOMEM && r != -E2BIG)
        abort(); /* only the documented errors */
    /* whatever merged must survive a save and load */
    if (cs_arch_state_encode(st, &enc) == 0) {
        if (cs_arch_state_decode(enc.data, enc.len, &back) != 0)
            abort();
        cs_arch_state_free(back);
    }
    cs_buf_free(&enc);
    cs_arch_state_free(st);
    return 0;
}
