/* SPDX-License-Identifier: MIT */
/* cloudseal-agent: setup, signals and shutdown.  See agent.h for the design
 * and cloudseal-agent(8) for the user's view. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "util/log.h"
#include "util/secmem.h"
#include "util/verbs.h"

/* The agent has no verbs: its options are parsed as the one verb's
 * (util/verbs.h), with the tools' --help and usage errors. */
static const cs_verb agent_verb = {
    "cloudseal-agent", 0, 0, 0, NULL, "the per-user cloudseal service",
    "Usage: cloudseal-agent [--config FILE] [--debug]\n\n"
    "The per-user cloudseal service: holds your unlocked key, runs backups on\n"
    "schedule and answers 'cloudseal status'.  Normally started by systemd --user\n"
    "(cloudseal-agent.service); see cloudseal-agent(8).\n"
};

/* The CLI the jobs run: [agent] cloudseal, else the `cloudseal` next to this
 * binary (a build tree), else /usr/bin/cloudseal.  out has PATH_MAX bytes. */
static int find_cloudseal(const cs_config *cfg, char *out)
{
    const char *conf = cs_config_str(cfg, "agent", "cloudseal");
    char self[PATH_MAX];
    ssize_t n;

    if (conf && conf[0]) {
        if (conf[0] != '/' || strlen(conf) >= PATH_MAX)
            return -EINVAL;
        strcpy(out, conf);
        return access(out, X_OK) == 0 ? 0 : -errno;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash && (size_t)(slash - self) + sizeof("/cloudseal") <= PATH_MAX) {
            memcpy(out, self, (size_t)(slash - self));
            strcpy(out + (slash - self), "/cloudseal");
            if (access(out, X_OK) == 0)
                return 0;
        }
    }
    strcpy(out, "/usr/bin/cloudseal");
    return access(out, X_OK) == 0 ? 0 : -errno;
}

/* The settings the agent takes from a configuration, checked before any of
 * them is used: at start a bad one stops the agent, on reload it keeps the
 * previous configuration. */
typedef struct settings {
    bool lock_on_logout;
    bool scheduled;
    cs_calendar schedule;
    char cloudseal[PATH_MAX];
} settings;

static int check_settings(const cs_config *cfg, settings *s)
{
    const char *cal = cs_config_str(cfg, "agent", "schedule");
    int r;

    /* logout or reboot: the config loader accepts nothing else */
    s->lock_on_logout = strcmp(cs_config_str(cfg, "session", "lock"), "logout") == 0;
    s->scheduled = cal && cal[0];
    if (s->scheduled && cs_calendar_parse(cal, &s->schedule) < 0) {
        log_error("[agent] schedule must be a calendar like 'daily 12:30', 'Mon..Fri 09:00,17:00' "
                  "or 'hourly', not '%s'", cal);
        return -EINVAL;
    }
    r = find_cloudseal(cfg, s->cloudseal);
    if (r < 0) {
        return log_error_errno(r, "cannot run %s: %m; set [agent] cloudseal to the cloudseal program",
                               s->cloudseal);
    }
    return 0;
}

/* Take cfg (owned from now on) and the settings checked from it. */
static void apply_settings(agent *a, cs_config *cfg, const settings *s)
{
    if (a->cfg && a->cfg != cfg)
        cs_config_free(a->cfg);
    a->cfg = cfg;
    a->lock_on_logout = s->lock_on_logout;
    a->scheduled = s->scheduled;
    a->schedule = s->schedule;
    memcpy(a->cloudseal, s->cloudseal, sizeof(a->cloudseal));
    a->randomized_delay = cs_config_int(cfg, "agent", "randomized_delay");
    a->retry_min = cs_config_int(cfg, "agent", "retry_min");
    a->retry_max = cs_config_int(cfg, "agent", "retry_max");
    if (a->retry_max < a->retry_min)
        a->retry_max = a->retry_min;
    a->stop_timeout_usec = (uint64_t)cs_config_int(cfg, "agent", "stop_timeout") * 1000000ULL;
    a->notify_after = (int)cs_config_int(cfg, "agent", "notify_after_failures");
    a->overdue_after = cs_config_int(cfg, "agent", "overdue_after");
    a->battery_min = cs_config_int(cfg, "agent", "battery_min");
    a->run_on_metered = cs_config_bool(cfg, "agent", "run_on_metered");
}

/* A reload that names other storage: look at it as at start (bounded by
 * [storage] login_timeout), and let jobs backing off against the old storage
 * try the new one on their schedule (jobs_reload recomputes it). */
static void storage_moved(agent *a)
{
    log_notice("the storage changed: checking the new one");
    a->error[0] = '\0';
    a->repo_checked = false;
    for (int i = 0; i < N_JOBS; i++)
        if (!a->jobs[i].pid)
            a->jobs[i].retry_delay = 0;
    repo_check(a);
}

/* SIGHUP (systemctl --user reload cloudseal-agent): read the configuration
 * again and reschedule.  An invalid file changes nothing: the agent keeps
 * running with the configuration it has and says why in the journal.  A
 * running job finishes with the settings it started with (jobs read the file
 * themselves when they start). */
