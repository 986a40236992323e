/* Pieces of sync.c exposed for status.c, the tests and the fuzz targets. */
#ifndef CS_ARCHIVE_SYNC_INTERNAL_H
#define CS_ARCHIVE_SYNC_INTERNAL_H

#include <stdint.h>
#include "archive/state.h"

/* Decode every entry of a decrypted segment and merge it as written by
 * device index dev.  -EBADMSG on the first malformed entry. */
int cs_arch_apply_segment(cs_arch_state *st, uint16_t dev, const uint8_t *plain, size_t len,
                          uint64_t *applied);

/* Load <statefd>/state, or a fresh state when there is none. */
int cs_arch_load_state(int statefd, const char *state_dir, cs_arch_state **out);

#endif
