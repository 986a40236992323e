/* SPDX-License-Identifier: MIT */
/* libFuzzer: the index object parser and the merge into the hash table. */
#include <stdint.h>
#include "repo/repo_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_index ix;

    if (cs_index_init(&ix) == 0) {
        (void)cs_index_merge(&ix, data, size);
        cs_index_free(&ix);
    }
    return 0;
}
