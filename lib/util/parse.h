/* SPDX-License-Identifier: MIT */
/* Numbers from the command line and config files, parsed strictly: the
 * whole string, decimal digits only, in range.  strtoul() alone takes
 * " 12", "+12", "-1" (as ULONG_MAX), "12abc" and "" (as 0), so a typo
 * became a different number instead of an error. */
#ifndef CS_UTIL_PARSE_H
#define CS_UTIL_PARSE_H

#include <stdint.h>

/* s as a decimal number in [min, max]: 0, -EINVAL (empty, a sign, a space
 * or any non-digit), -ERANGE (out of [min, max] or of uint64_t). */
int cs_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* The same into an int (max <= INT_MAX), for file descriptors, counts and pids. */
int cs_parse_int(const char *s, int min, int max, int *ret);

/* s as DIGITS or DIGITS.DIGITS in [min, max], for fractional seconds:
 * 0, -EINVAL (no sign, exponent, hex, inf, nan or space, unlike strtod())
 * or -ERANGE (out of [min, max], or more than 15 whole digits). */
int cs_parse_double(const char *s, double min, double max, double *ret);

#endif
