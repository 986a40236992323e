/* SPDX-License-Identifier: MIT */
/* The names whose tombstones were collected (docs/archive.md section 8,
 * R6): a sorted set of 64-bit hashes, so that a file coming back under
 * such a name (an old Maildir copy, a restored file) is never recorded as
 * the old message again.  Bounded by CS_ARCH_MAX_COLLECTED; when full,
 * collection stops (tombstones are kept: safe, only bigger). */
#include "archive/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

uint64_t cs_arch_key_hash(const char *key)
{
    uint8_t h[8];
    uint64_t v = 0;

    /* 64 bits: a false hit needs two of a user's names to collide,
     * ~n^2/2^65, so a hit means "this very name was collected" */
    crypto_generichash(h, sizeof(h), (const uint8_t *)key, strlen(key), NULL, 0);
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    return v;
}

static bool has_hash(const cs_arch_state *st, uint64_t h)
{
    size_t lo = 0, hi = st->ncollected;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (st->collected[mid] == h)
            return true;
        if (st->collected[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool cs_arch_collected(const cs_arch_state *st, const char *key)
{
    return st->ncollected && has_hash(st, cs_arch_key_hash(key));
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int cs_arch_collected_add(cs_arch_state *st, const uint64_t *h, size_t n)
{
    uint64_t *v;
    size_t m = st->ncollected;

    if (n == 0)
        return 0;
    if (n > CS_ARCH_MAX_COLLECTED)
        return -E2BIG;
    v = malloc((st->ncollected + n) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    if (st->ncollected)
        memcpy(v, st->collected, st->ncollected * sizeof(*v));
    memcpy(v + st->ncollected, h, n * sizeof(*v));
    qsort(v, st->ncollected + n, sizeof(*v), u64_cmp);
    m = 0;
    for (size_t i = 0; i < st->ncollected + n; i++)
        if (m == 0 || v[i] != v[m - 1])
            v[m++] = v[i];
    if (m > CS_ARCH_MAX_COLLECTED) {
        free(v);
        return -E2BIG;
    }
    free(st->collected);
    st->collected = v;
    if (m != st->ncollected)
        st->dirty = true;
    st->ncollected = m;
    return 0;
}
