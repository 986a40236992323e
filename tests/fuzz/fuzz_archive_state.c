/* libFuzzer target: the local state file (<state_dir>/state).  Accepted
 * input must re-encode to something that decodes again. */
#include <stdint.h>
#include <stdlib.h>
#include "archive/state.h"
#include "archive_fuzz_common.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_arch_state *st = NULL, *back = NULL;
    cs_buf enc = CS_BUF_INIT;

    if (!fuzz_keys("fuzz_archive_state"))
        return 0;
    if (cs_arch_state_decode(data, size, &st) != 0)
        return 0;
    if (cs_arch_state_encode(st, &enc) != 0 || cs_arch_state_decode(enc.data, enc.len, &back) != 0)
        abort();
    cs_arch_state_free(back);
    cs_arch_state_free(st);
    cs_buf_free(&enc);
    return 0;
}
