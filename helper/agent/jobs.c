/* SPDX-License-Identifier: MIT */
/* The job loop: when each job runs next, one run at a time, retries with
 * exponential backoff, and what a finished run means for the schedule. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "agent.h"
#include "util/log.h"

/* progress lines on stdout, next to the final snapshot document */
static const char *const backup_args[] = { "backup", "--progress-fd", "1", NULL };
static const char *const archive_args[] = { "archive", "sync", NULL };
static const char *const init_args[] = { "init", NULL };
static const char *const stats_args[] = { "stats", NULL };

int64_t now_realtime(void)
{
    return (int64_t)time(NULL);
}

/* Spread the fleet's runs (and a user's machines) so they do not all hit
 * the storage at the top of the hour. */
static int64_t random_delay(agent *a)
{
    if (a->randomized_delay <= 0)
        return 0;
    return (int64_t)randombytes_uniform((uint32_t)(a->randomized_delay > UINT32_MAX - 1 ? UINT32_MAX - 1
                                                                                        : a->randomized_delay + 1));
}

static const char *result_name(job_result r)
{
    switch (r) {
    case RESULT_OK: return "ok";
    case RESULT_UNREACHABLE: return "unreachable";
    case RESULT_LOCKED: return "locked";
    case RESULT_INTERRUPTED: return "interrupted";
    case RESULT_NO_REPOSITORY: return "no repository";
    case RESULT_NEEDS_CONSENT: return "needs consent";
    default: return "failed";
    }
}

static void jobs_configure(agent *a);
static bool by_calendar(agent *a, const job *j);

void jobs_init(agent *a)
{
    job *b = &a->jobs[JOB_BACKUP], *s = &a->jobs[JOB_ARCHIVE_SYNC];

    for (int i = 0; i < N_JOBS; i++) {
        a->jobs[i].kind = (job_kind)i;
        a->jobs[i].out_fd = -1;
        a->jobs[i].percent = -1;
    }
    *b = (job){ .kind = JOB_BACKUP, .name = "backup", .verb = "backing up", .noun = "backup",
                .args = backup_args, .out_fd = -1, .percent = -1 };
    *s = (job){ .kind = JOB_ARCHIVE_SYNC, .name = "archive-sync", .verb = "syncing messages",
                .noun = "message sync", .args = archive_args, .out_fd = -1, .percent = -1 };
    a->jobs[JOB_INIT] = (job){ .kind = JOB_INIT, .name = "init", .verb = "creating the backup repository",
                               .noun = "backup", .args = init_args, .internal = true, .out_fd = -1,
                               .percent = -1 };
    retention_configure(a);
    a->jobs[JOB_STATS] = (job){ .kind = JOB_STATS, .name = "stats", .verb = "measuring the repository",
                                .noun = "backup", .args = stats_args, .internal = true, .whole_output = true,
                                .out_fd = -1, .percent = -1 };
    jobs_configure(a);
}

/* Intervals and which jobs are on, from a->cfg: at start and on reload. */
static void jobs_configure(agent *a)
{
    const char *archive = cs_config_str(a->cfg, "agent", "archive_sync");
    job *b = &a->jobs[JOB_BACKUP], *s = &a->jobs[JOB_ARCHIVE_SYNC];

    b->interval = cs_config_int(a->cfg, "agent", "interval");
    s->interval = cs_config_int(a->cfg, "agent", "archive_interval");
    s->enabled = false;

    b->enabled = cs_config_bool(a->cfg, "agent", "backup") && job_command_exists(a, backup_args);
    if (cs_config_bool(a->cfg, "agent", "backup") && !b->enabled)
        log_warning("%s has no 'backup' command yet; backups are off", a->cloudseal);
    /* the archive sync joins the loop as soon as the CLI has it */
    if (strcmp(archive, "no") != 0) {
        s->enabled = job_command_exists(a, archive_args);
        if (!s->enabled && strcmp(archive, "yes") == 0)
            log_warning("%s has no 'archive sync' command; message sync is off", a->cloudseal);
    }
    a->jobs[JOB_INIT].enabled = b->enabled;
    a->jobs[JOB_STATS].enabled = b->enabled && job_command_exists(a, stats_args);
    retention_configure(a);
    for (int i = 0; i < N_JOBS; i++)
        if (a->jobs[i].enabled && !a->jobs[i].internal && by_calendar(a, &a->jobs[i]))
            log_info("job %s on the calendar '%s'", a->jobs[i].name, cs_config_str(a->cfg, "agent", "schedule"));
        else if (a->jobs[i].enabled && !a->jobs[i].internal)
            log_info("job %s every %llds", a->jobs[i].name, (long long)a->jobs[i].interval);
}

