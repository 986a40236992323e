/* SPDX-License-Identifier: MIT */
/* libFuzzer: the archive's gc-candidates file (lib/archive/gc.c), read from
 * the state directory at every `archive sync --gc`. */
#include <stdint.h>
#include <stdlib.h>
#include "archive/gc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_arch_gc_candidate *c = NULL;
    size_t n = 0;
    int64_t collected;

    if (cs_arch_gc_candidates_parse(data, size, &c, &n, &collected) == 0) {
        for (size_t i = 1; i < n; i++)
            if (c[i - 1].id[0] > c[i].id[0])
                abort(); /* promised sorted */
        free(c);
    }
    return 0;
}
