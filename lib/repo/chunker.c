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

size_t cs_chunker_next(const cs_chunker *c, const uint8_t *buf, size_t len, bool eof)
{
    size_t n = len, normal = c->avg, i;
    uint64_t h = 0;

    if (len <= c->min)
        return eof ? len : 0;
    if (n > c->max)
        n = c->max;
    if (normal > n)
        normal = n;
    /* the hash only needs the 64 bytes before a candidate cut */
    i = c->min - 64;
    for (; i < c->min; i++)
        h = (h << 1) + c->gear[buf[i]];
    for (; i < normal; i++) {
        h = (h << 1) + c->gear[buf[i]];
        if (!(h & c->mask_s))
            return i + 1;
    }
    for (; i < n; i++) {
        h = (h << 1) + c->gear[buf[i]];
        if (!(h & c->mask_l))
            return i + 1;
    }
    if (n == c->max || eof)
        return n;
    return 0;
}