/* The backup's [agent] schedule, when set, instead of its interval. */
static bool by_calendar(agent *a, const job *j)
{
    return a->scheduled && j->kind == JOB_BACKUP;
}

/* The run after a success at `from`. */
static int64_t next_after(agent *a, const job *j, int64_t from)
{
    int64_t t = by_calendar(a, j) ? cs_calendar_next(&a->schedule, from) : 0;

    return (t > 0 ? t : from + j->interval) + random_delay(a);
}

/* The run the schedule alone asks for: right away when the last success is
 * older than the interval, or a calendar time has passed since it (like
 * OnCalendar= with Persistent=true), or there never was one, or it is in
 * the future; else the next time after it. */
static int64_t next_by_interval(agent *a, const job *j, int64_t now)
{
    cs_agent_job_state *st = cs_agent_state_job(&a->state, j->name);
    int64_t last = st ? st->last_success : 0, t;

    if (last <= 0 || last > now)
        return now;
    if (by_calendar(a, j)) {
        t = cs_calendar_next(&a->schedule, last);
        return t > 0 && t <= now ? now : next_after(a, j, last);
    }
    if (now - last >= j->interval)
        return now;
    return next_after(a, j, last);
}

void jobs_schedule_initial(agent *a)
{
    int64_t now = now_realtime();

    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];

        if (j->enabled && !j->internal)
            j->next_run = next_by_interval(a, j, now);
    }
    jobs_reschedule(a);
}

/* After a reload: new intervals and switches take effect now.  A waiting
 * job's next run is computed again from its last success (so a shorter
 * interval can make it due at once); a job backing off or asked for keeps
 * its time, a running one finishes first. */
void jobs_reload(agent *a)
{
    int64_t now = now_realtime();

    jobs_configure(a);
    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];

        if (j->internal || j->pid)
            continue;
        if (!j->enabled) {
            j->next_run = 0;
            j->requested = false;
            j->retry_delay = 0;
        } else if (!j->requested && !j->retry_delay) {
            j->next_run = next_by_interval(a, j, now);
        }
    }
    jobs_reschedule(a);
}

/* At lock: "back up now" meant now, while unlocked.  A request still waiting
 * behind the job that was running would otherwise fire at the next unlock,
 * hours later; the schedule (or the backoff) decides after that unlock. */
void jobs_drop_requests(agent *a)
{
    int64_t now = now_realtime();

    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];

        j->asked = false;
        if (!j->requested)
            continue;
        j->requested = false;
        if (j->internal) {
            j->next_run = 0; /* INIT comes back when the backup finds no repository */
            continue;
        }
        j->next_run = j->retry_delay ? now + j->retry_delay : next_by_interval(a, j, now);
        log_info("dropped the queued %s request: locked", j->name);
    }
}

/* The job to start now: a requested one first, else the most overdue. */
static job *due_job(agent *a, int64_t now, int64_t *earliest)
{
    job *best = NULL;

    *earliest = 0;
    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];
        if (!j->enabled || j->next_run == 0)
            continue;
        if (j->requested)
            return j;
        if (!*earliest || j->next_run < *earliest)
            *earliest = j->next_run;
        if (j->next_run <= now && (!best || j->next_run < best->next_run))
            best = j;
    }
    return best;
}

