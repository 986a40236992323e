/* SPDX-License-Identifier: MIT */
/* libFuzzer: the Maildir identity marker (lib/archive/marker.c), read from
 * the Maildir root at every archive sync. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "archive/marker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t id[CS_ARCH_MD_ID_BYTES];
    char text[CS_ARCH_MARKER_LEN + 1];

    if (cs_arch_marker_parse(data, size, id) == 0) {
        cs_arch_marker_format(id, text);
        if (size != CS_ARCH_MARKER_LEN || memcmp(text, data, size) != 0)
            abort(); /* strict: only the canonical form parses */
    }
    return 0;
}
