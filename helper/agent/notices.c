/* SPDX-License-Identifier: MIT */
/* The notifications that matter besides failures: "first backup finished"
 * once per user, and "backup overdue" once per streak of nothing good for
 * [agent] overdue_after (whatever the cause: failures, a locked key, the
 * agent not running).  Both are remembered in the state file, so a restart
 * neither repeats nor forgets them. */
#include <stdio.h>
#include <time.h>

#include "agent.h"
#include "util/log.h"

/* After state_load: a state file of an older agent that has backed up
 * already means the first backup was long ago, not something to announce. */
void notices_init(agent *a)
{
    cs_agent_job_state *st = cs_agent_state_job(&a->state, "backup");

    if (a->state.first_seen <= 0)
        a->state.first_seen = now_realtime();
    if (a->state.first_backup_notified < 0)
        a->state.first_backup_notified = st && st->last_success > 0;
}

void notices_backup_ok(agent *a)
{
    char body[256];

    a->state.overdue_notified = 0;
    if (a->state.first_backup_notified == 1)
        return;
    a->state.first_backup_notified = 1;
    snprintf(body, sizeof(body),
             "Your files are backed up, encrypted. From now on cloudseal backs them up every %lld min "
             "while your keys are unlocked. 'cloudseal snapshots' lists the backups.",
             (long long)(a->jobs[JOB_BACKUP].interval / 60));
    desktop_notify(a, "cloudseal: first backup finished", body);
}

/* At start and every status tick (30 s). */
void notices_check(agent *a)
{
    cs_agent_job_state *st = cs_agent_state_job(&a->state, a->jobs[JOB_BACKUP].name);
    int64_t now = now_realtime(), since;
    char body[CS_AGENT_TEXT_MAX + 256], when[64] = "never";

    if (!st || !a->jobs[JOB_BACKUP].enabled || a->overdue_after <= 0 || a->state.overdue_notified)
        return;
    since = st->last_success > 0 ? st->last_success : a->state.first_seen;
    if (since <= 0 || since > now || now - since < a->overdue_after)
        return;
    if (st->last_success > 0) {
        time_t t = (time_t)st->last_success;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(when, sizeof(when), "on %a %d %b at %H:%M", &tm);
    }
    if (!a->amk)
        snprintf(body, sizeof(body), "No backup has succeeded for %lld days (the last one: %s): your keys "
                 "are locked. Run 'cloudseal unlock'.", (long long)((now - since) / 86400), when);
    else if (st->last_error[0])
        snprintf(body, sizeof(body), "No backup has succeeded for %lld days (the last one: %s). The last "
                 "attempt failed: %.200s. Run 'cloudseal status' for details.",
                 (long long)((now - since) / 86400), when, st->last_error);
    else
        snprintf(body, sizeof(body), "No backup has succeeded for %lld days (the last one: %s). Run "
                 "'cloudseal status' for details.", (long long)((now - since) / 86400), when);
    log_warning("backup overdue: nothing good since %s", when);
    a->state.overdue_notified = 1;
    desktop_notify(a, "cloudseal: backup overdue", body);
    state_save(a);
}
