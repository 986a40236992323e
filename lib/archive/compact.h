/* SPDX-License-Identifier: MIT */
/* Compaction of this device's own change log (docs/archive.md section 8):
 * segments s1..sn are replaced by one segment that holds their join (the
 * latest write of every register, with its original stamp) and says which
 * sequences it supersedes.  Merging is idempotent, so a reader that had
 * applied some of s1..sn loses nothing by applying the join again. */
#ifndef CS_ARCHIVE_COMPACT_H
#define CS_ARCHIVE_COMPACT_H

#include <stddef.h>
#include <stdint.h>
#include "archive/seal.h"
#include "archive/state.h"
#include "storage/storage.h"

#include "archive/claim.h"

/* What a compaction condenses against (docs/archive.md section 8, R1):
 * the merged state of the device compacting; an instance deleted there
 * more than keep_ms before now_ms is written as one DEL (stamped del_hlc,
 * a fresh stamp of the compacting device, unless the log had its own DEL),
 * one whose name was collected not at all.  claim goes first in the body
 * (a version 3 segment). */
typedef struct cs_arch_compact_ctx {
    const cs_arch_state *merged;
    uint64_t now_ms, keep_ms;
    cs_hlc del_hlc;
    const cs_arch_claim *claim;
} cs_arch_compact_ctx;

/* seqs: segments of device dev in storage, ascending.  Writes segment new_seq
 * (CS_PUT_IMMUTABLE: -EEXIST when it exists), then deletes seqs from the
 * newest down (so a reader always sees a contiguous prefix followed by the
 * compacted segment).  0 once new_seq is stored (failed deletions are only
 * warnings: the next compaction retries), or a negative errno when nothing
 * changed.  x NULL: no claim, nothing condensed beyond the join. */
int cs_arch_compact_own(cs_storage *s, const char *prefix, const cs_arch_keys *k,
                        const uint8_t dev[CS_ARCH_DEV_BYTES], const uint64_t *seqs, size_t n,
                        uint64_t new_seq, const cs_arch_compact_ctx *x);

/* The condensed entries of a state (every instance, every written
 * register, with its stamp), reduced against x when not NULL.  Exposed for
 * the tests. */
int cs_arch_condense(const cs_arch_state *st, const cs_arch_compact_ctx *x, cs_buf *out);

#endif
