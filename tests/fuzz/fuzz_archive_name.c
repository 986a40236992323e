/* SPDX-License-Identifier: MIT */
/* libFuzzer target: Maildir file and folder names read from the disk and
 * from log entries.  A parsed name must render and parse back the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "archive/maildir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[512], u[CS_MD_UNIQUE_MAX + 1], u2[CS_MD_UNIQUE_MAX + 1], out[CS_MD_NAME_MAX + 1];
    uint64_t flags, flags2;

    if (size >= sizeof(name))
        return 0;
    memcpy(name, data, size);
    name[size] = '\0';
    (void)cs_md_folder_valid(name);
    if (cs_md_parse_name(name, u, &flags) != 0)
        return 0;
    for (int sub = 0; sub < 2; sub++) {
        if (cs_md_render_name(u, sub, flags, out) != 0)
            abort();
        if (cs_md_parse_name(out, u2, &flags2) != 0 || strcmp(u, u2) != 0 || flags != flags2)
            abort();
    }
    return 0;
}
