/* SPDX-License-Identifier: MIT */
/* Pack garbage collection of the message archive (gc.c, docs/archive.md
 * section 8): `cloudseal archive sync --gc`, run at the end of a sync. */
#ifndef CS_ARCHIVE_GC_H
#define CS_ARCHIVE_GC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "archive/state.h"
#include "storage/storage.h"

#define CS_ARCH_GC_MAX_CANDIDATES 200000u

typedef struct cs_arch_gc_opts {
    cs_storage *storage;
    const char *prefix;     /* users/<user>/archive/ */
    int statefd;            /* the locked state directory (gc-candidates lives there) */
    uint64_t grace_sec;     /* unreferenced at least this long, at two collections */
    uint64_t keep_deleted_sec; /* bodies of messages deleted this recently stay (0 = none) */
    bool dry_run;           /* say, delete nothing, remember nothing */
    FILE *plan;             /* when set, a line per pack deleted (or to be) */
} cs_arch_gc_opts;

typedef struct cs_arch_gc_stats {
    uint64_t packs;         /* pack objects in storage */
    uint64_t deleted, bytes_freed;
    uint64_t waiting;       /* unreferenced, not yet past the grace period */
    uint64_t foreign;       /* objects under pack/ that are not packs: left alone */
} cs_arch_gc_stats;

/* Collect with st, the state a sync has just merged from every log. */
int cs_arch_gc(const cs_arch_gc_opts *g, const cs_arch_state *st, cs_arch_gc_stats *stats);
/* Unix seconds of this device's last collection (0: never, or unknown). */
int64_t cs_arch_gc_last_run(int statefd);

/* The gc-candidates file (for the fuzz target): 0 and a sorted array,
 * -EBADMSG, -E2BIG or -ENOMEM. */
typedef struct cs_arch_gc_candidate {
    uint8_t id[CS_ARCH_PACK_BYTES];
    int64_t first_seen;     /* unix seconds */
} cs_arch_gc_candidate;
int cs_arch_gc_candidates_parse(const void *data, size_t len, cs_arch_gc_candidate **out, size_t *n,
                                int64_t *collected);

#endif
