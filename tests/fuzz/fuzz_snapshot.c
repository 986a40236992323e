/* SPDX-License-Identifier: MIT */
/* libFuzzer: the snapshot JSON parser. */
#include <stdint.h>
#include "repo/repo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_snapshot s;

    if (cs_snapshot_parse(data, size, &s) == 0)
        cs_snapshot_clear(&s);
    return 0;
}
