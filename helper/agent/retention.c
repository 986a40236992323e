/* SPDX-License-Identifier: MIT */
/* Retention that runs by itself: after every successful backup the agent
 * runs `cloudseal agent retention` (the [retention] policy, decided by
 * lib/agent/retention.c), and with --prune at most every prune_interval,
 * stopped after prune_timeout (a prune is safe to interrupt; the next one
 * goes on).  When the policy's guard finds the newest snapshot suspiciously
 * small, the user is told once, on the desktop and in `cloudseal status`. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "util/log.h"

static const char *const retention_args[] = { "agent", "retention", NULL };
static const char *const retention_prune_args[] = { "agent", "retention", "--prune", NULL };

void retention_configure(agent *a)
{
    job *b = &a->jobs[JOB_BACKUP], *r = &a->jobs[JOB_RETENTION];

    a->retention_enabled = cs_config_bool(a->cfg, "retention", "enabled");
    a->prune_interval = cs_config_int(a->cfg, "retention", "prune_interval");
    a->prune_timeout = cs_config_int(a->cfg, "retention", "prune_timeout");
    if (!r->name) /* first call, from jobs_init */
        *r = (job){ .kind = JOB_RETENTION, .name = "retention", .verb = "applying the retention policy",
                    .noun = "backup", .args = retention_args, .internal = true, .out_fd = -1, .percent = -1 };
    r->enabled = b->enabled && a->retention_enabled;
}

/* After a good backup: forget what the policy lets go, and prune when the
 * last prune is prune_interval old. */
void retention_queue(agent *a)
{
    job *r = &a->jobs[JOB_RETENTION];
    int64_t now = now_realtime();

    if (!r->enabled)
        return;
    a->retention_prune = a->state.last_prune <= 0 || a->state.last_prune > now ||
                         now - a->state.last_prune >= a->prune_interval;
    r->args = a->retention_prune ? retention_prune_args : retention_args;
    r->requested = true;
    r->next_run = now;
}

static int on_prune_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    agent *a = userdata;
    job *r = &a->jobs[JOB_RETENTION];

    if (a->running == r && r->pid) {
        log_notice("the prune ran longer than [retention] prune_timeout (%llds): stopping it; "
                   "the next one continues", (long long)a->prune_timeout);
        job_stop(a, r);
    }
    return 0;
}

void retention_started(agent *a, job *j)
{
    uint64_t now;

    if (!a->retention_prune || sd_event_now(a->event, CLOCK_MONOTONIC, &now) < 0)
        return;
    a->prune_timer = sd_event_source_disable_unref(a->prune_timer);
    if (sd_event_add_time(a->event, &a->prune_timer, CLOCK_MONOTONIC,
                          now + (uint64_t)a->prune_timeout * 1000000ULL, 1000000, on_prune_timeout, a) < 0)
        log_warning("cannot bound the prune's time; it runs to its end");
}

static void guard_notify(agent *a)
{
    char body[512];

    snprintf(body, sizeof(body),
             "Your newest backup covers much less than earlier ones (%lld MiB instead of %lld MiB). "
             "The last full backups are kept. Check that all your files are there (a disk not mounted? "
             "a folder moved?). Run 'cloudseal status' for details.",
             (long long)(a->state.newest_bytes >> 20), (long long)(a->state.full_bytes >> 20));
    desktop_notify(a, "cloudseal: the newest backup looks incomplete", body);
}

void retention_progress(agent *a, const cs_job_progress *p)
{
    if (p->bytes_freed >= 0) {
        log_info("retention: prune freed %lld bytes", (long long)p->bytes_freed);
        a->state.prune_left = p->repack_left > 0 ? p->repack_left : 0;
        if (a->state.prune_left)
            log_info("retention: %lld bytes of packs left to rewrite at the next prune "
                     "([retention] prune_max_repack)", (long long)a->state.prune_left);
    }
    if (p->retention_removed < 0)
        return;
    a->state.retention_removed = p->retention_removed;
    a->state.guard_rescued = p->guard_rescued;
    a->state.newest_bytes = p->newest_bytes;
    a->state.full_bytes = p->full_bytes;
    log_info("retention: %lld snapshot(s) removed%s", (long long)p->retention_removed,
             p->retention_guard == 1 ? "; the newest is suspiciously small: kept the last full ones" : "");
    if (p->retention_guard == 1 && !a->state.retention_guard) {
        log_warning("the newest snapshot covers %lld bytes, the largest %lld: kept the last full "
                    "snapshots; check that everything to back up is there",
                    (long long)p->newest_bytes, (long long)p->full_bytes);
        a->state.retention_guard = 1;
        guard_notify(a);
    } else if (p->retention_guard == 0) {
        a->state.retention_guard = 0;
    }
}

void retention_finished(agent *a, job *j, job_result res)
{
    int64_t now = now_realtime();

    a->prune_timer = sd_event_source_disable_unref(a->prune_timer);
    if (res == RESULT_OK || (res == RESULT_INTERRUPTED && a->retention_prune && !a->shutting_down)) {
        a->state.retention_last = now;
        /* a prune stopped at its time bound counts: the next waits its interval */
        if (a->retention_prune)
            a->state.last_prune = now;
    } else if (res != RESULT_INTERRUPTED) {
        log_warning("the retention policy could not be applied (%s); it is tried after the next backup",
                    j->run_error[0] ? j->run_error : "see above");
    }
    a->retention_prune = false;
    state_save(a);
}

void retention_json(agent *a, json_object *o)
{
    json_object *r = json_object_new_object();

    json_object_object_add(r, "enabled", json_object_new_boolean(a->jobs[JOB_RETENTION].enabled));
    json_object_object_add(r, "keep_hourly", json_object_new_int64(cs_config_int(a->cfg, "retention", "keep_hourly")));
    json_object_object_add(r, "keep_daily", json_object_new_int64(cs_config_int(a->cfg, "retention", "keep_daily")));
    json_object_object_add(r, "keep_weekly", json_object_new_int64(cs_config_int(a->cfg, "retention", "keep_weekly")));
    json_object_object_add(r, "keep_monthly", json_object_new_int64(cs_config_int(a->cfg, "retention", "keep_monthly")));
    json_object_object_add(r, "keep_yearly", json_object_new_int64(cs_config_int(a->cfg, "retention", "keep_yearly")));
    json_object_object_add(r, "keep_last", json_object_new_int64(cs_config_int(a->cfg, "retention", "keep_last")));
    json_object_object_add(r, "last_run", json_object_new_int64(a->state.retention_last));
    json_object_object_add(r, "removed", json_object_new_int64(a->state.retention_removed));
    json_object_object_add(r, "last_prune", json_object_new_int64(a->state.last_prune));
    json_object_object_add(r, "prune_interval", json_object_new_int64(a->prune_interval));
    json_object_object_add(r, "prune_left", json_object_new_int64(a->state.prune_left));
    json_object_object_add(r, "guard", json_object_new_boolean(a->state.retention_guard));
    if (a->state.retention_guard) {
        json_object_object_add(r, "guard_rescued", json_object_new_int64(a->state.guard_rescued));
        json_object_object_add(r, "newest_bytes", json_object_new_int64(a->state.newest_bytes));
        json_object_object_add(r, "full_bytes", json_object_new_int64(a->state.full_bytes));
    }
    json_object_object_add(o, "retention", r);
}