/* A scheduled job that is due waits while power_should_wait() says so:
 * every due one is put off by retry_min and asked about again then, or
 * when UPower or NetworkManager say their state changed. */
static job *polite_job(agent *a, job *j, int64_t now, int64_t *earliest)
{
    char why[CS_AGENT_TEXT_MAX];

    if (!power_should_wait(a, why, sizeof(why))) {
        if (a->waiting[0])
            log_notice("no longer waiting: jobs run again");
        a->waiting[0] = '\0';
        for (int i = 0; i < N_JOBS; i++)
            a->jobs[i].held = false;
        return j;
    }
    if (strcmp(why, a->waiting) != 0)
        log_notice("waiting: %s", why);
    snprintf(a->waiting, sizeof(a->waiting), "%s", why);
    for (int i = 0; i < N_JOBS; i++) {
        job *d = &a->jobs[i];
        if (d->enabled && !d->internal && d->next_run && d->next_run <= now)
            d->next_run = now + a->retry_min, d->held = true;
    }
    /* a request or an internal step may still be due: those go ahead */
    j = due_job(a, now, earliest);
    return j && (j->requested || j->asked || j->internal) ? j : NULL;
}

void jobs_power_changed(agent *a)
{
    int64_t now = now_realtime();

    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];
        if (j->held && j->next_run > now)
            j->next_run = now;
        j->held = false;
    }
    jobs_reschedule(a);
}

static int on_sched_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    jobs_reschedule(userdata);
    return 0;
}

/* Start what is due, or arm the timer for the next one.  Called after every
 * change: unlock, lock, a job's end, a request. */
void jobs_reschedule(agent *a)
{
    int64_t now = now_realtime(), earliest;
    job *j;
    int r;

    if (a->shutting_down || a->running || !a->amk) {
        sd_event_source_set_enabled(a->sched_timer, SD_EVENT_OFF);
        status_update(a);
        return;
    }
    j = due_job(a, now, &earliest);
    if (j && !j->requested && !j->asked && !j->internal)
        j = polite_job(a, j, now, &earliest);
    if (jobs_paused(a)) {
        /* nothing starts; wake up when the pause ends (a timed one) */
        j = NULL;
        earliest = a->state.paused_until == INT64_MAX ? 0 : a->state.paused_until;
    }
    if (j) {
        j->requested = false;
        j->held = false;
        r = job_spawn(a, j);
        if (r < 0) {
            log_error_errno(r, "cannot start %s", j->name);
            job_finished(a, j, RESULT_FAILED);
            return;
        }
        if (j->kind == JOB_RETENTION)
            retention_started(a, j);
        status_update(a);
        return;
    }
    if (!earliest) {
        sd_event_source_set_enabled(a->sched_timer, SD_EVENT_OFF);
    } else if (!a->sched_timer) {
        r = sd_event_add_time(a->event, &a->sched_timer, CLOCK_REALTIME, (uint64_t)earliest * 1000000ULL,
                              1000000, on_sched_timer, a);
        if (r < 0)
            log_error_errno(r, "cannot arm the job timer");
    } else {
        sd_event_source_set_time(a->sched_timer, (uint64_t)earliest * 1000000ULL);
        sd_event_source_set_enabled(a->sched_timer, SD_EVENT_ONESHOT);
    }
    status_update(a);
}

bool jobs_paused(agent *a)
{
    if (a->state.paused_until && a->state.paused_until <= now_realtime()) {
        log_notice("the pause has ended: jobs run on their schedule again");
        a->state.paused_until = 0;
        state_save(a);
    }
    return a->state.paused_until != 0;
}

/* seconds < 0: until `resume`.  A running job is stopped (it runs again
 * after the pause: the repository is consistent whenever it stops). */
