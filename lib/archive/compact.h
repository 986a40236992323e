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

/* seqs: our segments in storage, ascending.  Writes segment new_seq, then
 * deletes seqs from the newest down (so a reader always sees a contiguous
 * prefix followed by the compacted segment).  0 once new_seq is stored
 * (failed deletions are only warnings: the next compaction retries), or a
 * negative errno when nothing changed. */
int cs_arch_compact_own(cs_storage *s, const char *prefix, const cs_arch_keys *k,
                        const uint8_t dev[CS_ARCH_DEV_BYTES], const uint64_t *seqs, size_t n,
                        uint64_t new_seq);

/* The condensed entries of a merged state (every instance, every written
 * register, with its stamp).  Exposed for the tests. */
int cs_arch_condense(const cs_arch_state *st, cs_buf *out);

#endif
