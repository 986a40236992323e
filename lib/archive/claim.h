/* SPDX-License-Identifier: MIT */
/* Claims (docs/archive.md section 8, R2): what a device has applied,
 * published at the start of its compacted segments (version 3), with the
 * names whose tombstones it collected (R6).  Hostile input: bounded and
 * canonical, -EBADMSG for anything else. */
#ifndef CS_ARCHIVE_CLAIM_H
#define CS_ARCHIVE_CLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "archive/seal.h"
#include "archive/state.h"
#include "util/bytes.h"

typedef struct cs_arch_claim_front {
    uint8_t dev[CS_ARCH_DEV_BYTES];
    cs_hlc hlc;
} cs_arch_claim_front;

typedef struct cs_arch_claim {
    uint64_t t;                  /* wall-clock ms of the compaction */
    bool retired;                /* written by retired_by for this device: it is forgotten */
    uint8_t retired_by[CS_ARCH_DEV_BYTES];
    uint16_t nfront;             /* sorted by device id, no duplicates */
    cs_arch_claim_front *front;
    uint32_t ncollected;         /* cs_arch_key_hash values, strictly ascending */
    uint64_t *collected;
} cs_arch_claim;

int cs_arch_claim_encode(const cs_arch_claim *c, cs_buf *out);
int cs_arch_claim_decode(cs_reader *rd, cs_arch_claim *c);
void cs_arch_claim_free(cs_arch_claim *c);

/* The body of an opened segment (flags from cs_arch_segment_open_ex):
 * *first = the first sequence it stands for (seq itself unless compacted),
 * the claim of a version 3 segment into claim (when not NULL; zeroed
 * otherwise), *entries = offset of the entries. */
int cs_arch_segment_body(const uint8_t *plain, size_t len, uint8_t flags, uint64_t seq, uint64_t *first,
                         cs_arch_claim *claim, size_t *entries);

/* The claim of state st now (R2): its frontier for every device of the
 * table, capped below the first deletion of any deleted message whose
 * file is still on this disk, and its collected names. */
int cs_arch_claim_make(const cs_arch_state *st, uint64_t now_ms, cs_arch_claim *out);
/* Record claim c read from segment seq of device index dev; the
 * tombstones of names it says were collected go (counted in *dropped when
 * not NULL), unless their file is still on this disk. */
int cs_arch_claim_record(cs_arch_state *st, uint16_t dev, uint64_t seq, const cs_arch_claim *c, uint64_t *dropped);

#endif
