/* SPDX-License-Identifier: MIT */
/* cloudseal-agent: the per-user service that holds the unlocked key and runs
 * backups (and the message-archive sync) on a schedule.
 *
 * One process, one sd-event loop, no threads.  Jobs run as child processes
 * (`cloudseal --json backup`, `cloudseal --json archive sync`) that read the
 * key from the kernel keyring themselves; the agent reads their JSON
 * progress lines for its status.  Children rather than library calls:
 *   - a job that crashes or leaks cannot take the agent (and its locked key)
 *     down, and the event loop never blocks on storage I/O;
 *   - SIGTERM reaches the job cleanly and the repository engine's own crash
 *     consistency covers a job that must be killed;
 *   - the agent needs no knowledge of the repository format: every job is the
 *     same command the user can run by hand.
 *
 * Files: main.c (setup, signals, reload, shutdown), jobs.c (scheduler, backoff),
 * child.c (spawning and reading a job), key.c (keyring, lock modes, logind),
 * control.c (control socket), status.c (STATUS=, status replies, state
 * file), desktop.c (desktop notifications), retention.c ([retention] after
 * backups), notices.c (first backup, overdue), power.c (battery, metered).
 */
#ifndef CS_AGENT_AGENT_H
#define CS_AGENT_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <systemd/sd-login.h>

#include "agent/agent_proto.h"
#include "agent/calendar.h"
#include "config/config.h"
#include "account/account.h"
#include "crypto/keys.h"

/* JOB_INIT, JOB_RETENTION and JOB_STATS are internal steps of the backup
 * job: creating the repository on the first backup, applying [retention]
 * (and a prune at most every prune_interval) and measuring the repository
 * after each one.  Requested steps start in this order. */
typedef enum job_kind { JOB_BACKUP, JOB_ARCHIVE_SYNC, JOB_INIT, JOB_RETENTION, JOB_STATS, N_JOBS } job_kind;

/* How a job run ended, from the CLI's exit code. */
typedef enum job_result {
    RESULT_OK,
    RESULT_FAILED,       /* any other failure: retried with backoff */
    RESULT_UNREACHABLE,  /* storage unreachable (exit 6): retried with backoff */
    RESULT_LOCKED,       /* the job found no key (exit 3): wait for unlock */
    RESULT_INTERRUPTED,  /* stopped by us (shutdown or lock) */
    RESULT_NO_REPOSITORY, /* backup found no repository (exit 4): create it */
    RESULT_NEEDS_CONSENT, /* archive sync: mass deletions wait for the user (exit 8) */
} job_result;

typedef struct job {
    job_kind kind;
    const char *name;          /* "backup", "archive-sync": state and replies */
    const char *verb;          /* "backing up" */
    const char *noun;          /* "backup", for "next backup 14:00" */
    const char *const *args;   /* the CLI subcommand words */
    bool enabled;              /* configured on and the command exists */
    bool internal;             /* a step of another job: not scheduled, not in state or status */
    bool whole_output;         /* output is one pretty-printed JSON document, not lines */
    int64_t interval;          /* seconds between runs */
    int64_t next_run;          /* unix time of the next run, 0 = not scheduled */
    int64_t retry_delay;       /* current backoff, 0 = not backing off */
    bool requested;            /* backup-now / sync-now pending */
    bool asked;                /* the user asked for this run: not held back (power.c), even after INIT */
    bool held;                 /* put off by power.c: due again when the power state changes */
    bool consent_asked;        /* the user was notified of held mass deletions */

    /* while running */
    pid_t pid;                 /* 0 = not running */
    int64_t started;
    int percent;               /* -1 unknown */
    sd_event_source *child_src, *out_src, *kill_src;
    int out_fd;
    char line[CS_AGENT_LINE_MAX + 1];
    size_t line_len;
    bool line_overflow;        /* discarding the rest of an overlong line */
    char run_error[CS_AGENT_TEXT_MAX]; /* last "error" the job printed */
    bool stop_sent;
} job;

