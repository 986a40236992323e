/* SPDX-License-Identifier: MIT */
/* User-name rules (basic/user_name.h); libc only. */
#include "basic/user_name.h"

#include <string.h>

static bool char_ok(char c, size_t i, size_t n, unsigned flags)
{
    if ((c >= 'a' && c <= 'z') || c == '_')
        return true;
    if (c >= 'A' && c <= 'Z')
        return flags & CS_USER_NAME_UPPER;
    if (c >= '0' && c <= '9')
        return i > 0 || (flags & CS_USER_NAME_DIGIT_FIRST);
    if (c == '-' || c == '.')
        return i > 0; /* an option, a hidden file, "." or ".." */
    if (c == '$')
        return i == n - 1 && (flags & CS_USER_NAME_DOLLAR);
    return false;
}

bool cs_user_name_valid(const char *name, unsigned flags)
{
    size_t n = name ? strnlen(name, CS_USER_NAME_MAX + 1) : 0;

    if (n == 0 || n > CS_USER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!char_ok(name[i], i, n, flags))
            return false;
    return true;
}
