/* SPDX-License-Identifier: MIT */
/* Fuzz cs_parse_uint() (lib/util/parse.c): what it accepts is all digits,
 * prints back as the same number and lies in the range asked for; what it
 * refuses is -EINVAL or -ERANGE and leaves the result untouched. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64], back[32];
    uint64_t min = 0, max = UINT64_MAX, v = 7;
    size_t skip = 0;
    int r;

    if (size >= 16) { /* the first 16 bytes choose the range */
        memcpy(&min, data, 8);
        memcpy(&max, data + 8, 8);
        if (min > max) {
            uint64_t t = min;
            min = max;
            max = t;
        }
        skip = 16;
    }
    if (size - skip >= sizeof(s))
        return 0;
    memcpy(s, data + skip, size - skip);
    s[size - skip] = '\0';
    r = cs_parse_uint(s, min, max, &v);
    if (r == 0) {
        if (v < min || v > max || strspn(s, "0123456789") != strlen(s))
            __builtin_trap();
        snprintf(back, sizeof(back), "%" PRIu64, v);
        if (strcmp(back, s + strspn(s, "0")) != 0 && !(v == 0 && s[0] == '0'))
            __builtin_trap();
    } else if ((r != -EINVAL && r != -ERANGE) || v != 7) {
        __builtin_trap();
    }
    return 0;
}