void jobs_pause(agent *a, int64_t seconds)
{
    a->state.paused_until = seconds < 0 ? INT64_MAX : now_realtime() + seconds;
    log_notice("paused %s", seconds < 0 ? "until 'cloudseal agent resume'" : "for a while");
    if (a->running)
        job_stop(a, a->running);
    state_save(a);
    jobs_reschedule(a);
}

void jobs_resume(agent *a)
{
    if (a->state.paused_until)
        log_notice("resumed");
    a->state.paused_until = 0;
    state_save(a);
    jobs_reschedule(a);
}

int jobs_request(agent *a, job_kind kind)
{
    job *j = &a->jobs[kind];

    if (!j->enabled)
        return -EOPNOTSUPP;
    if (jobs_paused(a))
        return -EAGAIN;
    if (!a->amk)
        return -ENOKEY;
    if (j->pid)
        return 1; /* already running: the request is satisfied */
    j->requested = true;
    j->asked = true;
    j->next_run = now_realtime();
    jobs_reschedule(a);
    return 0;
}

static void note_failure(agent *a, job *j, cs_agent_job_state *st, job_result res)
{
    int64_t now = now_realtime();

    j->retry_delay = j->retry_delay ? j->retry_delay * 2 : a->retry_min;
    if (j->retry_delay > a->retry_max)
        j->retry_delay = a->retry_max;
    j->next_run = now + j->retry_delay;
    if (st) {
        st->failures++;
        if (j->run_error[0])
            snprintf(st->last_error, sizeof(st->last_error), "%s", j->run_error);
        else
            snprintf(st->last_error, sizeof(st->last_error), "%s",
                     res == RESULT_UNREACHABLE ? "storage unreachable" : "the job failed (see the journal)");
    }
    snprintf(a->error, sizeof(a->error), "%s", res == RESULT_UNREACHABLE ? "storage unreachable"
                                               : st ? st->last_error : "job failed");
    log_warning("%s failed (%s); retry in %llds", j->name, st ? st->last_error : "?",
                (long long)j->retry_delay);
    /* once, when failures start to look persistent, tell the person at the desk */
    if (st && st->failures == a->notify_after) {
        char body[CS_AGENT_TEXT_MAX + 64];
        snprintf(body, sizeof(body), "The last %d attempts failed: %.180s. Run 'cloudseal status' for details.",
                 st->failures, st->last_error);
        desktop_notify(a, j->kind == JOB_BACKUP ? "cloudseal: backups are failing"
                                                : "cloudseal: message sync is failing", body);
    }
}

/* Queue an internal step to run before anything else. */
static void run_step(agent *a, job_kind kind)
{
    job *s = &a->jobs[kind];

    if (!s->enabled)
        return;
    s->requested = true;
    s->next_run = now_realtime();
}

static void step_finished(agent *a, job *j, job_result res)
{
    j->next_run = 0;
    j->requested = false;
    if (j->kind == JOB_INIT) {
        job *b = &a->jobs[JOB_BACKUP];
        cs_agent_job_state *st = cs_agent_state_job(&a->state, b->name);
        if (res == RESULT_OK) {
            log_notice("created the backup repository");
            b->next_run = now_realtime();
        } else if (res != RESULT_INTERRUPTED && (res != RESULT_LOCKED || a->amk)) {
            /* refused with the key at hand (exit 3 is "access denied" too):
             * a failure that backs off, or backup and init would take turns
             * without end */
            if (!j->run_error[0])
                snprintf(j->run_error, sizeof(j->run_error), "%s", res == RESULT_LOCKED
                         ? "cannot create the backup repository: the key was refused (access denied?)"
                         : "cannot create the backup repository");
            snprintf(b->run_error, sizeof(b->run_error), "%s", j->run_error);
            note_failure(a, b, st, res);
            state_save(a);
        }
    } else if (j->kind == JOB_RETENTION) {
        retention_finished(a, j, res);
    } else if (j->kind == JOB_STATS) {
        if (res != RESULT_OK)
            log_debug("could not measure the repository");
        report_file(a); /* the backup's report, with the size just measured */
    }
}

