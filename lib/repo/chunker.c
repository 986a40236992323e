/* SPDX-License-Identifier: MIT */
/* FastCDC content-defined chunking with normalised chunk sizes and a secret
 * per-repository gear table (so cut points say nothing about content to
 * anyone without the key).  Xia et al., "FastCDC", USENIX ATC 2016. */
#include <errno.h>
#include <string.h>
#include "repo/repo_int.h"

static unsigned log2u(uint32_t v)
{
    unsigned n = 0;

    while (v > 1) {
        v >>= 1;
        n++;
    }
    return n;
}

/* n one-bits in the high part of the word: the gear hash shifts left, so its
 * top bits depend on the last 64 bytes seen. */
static uint64_t high_mask(unsigned bits)
{
    return bits >= 64 ? ~0ULL : ((1ULL << bits) - 1) << (64 - bits);
}

int cs_chunker_init(cs_chunker *c, const uint64_t gear[256], uint32_t min, uint32_t avg, uint32_t max)
{
    unsigned bits;

    if (min < 64 || min >= avg || avg >= max || max > CS_CHUNK_MAX || (avg & (avg - 1)))
        return -EINVAL;
    memcpy(c->gear, gear, sizeof(c->gear));
    c->min = min;
    c->avg = avg;
    c->max = max;
    bits = log2u(avg);
    c->mask_s = high_mask(bits + 2);
    c->mask_l = high_mask(bits - 2);
    return 0;
}

/* Roll the gear hash over buf[i, end) and return the first cut (index + 1)
 * where h & mask == 0, or 0.  Two bytes per step: h2 = 4h + (2g[b0] + g[b1])
 * (mod 2^64) equals the byte-at-a-time hash, but only one shift and one add
 * depend on the previous step, so the loads and the check of the middle
 * position overlap; cut points are identical to the simple loop. */
static size_t roll(const uint64_t *g, const uint8_t *buf, size_t i, size_t end, uint64_t mask, uint64_t *hp)
{
    uint64_t h = *hp;

    for (; i + 1 < end; i += 2) {
        uint64_t g0 = g[buf[i]], x = (g0 << 1) + g[buf[i + 1]];
        uint64_t h1 = (h << 1) + g0;
        h = (h << 2) + x;
        if (__builtin_expect(!(h1 & mask) || !(h & mask), 0)) {
            *hp = h;
            return !(h1 & mask) ? i + 1 : i + 2;
        }
    }
    for (; i < end; i++) {
        h = (h << 1) + g[buf[i]];
        if (!(h & mask)) {
            *hp = h;
            return i + 1;
        }
    }
    *hp = h;
    return 0;
}

size_t cs_chunker_next(const cs_chunker *c, const uint8_t *buf, size_t len, bool eof)
{
    size_t n = len, normal = c->avg, i, cut;
    uint64_t h = 0;

    if (len <= c->min)
        return eof ? len : 0;
    if (n > c->max)
        n = c->max;
    if (normal > n)
        normal = n;
    /* the hash only needs the 64 bytes before a candidate cut */
    for (i = c->min - 64; i < c->min; i++)
        h = (h << 1) + c->gear[buf[i]];
    if ((cut = roll(c->gear, buf, i, normal, c->mask_s, &h)))
        return cut;
    if ((cut = roll(c->gear, buf, normal > i ? normal : i, n, c->mask_l, &h)))
        return cut;
    if (n == c->max || eof)
        return n;
    return 0;
}
