/* Helpers shared by the lib/fleet sources only. */
#ifndef CS_FLEET_INTERNAL_H
#define CS_FLEET_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include "fleet/fleet.h"

/* Arrays of users, groups and names grow by doubling at powers of two
 * (directory.c); an array created with n entries must have this capacity. */
static inline size_t cs_fleet_capacity(size_t n)
{
    size_t c = 1;

    while (c < n)
        c <<= 1;
    return c;
}

__attribute__((format(printf, 2, 3)))
static inline int cs_fleet_fail(cs_fleet_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

#endif
