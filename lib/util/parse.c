/* SPDX-License-Identifier: MIT */
/* Strict unsigned decimal numbers (see parse.h for why not strtoul). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include "util/parse.h"

int cs_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    uint64_t v = 0;

    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > 9)
            return -EINVAL;
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int cs_parse_int(const char *s, int min, int max, int *ret)
{
    uint64_t v;
    int r;

    if (min < 0 || max < min)
        return -EINVAL;
    r = cs_parse_uint(s, (uint64_t)min, (uint64_t)max, &v);
    if (r < 0)
        return r;
    *ret = (int)v;
    return 0;
}

int cs_parse_double(const char *s, double min, double max, double *ret)
{
    static const char digits[] = "0123456789";
    size_t whole = s ? strspn(s, digits) : 0, frac = 0;
    double v = 0, scale = 1;

    if (whole == 0)
        return -EINVAL;
    if (s[whole] == '.' && (frac = strspn(s + whole + 1, digits)) == 0)
        return -EINVAL; /* "1." */
    if (s[whole + (frac ? frac + 1 : 0)] != '\0')
        return -EINVAL;
    if (whole > 15) /* past what a double holds exactly */
        return -ERANGE;
    for (size_t i = 0; i < whole; i++)
        v = v * 10 + (s[i] - '0');
    for (size_t i = 0; i < frac; i++)
        v += (s[whole + 1 + i] - '0') * (scale /= 10);
    if (v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}
