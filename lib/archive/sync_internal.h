/* SPDX-License-Identifier: MIT */
/* Pieces of sync.c exposed for status.c, the tests and the fuzz targets. */
#ifndef CS_ARCHIVE_SYNC_INTERNAL_H
#define CS_ARCHIVE_SYNC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "archive/state.h"

/* Decode every entry of a decrypted segment and merge it as written by
 * device index dev.  -EBADMSG on the first malformed entry. */
int cs_arch_apply_segment(cs_arch_state *st, uint16_t dev, const uint8_t *plain, size_t len,
                          uint64_t *applied);

/* Load <statefd>/state, or a fresh state when there is none. */
int cs_arch_load_state(int statefd, const char *state_dir, cs_arch_state **out);

/* Recently deleted messages (deleted.c). */
typedef struct cs_arch_live_ids {
    uint8_t (*ids)[CS_ARCH_ID_BYTES]; /* content ids of live instances, sorted */
    size_t n;
} cs_arch_live_ids;

int cs_arch_live_ids_build(const cs_arch_state *st, cs_arch_live_ids *out);
void cs_arch_live_ids_free(cs_arch_live_ids *l);
/* Deleted less than keep_ms before now_ms: its body is kept. */
bool cs_arch_within_keep(const cs_arch_inst *in, uint64_t now_ms, uint64_t keep_ms);
/* ... and can be brought back: its content is known and not live elsewhere. */
bool cs_arch_restorable(const cs_arch_inst *in, const cs_arch_live_ids *live, uint64_t now_ms, uint64_t keep_ms);

#endif
