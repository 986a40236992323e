/* SPDX-License-Identifier: MIT */
/* What the agent tells the world: STATUS= for systemctl, the status reply
 * for `cloudseal status`, and the state file that remembers the last runs
 * across restarts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"

#define STATE_FILE "agent-state.json"

static void format_when(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t, now = time(NULL);
    struct tm tm, tn;

    localtime_r(&tt, &tm);
    localtime_r(&now, &tn);
    if (tm.tm_yday == tn.tm_yday && tm.tm_year == tn.tm_year)
        strftime(buf, len, "%H:%M", &tm);
    else
        strftime(buf, len, "%a %H:%M", &tm);
}

static job *next_job(agent *a)
{
    job *best = NULL;

    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];
        if (j->enabled && !j->internal && j->next_run && (!best || j->next_run < best->next_run))
            best = j;
    }
    return best;
}

static const char *state_word(agent *a)
{
    if (a->shutting_down)
        return "stopping";
    if (a->running)
        return "running";
    if (!a->enrolled)
        return "not-enrolled";
    if (!a->amk)
        return "locked";
    if (a->state.paused_until)
        return "paused";
    if (a->error[0])
        return "error";
    return "idle";
}

static void status_text(agent *a, char *buf, size_t len)
{
    int64_t now = now_realtime();
    job *n = next_job(a);
    char when[32];

    if (a->shutting_down) {
        snprintf(buf, len, "stopping");
    } else if (a->running) {
        if (a->running->percent >= 0)
            snprintf(buf, len, "%s %d%%", a->running->verb, a->running->percent);
        else
            snprintf(buf, len, "%s", a->running->verb);
    } else if (!a->enrolled) {
        snprintf(buf, len, "%s", a->error[0] ? a->error : "not enrolled: run 'cloudseal enroll'");
    } else if (!a->amk) {
        /* a login without the password (an SSH key, autologin) or after
         * 'cloudseal lock': no job runs until the key is back */
        snprintf(buf, len, "locked: waiting for the key (run 'cloudseal unlock')");
    } else if (a->state.paused_until == INT64_MAX) {
        snprintf(buf, len, "paused: run 'cloudseal agent resume'");
    } else if (a->state.paused_until) {
        format_when(a->state.paused_until, when, sizeof(when));
        snprintf(buf, len, "paused until %s", when);
    } else if (a->waiting[0]) {
        snprintf(buf, len, "waiting: %.200s", a->waiting);
    } else if (a->error[0] && n && n->retry_delay) {
        int64_t left = n->next_run > now ? n->next_run - now : 0;
        if (left >= 60)
            snprintf(buf, len, "error: %.200s, retry in %lld min", a->error, (long long)((left + 59) / 60));
        else
            snprintf(buf, len, "error: %.200s, retry in %lld s", a->error, (long long)left);
    } else if (n) {
        /* "idle, next backup 14:00, message sync 13:15": every scheduled job */
        size_t used = (size_t)snprintf(buf, len, "idle, next");
        const char *sep = " ";
        for (int i = 0; i < N_JOBS && used < len; i++) {
            job *j = &a->jobs[i];
            if (!j->enabled || j->internal || !j->next_run)
                continue;
            format_when(j->next_run, when, sizeof(when));
            used += (size_t)snprintf(buf + used, len - used, "%s%s %s", sep, j->noun, when);
            sep = ", ";
        }
    } else {
        snprintf(buf, len, "idle, no jobs scheduled");
    }
}

void status_update(agent *a)
{
    char text[CS_AGENT_TEXT_MAX];

    if (!a->setup_done)
        return;
    status_text(a, text, sizeof(text));
    if (strcmp(text, a->status) == 0)
        return;
    snprintf(a->status, sizeof(a->status), "%s", text);
    sd_notifyf(0, "STATUS=%s", text);
    log_debug("status: %s", text);
}