void job_finished(agent *a, job *j, job_result res)
{
    cs_agent_job_state *st;
    int64_t now = now_realtime();

    if (a->running == j)
        a->running = NULL;
    j->pid = 0;
    j->percent = -1;
    if (j->internal) {
        if (res == RESULT_LOCKED)
            key_check(a); /* the key went away under the step: wait for it, start nothing */
        step_finished(a, j, res);
        if (a->shutting_down)
            sd_event_exit(a->event, 0);
        else
            jobs_reschedule(a);
        return;
    }
    if (res != RESULT_NO_REPOSITORY) /* else the asked-for run follows the repository's creation */
        j->asked = false;
    st = cs_agent_state_job(&a->state, j->name);
    if (st && res != RESULT_NO_REPOSITORY) { /* not a run: the repository is created first */
        st->last_run = now;
        snprintf(st->last_result, sizeof(st->last_result), "%s", result_name(res));
    }
    switch (res) {
    case RESULT_OK:
        log_info("%s finished", j->name);
        j->retry_delay = 0;
        j->next_run = next_after(a, j, now);
        a->error[0] = '\0';
        if (st) {
            st->last_success = now;
            st->failures = 0;
            st->last_error[0] = '\0';
        }
        if (j->kind == JOB_BACKUP) {
            retention_queue(a);
            run_step(a, JOB_STATS);
            notices_backup_ok(a);
        }
        j->consent_asked = false;
        break;
    case RESULT_NEEDS_CONSENT:
        /* mass deletions stopped the sync or are held: only the user may let
         * them through (docs/archive.md).  Ask once, sync on schedule. */
        if (!j->run_error[0])
            snprintf(j->run_error, sizeof(j->run_error), "mass deletion held: run 'cloudseal archive sync'");
        log_warning("%s: %s", j->name, j->run_error);
        j->retry_delay = 0;
        j->next_run = now + j->interval + random_delay(a);
        snprintf(a->error, sizeof(a->error), "%s", j->run_error);
        if (st)
            snprintf(st->last_error, sizeof(st->last_error), "%s", j->run_error);
        if (!j->consent_asked)
            desktop_notify(a, "cloudseal: many messages deleted",
                           "A message sync would delete many messages on your workstations and waits for "
                           "you. Run 'cloudseal archive sync' in a terminal to see which and what to do.");
        j->consent_asked = true;
        break;
    case RESULT_NO_REPOSITORY:
        /* the first backup of this account: create the repository, then back up */
        log_notice("no backup repository yet: creating it");
        j->next_run = now;
        run_step(a, JOB_INIT);
        break;
    case RESULT_LOCKED:
        /* the key went away under the job: re-read the keyring.  If it is
         * still there, the job was refused for another reason (the CLI also
         * reports "access denied" this way): back off, never spin. */
        log_notice("%s found no usable key", j->name);
        j->next_run = now;
        key_check(a);
        if (a->amk) {
            if (!j->run_error[0])
                snprintf(j->run_error, sizeof(j->run_error), "the job could not use the key or was denied access");
            note_failure(a, j, st, res);
        }
        break;
    case RESULT_INTERRUPTED:
        log_notice("%s interrupted; it will run again", j->name);
        j->next_run = now; /* the repository is consistent: just run again */
        break;
    default:
        note_failure(a, j, st, res);
        break;
    }
    state_save(a);
    /* a good backup reports after its JOB_STATS step */
    if (!a->shutting_down && res != RESULT_INTERRUPTED && res != RESULT_NO_REPOSITORY &&
        !(j->kind == JOB_BACKUP && res == RESULT_OK))
        report_file(a);
    if (a->shutting_down) {
        sd_event_exit(a->event, 0);
        return;
    }
    jobs_reschedule(a);
}
