/* SPDX-License-Identifier: MIT */
/* What park and collect agree on (parked.h). */
#include <errno.h>
#include <stdio.h>

#include "parked.h"

int parked_desc(uid_t uid, const char *token, size_t len, char desc[PARKED_DESC_MAX])
{
    if (len != PARKED_TOKEN_HEX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
            return -EINVAL;
    snprintf(desc, PARKED_DESC_MAX, "cloudseal:parked:%u:%.*s", (unsigned)uid, (int)len, token);
    return 0;
}
