/* SPDX-License-Identifier: MIT */
/* The agent's retention policy and the small-snapshot guard (retention.h). */
#include <errno.h>
#include <string.h>

#include "agent/retention.h"
#include "util/log.h"

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
