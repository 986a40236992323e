/* SPDX-License-Identifier: MIT */
/* Tombstone collection (docs/archive.md section 8, R1-R4): a deletion is
 * dropped from the state only once every device of the table has published
 * a claim covering it after the keep period, and that was already so at an
 * earlier collection at least the grace period ago. */
#ifndef CS_ARCHIVE_COLLECT_H
#define CS_ARCHIVE_COLLECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "archive/state.h"

/* Whether device index dev's claim (counting only while it is its lowest
 * segment in this sync's LIST) covers the deletion of in. */
bool cs_arch_claim_covers(const cs_arch_state *st, size_t dev, const cs_arch_inst *in, uint64_t keep_ms);

/* Whether this device should compact now to publish a claim: a deletion past
 * the keep period, not on this disk any more, that its own claim does not
 * cover yet. */
bool cs_arch_claim_due(const cs_arch_state *st, uint64_t now_ms, uint64_t keep_ms);

typedef struct cs_arch_collect_stats {
    uint64_t collected;   /* tombstones dropped */
    uint64_t waiting;     /* covered, not yet past the grace period */
    uint64_t blocked;     /* past the keep period, some device's claim missing */
} cs_arch_collect_stats;

/* R4.  blocking (when not NULL, ndevs entries) counts per device the
 * deletions past the keep period its claim does not cover.  dry_run:
 * count, change nothing. */
int cs_arch_collect_tombstones(cs_arch_state *st, uint64_t now_ms, uint64_t keep_ms, uint64_t grace_ms,
                               bool dry_run, cs_arch_collect_stats *out, uint64_t *blocking);

#endif
