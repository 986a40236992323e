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

/* keep[i] for snaps[i] (oldest first, one machine's snapshots).  The
 * newest is always kept; with guard_ratio 0 this is cs_forget_plan(). */
void cs_retention_decide(const cs_snapshot *snaps, size_t n, const cs_retention_policy *p, bool *keep,
                         cs_retention_plan *out);

/* cs_retention_decide() within each group of snapshots that share what
 * group_by (CS_GROUP_*, restic's --group-by) names, so that one group's
 * snapshots never push out another's.  group[i] is set to the index of the
 * oldest snapshot of snaps[i]'s group.  The plans are added up; the guard's
 * sizes are those of the first group that raised it.  0 or -ENOMEM. */
int cs_retention_decide_grouped(const cs_snapshot *snaps, size_t n, const cs_retention_policy *p, unsigned group_by,
                                size_t *group, bool *keep, cs_retention_plan *out);

/* One application of a policy to a repository: `cloudseal forget` and the
 * agent's retention job. */
typedef struct cs_retention_run {
    cs_retention_policy policy;
    unsigned group_by; /* CS_GROUP_* */
    bool dry;          /* decide and report only: no lock taken, nothing removed */
    /* The snapshots the policy looks at (NULL: all); the others are never touched. */
    bool (*select)(const cs_snapshot *s, void *ud);
    /* Called for each selected snapshot, group by group, before it is
     * removed; first: s is the oldest of its group (NULL: nothing said). */
    void (*each)(const cs_snapshot *s, bool first, bool keep, void *ud);
    void *ud;
} cs_retention_run;

/* Lock the repository (unless dry), list, select, decide per group, remove
 * what the plan does not keep (a snapshot already gone counts as removed),
 * unlock.  *out: the summed plan (kept + removed = the selected snapshots).
 * 0 or the first negative errno (-EBUSY: locked by another). */
int cs_retention_apply(cs_repo *repo, const cs_retention_run *run, cs_retention_plan *out);

#endif
