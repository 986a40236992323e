/* SPDX-License-Identifier: MIT */
/* Hybrid logical clocks (Kulkarni et al., "Logical Physical Clocks", 2014).
 *
 * A stamp is one uint64: the upper 48 bits are wall-clock milliseconds, the
 * lower 16 a logical counter.  Stamps of one clock strictly increase, a
 * stamp issued after receiving m is greater than m, and stamps stay close to
 * real time.  See docs/archive.md section 4. */
#ifndef CS_ARCHIVE_HLC_H
#define CS_ARCHIVE_HLC_H

#include <stdint.h>

typedef uint64_t cs_hlc;

#define CS_HLC_MS(t)      ((t) >> 16)
#define CS_HLC_COUNTER(t) ((t) & 0xffffu)
#define CS_HLC_PACK(ms, c) (((uint64_t)(ms) << 16) | ((uint64_t)(c) & 0xffffu))
/* A remote stamp further ahead than this does not advance our clock. */
#define CS_HLC_MAX_DRIFT_MS (3600u * 1000u)

/* Wall-clock milliseconds (CLOCK_REALTIME). */
uint64_t cs_hlc_wall_ms(void);

/* A local event at wall time now_ms: advances *clock and returns the stamp. */
cs_hlc cs_hlc_tick(cs_hlc *clock, uint64_t now_ms);

/* Receiving remote stamp m at wall time now_ms: advances *clock so that the
 * next tick is greater than m (unless m is beyond now + max drift). */
void cs_hlc_recv(cs_hlc *clock, cs_hlc m, uint64_t now_ms);

#endif
