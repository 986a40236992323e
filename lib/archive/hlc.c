/* SPDX-License-Identifier: MIT */
/* Hybrid logical clock arithmetic. */
#include "archive/hlc.h"

#include <time.h>

uint64_t cs_hlc_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Pack (l, c), carrying a counter overflow into the millisecond part: the
 * stamp stays strictly increasing even after 65536 events in 1 ms. */
static cs_hlc make(uint64_t l, uint64_t c)
{
    if (c > 0xffffu) {
        l += 1;
        c = 0;
    }
    if (l > (UINT64_MAX >> 16))
        l = UINT64_MAX >> 16; /* 8900 years from now: saturate rather than wrap */
    return CS_HLC_PACK(l, c);
}

cs_hlc cs_hlc_tick(cs_hlc *clock, uint64_t now_ms)
{
    uint64_t l = CS_HLC_MS(*clock), c = CS_HLC_COUNTER(*clock);

    if (now_ms > l)
        *clock = make(now_ms, 0);
    else
        *clock = make(l, c + 1);
    return *clock;
}

void cs_hlc_recv(cs_hlc *clock, cs_hlc m, uint64_t now_ms)
{
    uint64_t l = CS_HLC_MS(*clock), c = CS_HLC_COUNTER(*clock);
    uint64_t ml = CS_HLC_MS(m), mc = CS_HLC_COUNTER(m);
    uint64_t nl;

    if (ml > now_ms + CS_HLC_MAX_DRIFT_MS) {
        /* a clock far in the future (a device with a wrong clock, or a
         * replayed hostile stamp): keep it out of ours */
        ml = now_ms + CS_HLC_MAX_DRIFT_MS;
        mc = 0;
    }
    nl = l > ml ? l : ml;
    if (now_ms > nl)
        nl = now_ms;
    if (nl == l && nl == ml)
        *clock = make(nl, (c > mc ? c : mc) + 1);
    else if (nl == l)
        *clock = make(nl, c + 1);
    else if (nl == ml)
        *clock = make(nl, mc + 1);
    else
        *clock = make(nl, 0);
}