typedef struct agent {
    sd_event *event;
    cs_config *cfg;
    const char *config_path;   /* NULL = default */
    char cloudseal[PATH_MAX];  /* the CLI binary jobs run */
    char user[256];
    uid_t uid;

    /* key */
    char account_id[CS_ACCOUNT_ID_MAX];
    bool enrolled;
    cs_amk *amk;               /* our copy in locked memory; NULL = locked */
    bool lock_on_logout;       /* [session] lock = logout */
    sd_event_source *key_timer;
    sd_login_monitor *login_mon;
    sd_event_source *login_src;

    /* jobs */
    job jobs[N_JOBS];
    job *running;              /* at most one job runs at a time */
    sd_event_source *sched_timer;
    int64_t randomized_delay, retry_min, retry_max;
    uint64_t stop_timeout_usec;
    int notify_after;          /* desktop notification after this many failures */
    int64_t battery_min;       /* scheduled jobs wait on battery below this percent; 0 = never */
    bool run_on_metered;
    char waiting[CS_AGENT_TEXT_MAX]; /* why due jobs wait (battery, metered), "" = they do not */
    struct sd_bus *power_bus;  /* the system bus, subscribed to UPower's and NetworkManager's changes */
    bool scheduled;            /* [agent] schedule set: backups by the calendar, not interval */
    cs_calendar schedule;
    int64_t overdue_after;     /* "backup overdue" notification after this long without one; 0 = off */

    /* retention (retention.c) */
    bool retention_enabled;
    bool retention_prune;      /* the running retention step also prunes */
    int64_t prune_interval, prune_timeout;
    sd_event_source *prune_timer;

    /* persistent state ($XDG_STATE_HOME/cloudseal or ~/.local/state/cloudseal) */
    cs_agent_state state;
    char state_path[PATH_MAX];

    /* control socket */
    int listen_fd;
    bool socket_activated;
    char socket_path[PATH_MAX];
    sd_event_source *listen_src;
    unsigned n_clients;

    /* status */
    char status[CS_AGENT_TEXT_MAX];  /* last STATUS= sent */
    char error[CS_AGENT_TEXT_MAX];   /* current error, "" = none */
    sd_event_source *status_timer;
    bool repo_checked;         /* the storage answered at start */
    bool escrow_checked;       /* escrow.c: done (or not needed) for this run */
    bool seal_checked;         /* escrow.c: the keybag seal, likewise */
    int report_class;          /* report.c: last_error + 1 of the last report filed this run, 0 none */
    char report_problem[CS_AGENT_TEXT_MAX]; /* report.c: why no report can be filed at all, "" */
    bool setup_done;           /* no STATUS= before setup has looked at everything */
    bool shutting_down;
    int exit_code;
} agent;

/* jobs.c */
void jobs_init(agent *a);
void jobs_schedule_initial(agent *a);
void jobs_reschedule(agent *a);
void jobs_reload(agent *a);
void jobs_drop_requests(agent *a);
int jobs_request(agent *a, job_kind kind);
void jobs_pause(agent *a, int64_t seconds);
void jobs_resume(agent *a);
void jobs_power_changed(agent *a);
bool jobs_paused(agent *a);
void job_finished(agent *a, job *j, job_result res);
int64_t now_realtime(void);

/* child.c */
int job_spawn(agent *a, job *j);
void job_stop(agent *a, job *j);
bool job_command_exists(agent *a, const char *const *args);

/* key.c */
int key_init(agent *a);
void key_check(agent *a);
void key_lock(agent *a, bool revoke, const char *why);
bool key_user_logged_out(agent *a, bool unknown_means);
void key_on_stop(agent *a);
void key_reload(agent *a);

/* control.c */
int control_init(agent *a);
void control_done(agent *a);

/* status.c */
void status_update(agent *a);
int status_init(agent *a);
json_object *status_json(agent *a);
void state_load(agent *a);
void state_save(agent *a);

/* escrow.c */
void escrow_check(agent *a);
void seal_check(agent *a);

/* report.c: the fleet health report after a job (docs/reports.md) */
void report_file(agent *a);

/* repocheck.c */
void repo_check(agent *a);
bool repo_storage_changed(const cs_config *old, const cs_config *new);

/* desktop.c */
void desktop_notify(agent *a, const char *summary, const char *body);

/* power.c */
void power_watch(agent *a);
void power_done(agent *a);
bool power_should_wait(agent *a, char *why, size_t len);

/* retention.c: the step after a backup, and what its output means */
void retention_configure(agent *a);
void retention_queue(agent *a);
void retention_started(agent *a, job *j);
void retention_progress(agent *a, const cs_job_progress *p);
void retention_finished(agent *a, job *j, job_result res);
void retention_json(agent *a, json_object *o);

/* notices.c: "first backup finished", "backup overdue" */
void notices_init(agent *a);
void notices_backup_ok(agent *a);
void notices_check(agent *a);

#endif
