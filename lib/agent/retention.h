/* SPDX-License-Identifier: MIT */
/* The agent's retention policy ([retention] in cloudseal.conf): which of
 * this machine's snapshots to keep, with a guard against an accident
 * turning into loss.
 *
 * The guard: when the newest snapshot is much smaller than the largest one
 * (a home on a disk that was not mounted, a path typo), the hourly/daily
 * rules would soon push the last good snapshots out, one by one, in favour
 * of the empty ones.  So while the newest is small, the newest guard_keep
 * "full" snapshots (at least guard_ratio percent of the largest) are kept
 * whatever the rules say, and the caller warns the user. */
#ifndef CS_AGENT_RETENTION_H
#define CS_AGENT_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include "config/config.h"
#include "repo/repo.h"

typedef struct cs_retention_policy {
    cs_forget_policy keep;
    int guard_ratio;   /* percent; 0 = no guard */
    int guard_keep;    /* full snapshots kept while the guard holds */
} cs_retention_policy;

typedef struct cs_retention_plan {
    size_t kept, removed;
    bool guard;                /* the newest snapshot is suspiciously small */
    size_t guard_rescued;      /* snapshots kept only because of the guard */
    uint64_t newest_bytes, full_bytes; /* the newest's size, the largest's */
} cs_retention_plan;

/* The [retention] section.  -EINVAL when every keep_* is 0 (that would
 * remove everything but what the guard saves), with a message logged. */
int cs_retention_policy_load(const cs_config *cfg, cs_retention_policy *p);

/* keep[i] for snaps[i] (oldest first, one machine's snapshots). */
void cs_retention_decide(const cs_snapshot *snaps, size_t n, const cs_retention_policy *p, bool *keep,
                         cs_retention_plan *out);

#endif
