/* SPDX-License-Identifier: MIT */
/* Growing arrays (systemd's GREEDY_REALLOC): one overflow-checked place
 * instead of a realloc() pattern per file, each handling failure its own
 * way or not at all. */
#ifndef CS_UTIL_ALLOC_H
#define CS_UTIL_ALLOC_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Make *p (capacity *cap elements of size bytes) hold at least need
 * elements, doubling; 0 or -ENOMEM (then *p and *cap are unchanged). */
static inline int cs_greedy_realloc(void **p, size_t *cap, size_t need, size_t size)
{
    size_t ncap;
    void *q;

    if (need <= *cap)
        return 0;
    ncap = *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
    if (ncap < need)
        ncap = need;
    if (ncap < 8)
        ncap = 8;
    if (ncap > SIZE_MAX / size)
        return -ENOMEM;
    if (!(q = realloc(*p, ncap * size)))
        return -ENOMEM;
    *p = q;
    *cap = ncap;
    return 0;
}

/* CS_GREEDY_REALLOC(array, cap, need): array a typed pointer, cap its size_t capacity. */
#define CS_GREEDY_REALLOC(array, cap, need) ({                                       \
        void *_cs_p = (array);                                                       \
        int _cs_r = cs_greedy_realloc(&_cs_p, &(cap), (need), sizeof(*(array)));     \
        (array) = _cs_p;                                                             \
        _cs_r;                                                                       \
    })

#endif