static int on_hup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
    agent *a = userdata;
    const char *path = a->config_path ? a->config_path : CS_CONFIG_DEFAULT_PATH;
    cs_config *cfg = NULL;
    settings s;
    struct timespec ts;
    int r;

    if (a->shutting_down)
        return 0;
    /* MONOTONIC_USEC: the time of this reload, after the signal was sent
     * (Type=notify-reload on systemd >= 253 checks it; older ones ignore it) */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    r = cs_config_load(a->config_path, &cfg);
    if (r == 0)
        r = check_settings(cfg, &s);
    if (r < 0) {
        log_error_errno(r, "reload: %s is not valid (%m, see above); keeping the previous configuration", path);
        cs_config_free(cfg);
    } else {
        bool moved = repo_storage_changed(a->cfg, cfg);

        apply_settings(a, cfg, &s);
        log_notice("reloaded the configuration from %s", path);
        if (moved)
            storage_moved(a);
        jobs_reload(a);
        key_reload(a);
    }
    sd_notify(0, "READY=1");
    status_update(a);
    return 0;
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    agent *a = userdata;

    if (a->shutting_down)
        return 0;
    a->shutting_down = true;
    log_info("stopping (signal %u)", si->ssi_signo);
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    if (a->running)
        job_stop(a, a->running); /* job_finished() exits the loop when it ends */
    else
        sd_event_exit(a->event, 0);
    return 0;
}

static int setup(agent *a)
{
    cs_config *cfg = NULL;
    struct passwd *pw;
    settings st;
    int r;

    a->uid = getuid();
    pw = getpwuid(a->uid);
    if (!pw || strlen(pw->pw_name) >= sizeof(a->user)) {
        log_error("cannot find the user name of uid %u", (unsigned)a->uid);
        return -ENOENT;
    }
    strcpy(a->user, pw->pw_name);

    r = cs_config_load(a->config_path, &cfg);
    if (r == 0)
        r = check_settings(cfg, &st);
    if (r < 0) {
        cs_config_free(cfg);
        log_error("fix the configuration file %s and restart the agent",
                  a->config_path ? a->config_path : CS_CONFIG_DEFAULT_PATH);
        return r;
    }
    apply_settings(a, cfg, &st);

    r = sd_event_default(&a->event);
    if (r < 0)
        return r;
    /* SIGCHLD for sd_event_add_child, SIGTERM/SIGINT for a clean stop,
     * SIGHUP to reload */
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigaddset(&ss, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
        return -errno;
    if ((r = sd_event_add_signal(a->event, NULL, SIGTERM, on_term, a)) < 0 ||
        (r = sd_event_add_signal(a->event, NULL, SIGINT, on_term, a)) < 0 ||
        (r = sd_event_add_signal(a->event, NULL, SIGHUP, on_hup, a)) < 0)
        return r;
    /* pings WATCHDOG=1 at half of WatchdogSec while the loop is healthy */
    r = sd_event_set_watchdog(a->event, 1);
    if (r < 0)
        return r;

    power_watch(a);
    state_load(a);
    notices_init(a);
    jobs_init(a);
    repo_check(a);
    jobs_schedule_initial(a); /* before the key: unlocking starts what is due */
    if ((r = status_init(a)) < 0)
        return r;
    if ((r = control_init(a)) < 0)
        return r;
    if ((r = key_init(a)) < 0)
        return r;
    return 0;
}

static void teardown(agent *a)
{
    key_on_stop(a);
    control_done(a);
    for (int i = 0; i < N_JOBS; i++) {
        job *j = &a->jobs[i];
        sd_event_source_disable_unref(j->child_src);
        sd_event_source_disable_unref(j->out_src);
        sd_event_source_disable_unref(j->kill_src);
        if (j->out_fd >= 0)
            close(j->out_fd);
    }
    sd_event_source_disable_unref(a->sched_timer);
    sd_event_source_disable_unref(a->key_timer);
    sd_event_source_disable_unref(a->login_src);
    sd_event_source_disable_unref(a->status_timer);
    sd_event_source_disable_unref(a->prune_timer);
    power_done(a);
    if (a->login_mon)
        sd_login_monitor_unref(a->login_mon);
    sd_event_unref(a->event);
    cs_config_free(a->cfg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "debug", no_argument, NULL, 'd' },
        { "version", no_argument, NULL, 'V' },
        {}
    };
    static agent a = { .listen_fd = -1 };
    int c, r;
    bool debug = false;

    a.config_path = getenv("CLOUDSEAL_CONFIG");
    cs_verb_enter(&agent_verb);
    while ((c = cs_verb_getopt(argc, argv, "c:dV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a.config_path = optarg; break;
        case 'd': debug = true; break;
        case 'V': printf("cloudseal-agent %s\n", CS_VERSION); return 0;
        default: return c == CS_VERB_HELP ? 0 : 2;
        }
    }
    cs_log_setup("cloudseal-agent", debug ? LOG_DEBUG : LOG_INFO);
    if (cs_crypto_init() < 0 || cs_process_harden() < 0) {
        log_error("cannot initialise cryptography or harden the process");
        return 1;
    }
    r = setup(&a);
    if (r < 0) {
        sd_notifyf(0, "STATUS=error: %s\nERRNO=%d", strerror(-r), -r);
        teardown(&a);
        return 1;
    }
    /* config read, CLI found, storage and repository looked at, account
     * looked up, socket listening */
    a.setup_done = true;
    status_update(&a);
    notices_check(&a);
    sd_notify(0, "READY=1");
    log_info("ready: user %s, %s, lock=%s", a.user, a.amk ? "unlocked" : "locked",
             a.lock_on_logout ? "logout" : "reboot");
    r = sd_event_loop(a.event);
    if (r < 0)
        log_error_errno(r, "event loop failed");
    teardown(&a);
    return r < 0 ? 1 : a.exit_code;
}
