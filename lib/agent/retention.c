/* SPDX-License-Identifier: MIT */
/* The agent's retention policy and the small-snapshot guard (retention.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/retention.h"
#include "util/log.h"
#include "util/macros.h"

int cs_retention_policy_load(const cs_config *cfg, cs_retention_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->keep.last = (int)cs_config_int(cfg, "retention", "keep_last");
    p->keep.hourly = (int)cs_config_int(cfg, "retention", "keep_hourly");
    p->keep.daily = (int)cs_config_int(cfg, "retention", "keep_daily");
    p->keep.weekly = (int)cs_config_int(cfg, "retention", "keep_weekly");
    p->keep.monthly = (int)cs_config_int(cfg, "retention", "keep_monthly");
    p->keep.yearly = (int)cs_config_int(cfg, "retention", "keep_yearly");
    p->guard_ratio = (int)cs_config_int(cfg, "retention", "guard_ratio");
    p->guard_keep = (int)cs_config_int(cfg, "retention", "guard_keep");
    if (!p->keep.last && !p->keep.hourly && !p->keep.daily && !p->keep.weekly && !p->keep.monthly &&
        !p->keep.yearly) {
        log_error("[retention] keeps nothing: set at least one keep_* above 0, or enabled = no");
        return -EINVAL;
    }
    return 0;
}

/* The size a snapshot stands for: the bytes it covers, not what it added. */
static uint64_t snap_bytes(const cs_snapshot *s)
{
    return s->summary.bytes_processed;
}

static bool is_full(const cs_snapshot *s, uint64_t largest, int ratio)
{
    /* bytes * 100 >= largest * ratio, without overflow */
    return snap_bytes(s) / (uint64_t)ratio >= largest / 100;
}

void cs_retention_decide(const cs_snapshot *snaps, size_t n, const cs_retention_policy *p, bool *keep,
                         cs_retention_plan *out)
{
    uint64_t largest = 0;

    memset(out, 0, sizeof(*out));
    if (n == 0)
        return;
    cs_forget_plan(snaps, n, &p->keep, keep);
    keep[n - 1] = true; /* the newest, whatever the rules: never an empty history */
    for (size_t i = 0; i < n; i++)
        if (snap_bytes(&snaps[i]) > largest)
            largest = snap_bytes(&snaps[i]);
    out->newest_bytes = snap_bytes(&snaps[n - 1]);
    out->full_bytes = largest;
    if (p->guard_ratio > 0 && largest >= 100 && !is_full(&snaps[n - 1], largest, p->guard_ratio)) {
        int left = p->guard_keep;

        out->guard = true;
        for (size_t i = n; i-- > 0 && left > 0;) {
            if (!is_full(&snaps[i], largest, p->guard_ratio))
                continue;
            if (!keep[i])
                out->guard_rescued++;
            keep[i] = true;
            left--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (keep[i])
            out->kept++;
        else
            out->removed++;
    }
}

static void plan_add(cs_retention_plan *total, const cs_retention_plan *pl)
{
    total->kept += pl->kept;
    total->removed += pl->removed;
    total->guard_rescued += pl->guard_rescued;
    if (pl->guard && !total->guard) {
        total->guard = true;
        total->newest_bytes = pl->newest_bytes;
        total->full_bytes = pl->full_bytes;
    }
}

int cs_retention_decide_grouped(const cs_snapshot *snaps, size_t n, const cs_retention_policy *p, unsigned group_by,
                                size_t *group, bool *keep, cs_retention_plan *out)
{
    _cleanup_free_ cs_snapshot *members = calloc(n ? n : 1, sizeof(*members));
    _cleanup_free_ size_t *where = calloc(n ? n : 1, sizeof(*where));
    _cleanup_free_ bool *mkeep = calloc(n ? n : 1, sizeof(*mkeep));

    memset(out, 0, sizeof(*out));
    if (!members || !where || !mkeep)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t g = 0;
        while (g < i && !(group[g] == g && cs_snapshot_same_group(&snaps[g], &snaps[i], group_by)))
            g++;
        group[i] = g;
    }
    for (size_t g = 0; g < n; g++) {
        cs_retention_plan pl;
        size_t m = 0;

        if (group[g] != g)
            continue;
        for (size_t i = g; i < n; i++)
            if (group[i] == g) {
                members[m] = snaps[i]; /* shallow: snaps owns the strings, oldest first */
                where[m++] = i;
            }
        cs_retention_decide(members, m, p, mkeep, &pl);
        for (size_t k = 0; k < m; k++)
            keep[where[k]] = mkeep[k];
        plan_add(out, &pl);
    }
    return 0;
}

/* Tell run->each about group g's snapshots in order and remove those the
 * plan does not keep. */
static int apply_group(cs_repo *repo, const cs_retention_run *run, const cs_snapshot *v, size_t n,
                       const size_t *group, size_t g, const bool *keep)
{
    for (size_t i = g; i < n; i++) {
        int r;

        if (group[i] != g)
            continue;
        if (run->each)
            run->each(&v[i], i == g, keep[i], run->ud);
        if (!keep[i] && !run->dry && (r = cs_snapshot_delete(repo, &v[i].id)) < 0 && r != -ENOENT)
            return r;
    }
    return 0;
}

/* Decide over the selected snapshots (sel, n of them, oldest first) and apply. */
static int apply_selected(cs_repo *repo, const cs_retention_run *run, const cs_snapshot *sel, size_t n,
                          cs_retention_plan *out)
{
    _cleanup_free_ size_t *group = calloc(n ? n : 1, sizeof(*group));
    _cleanup_free_ bool *keep = calloc(n ? n : 1, sizeof(*keep));
    int r = group && keep ? 0 : -ENOMEM;

    if (r == 0)
        r = cs_retention_decide_grouped(sel, n, &run->policy, run->group_by, group, keep, out);
    for (size_t g = 0; g < n && r == 0; g++)
        if (group[g] == g)
            r = apply_group(repo, run, sel, n, group, g, keep);
    return r;
}

int cs_retention_apply(cs_repo *repo, const cs_retention_run *run, cs_retention_plan *out)
{
    cs_snapshot *v = NULL;
    _cleanup_free_ cs_snapshot *sel = NULL;
    size_t n = 0, k = 0;
    int r;

    memset(out, 0, sizeof(*out));
    if (!run->dry && (r = cs_repo_lock(repo, false)) < 0)
        return r;
    r = cs_snapshot_list(repo, &v, &n, NULL);
    if (r == 0 && !(sel = calloc(n ? n : 1, sizeof(*sel))))
        r = -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++)
        if (!run->select || run->select(&v[i], run->ud))
            sel[k++] = v[i]; /* shallow: v owns the strings */
    if (r == 0)
        r = apply_selected(repo, run, sel, k, out);
    if (!run->dry)
        cs_repo_unlock(repo);
    cs_snapshots_free(v, n);
    return r;
}