/* "retry in 5 min" counts down, "next backup 14:00" changes at midnight */
static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    status_update(userdata);
    notices_check(userdata);
    sd_event_source_set_time(s, usec + 30 * 1000000ULL);
    return 0;
}

int status_init(agent *a)
{
    uint64_t now;
    int r = sd_event_now(a->event, CLOCK_MONOTONIC, &now);

    if (r < 0)
        return r;
    r = sd_event_add_time(a->event, &a->status_timer, CLOCK_MONOTONIC, now + 30 * 1000000ULL, 1000000,
                          on_status_timer, a);
    if (r < 0)
        return r;
    return sd_event_source_set_enabled(a->status_timer, SD_EVENT_ON);
}

json_object *status_json(agent *a)
{
    json_object *o = json_object_new_object(), *jobs = json_object_new_array();

    json_object_object_add(o, "ok", json_object_new_boolean(1));
    json_object_object_add(o, "state", json_object_new_string(state_word(a)));
    json_object_object_add(o, "status", json_object_new_string(a->status));
    json_object_object_add(o, "user", json_object_new_string(a->user));
    json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
    json_object_object_add(o, "unlocked", json_object_new_boolean(a->amk != NULL));
    json_object_object_add(o, "lock", json_object_new_string(a->lock_on_logout ? "logout" : "reboot"));
    if (a->enrolled)
        json_object_object_add(o, "account_id", json_object_new_string(a->account_id));
    if (a->state.repository_size >= 0)
        json_object_object_add(o, "repository_size", json_object_new_int64(a->state.repository_size));
    if (a->error[0])
        json_object_object_add(o, "error", json_object_new_string(a->error));
    if (a->waiting[0])
        json_object_object_add(o, "waiting", json_object_new_string(a->waiting));
    if (a->state.paused_until)
        json_object_object_add(o, "paused_until", json_object_new_int64(a->state.paused_until));
    if (a->report_problem[0])
        json_object_object_add(o, "report_problem", json_object_new_string(a->report_problem));
    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];
        cs_agent_job_state *st;
        json_object *jo;

        if (j->internal)
            continue;
        st = cs_agent_state_job(&a->state, j->name);
        jo = json_object_new_object();

        json_object_object_add(jo, "name", json_object_new_string(j->name));
        json_object_object_add(jo, "enabled", json_object_new_boolean(j->enabled));
        json_object_object_add(jo, "running", json_object_new_boolean(j->pid != 0));
        if (j->pid && j->percent >= 0)
            json_object_object_add(jo, "percent", json_object_new_int(j->percent));
        json_object_object_add(jo, "interval", json_object_new_int64(j->interval));
        json_object_object_add(jo, "next_run", json_object_new_int64(j->enabled && a->amk ? j->next_run : 0));
        if (st) {
            json_object_object_add(jo, "last_run", json_object_new_int64(st->last_run));
            json_object_object_add(jo, "last_success", json_object_new_int64(st->last_success));
            json_object_object_add(jo, "last_result", json_object_new_string(st->last_result));
            json_object_object_add(jo, "last_error", json_object_new_string(st->last_error));
            json_object_object_add(jo, "failures", json_object_new_int(st->failures));
        }
        json_object_array_add(jobs, jo);
    }
    json_object_object_add(o, "jobs", jobs);
    retention_json(a, o);
    return o;
}

/* $XDG_STATE_HOME/cloudseal, else ~/.local/state/cloudseal: the path the
 * default backup exclude names.  Deliberately not $STATE_DIRECTORY: for a
 * user unit, StateDirectory= is $XDG_STATE_HOME only from systemd 254 on and
 * $XDG_CONFIG_HOME (~/.config) on Debian 12's 252, which would put a file
 * rewritten during every backup into the home being backed up. */
static int state_dir(char *buf, size_t len)
{
    const char *x = getenv("XDG_STATE_HOME"), *h = getenv("HOME");
    int n;

    if (x && x[0] == '/')
        n = snprintf(buf, len, "%s/cloudseal", x);
    else if (h && h[0] == '/')
        n = snprintf(buf, len, "%s/.local/state/cloudseal", h);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Where StateDirectory=cloudseal put the file on systemd < 254:
 * $XDG_CONFIG_HOME/cloudseal or ~/.config/cloudseal. */
static int old_state_path(char *buf, size_t len)
{
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
    int n;

    if (x && x[0] == '/')
        n = snprintf(buf, len, "%s/cloudseal/%s", x, STATE_FILE);
    else if (h && h[0] == '/')
        n = snprintf(buf, len, "%s/.config/cloudseal/%s", h, STATE_FILE);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The state directory, 0700 and ours.  Missing parents (~/.local/state)
 * are made 0700 as the XDG base directory spec asks. */
static int make_state_dir(const char *dir)
{
    struct stat st;
    int r = cs_mkdir_p(dir, 0700);

    if (r < 0)
        return r;
    if (lstat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
        return -EPERM;
    if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0)
        return -errno;
    return 0;
}

/* Once: move the state file from where an older agent (StateDirectory= on
 * systemd 252) kept it.  Only when the new location has none, so a newer
 * file is never overwritten; the old one is gone afterwards, so this runs
 * once.  A rename, or a copy when ~/.config is on another file system. */
static void migrate_old_state(agent *a)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    char old[PATH_MAX];
    int r;

    if (old_state_path(old, sizeof(old)) < 0 || access(a->state_path, F_OK) == 0 ||
        access(old, F_OK) < 0)
        return;
    if (rename(old, a->state_path) == 0) {
        r = 0;
    } else if (errno != EXDEV) {
        r = -errno;
    } else {
        r = cs_read_file(old, CS_AGENT_STATE_MAX, &b);
        if (r == 0)
            r = cs_write_file_atomic(a->state_path, b.data, b.len, 0600);
        if (r == 0 && unlink(old) < 0)
            r = -errno;
    }
    if (r < 0) {
        log_warning_errno(r, "cannot move the state file %s to %s", old, a->state_path);
        return;
    }
    log_notice("moved the state file from %s to %s (out of the backed-up configuration)", old, a->state_path);
    /* ~/.config/cloudseal held nothing else of ours: tidy it if now empty */
    *strrchr(old, '/') = '\0';
    (void)rmdir(old);
}

void state_load(agent *a)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    char dir[PATH_MAX - 32];
    int r;

    cs_agent_state_init(&a->state);
    if (state_dir(dir, sizeof(dir)) < 0) {
        log_warning("no state directory (set HOME): the last backup time is not remembered");
        return;
    }
    snprintf(a->state_path, sizeof(a->state_path), "%s/%s", dir, STATE_FILE);
    r = make_state_dir(dir);
    if (r < 0) {
        log_warning_errno(r, "cannot use the state directory %s: %m; the last backup time is not remembered",
                          dir);
        a->state_path[0] = '\0';
        return;
    }
    migrate_old_state(a);
    r = cs_read_file(a->state_path, CS_AGENT_STATE_MAX, &b);
    if (r == -ENOENT)
        return;
    if (r == 0)
        r = cs_agent_state_parse((const char *)b.data, b.len, &a->state);
    if (r < 0)
        log_warning_errno(r, "ignoring %s: %m; the next backup runs now", a->state_path);
}

void state_save(agent *a)
{
    json_object *o;
    const char *s;
    char dir[PATH_MAX];
    int r;

    if (!a->state_path[0])
        return;
    /* made at start; again in case someone removed it meanwhile */
    snprintf(dir, sizeof(dir), "%s", a->state_path);
    *strrchr(dir, '/') = '\0';
    r = make_state_dir(dir);
    o = cs_agent_state_to_json(&a->state);
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (r == 0)
        r = cs_write_file_atomic(a->state_path, s, strlen(s), 0600);
    if (r < 0)
        log_warning_errno(r, "cannot save %s", a->state_path);
    json_object_put(o);
}
