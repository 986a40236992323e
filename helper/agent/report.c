/* SPDX-License-Identifier: MIT */
/* Fleet health reports (docs/reports.md): after a job, while unlocked and
 * inside a fleet whose signed directory names a report key, file a small
 * status object signed with the account key and sealed to the fleet's
 * report key, so that 'cloudseal admin report' sees whose backups are
 * stale.  At most one every [fleet] report_interval, unless the outcome
 * changed (a failure after successes shows at once).  With the login
 * timeouts, like escrow.c: a cloud outage costs at most [storage]
 * login_timeout, and the next job tries again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-id128.h>

#include "agent.h"
#include "fleet/report.h"
#include "storage/storage_s3.h"
#include "util/buf.h"
#include "util/log.h"

/* The host id: the machine id hashed with cloudseal's application id, so
 * the store does not learn the machine id itself. */
#define REPORT_APP_ID SD_ID128_MAKE(6c, 0e, 2b, 43, 9d, 1a, 4f, 27, b5, 83, 10, c4, 7e, 59, a2, 61)

static void host_name(char out[CS_REPORT_HOST_MAX + 1])
{
    char name[256] = "";
    size_t n = 0;

    if (gethostname(name, sizeof(name) - 1) < 0)
        name[0] = '\0';
    for (const char *p = name; *p && n < CS_REPORT_HOST_MAX; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
            *p == '-')
            out[n++] = *p;
    out[n] = '\0';
    if (n == 0)
        strcpy(out, "unknown");
}

static cs_report_error error_class(const char *result)
{
    static const struct { const char *result; cs_report_error e; } map[] = {
        { "ok", CS_REPORT_ERR_NONE },           { "interrupted", CS_REPORT_ERR_NONE },
        { "unreachable", CS_REPORT_ERR_UNREACHABLE }, { "locked", CS_REPORT_ERR_LOCKED },
        { "no repository", CS_REPORT_ERR_NO_REPOSITORY }, { "needs consent", CS_REPORT_ERR_NEEDS_CONSENT },
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(result, map[i].result) == 0)
            return map[i].e;
    return result[0] ? CS_REPORT_ERR_FAILED : CS_REPORT_ERR_NONE;
}

static int64_t at_most(int64_t t, int64_t now) { return t > now ? now : t < 0 ? 0 : t; }

/* The report from the agent's state: the last success of each job, and the
 * newest of the jobs' last failures (never their messages: those can name
 * files). */
static int make_report(agent *a, int64_t now, cs_report *r)
{
    sd_id128_t id;
    int rc = sd_id128_get_machine_app_specific(REPORT_APP_ID, &id);

    size_t ulen = strlen(a->user);

    if (rc < 0)
        return rc;
    if (ulen > CS_FLEET_NAME_MAX)
        return -EINVAL; /* not a fleet user name */
    memset(r, 0, sizeof(*r));
    memcpy(r->user, a->user, ulen + 1);
    sd_id128_to_string(id, r->host_id);
    host_name(r->host);
    snprintf(r->agent_version, sizeof(r->agent_version), "%s", CS_VERSION);
    r->sequence = (uint64_t)a->state.report_sequence + 1;
    r->time = now;
    r->repo_bytes = a->state.repository_size > 0 ? (uint64_t)a->state.repository_size : 0;
    r->snapshots = (uint64_t)a->state.snapshots;
    for (size_t i = 0; i < a->state.n_jobs; i++) {
        const cs_agent_job_state *j = &a->state.jobs[i];
        cs_report_error e = error_class(j->last_result);
        if (strcmp(j->name, "backup") == 0)
            r->last_backup = at_most(j->last_success, now);
        else if (strcmp(j->name, "archive-sync") == 0)
            r->last_sync = at_most(j->last_success, now);
        if (e != CS_REPORT_ERR_NONE && at_most(j->last_run, now) >= r->last_error_time) {
            r->last_error = e;
            r->last_error_time = at_most(j->last_run, now);
        }
    }
    if (r->last_error != CS_REPORT_ERR_NONE && r->last_error_time == 0)
        r->last_error_time = now;
    return 0;
}

/* A report that cannot be made at all (no machine id, a name no fleet
 * allows) stays so until someone acts: say it once at warning level, and in
 * the status (`cloudseal status`) for as long as it lasts; else the fleet's
 * admin sees a stale workstation and its user nothing. */
static void report_cannot(agent *a, int rc)
{
    char why[CS_AGENT_TEXT_MAX];

    if (rc == -EINVAL)
        snprintf(why, sizeof(why), "the user name is longer than fleet names may be (%d characters); "
                 "ask the fleet's administrator", CS_FLEET_NAME_MAX);
    else
        cs_format_errno(why, sizeof(why), rc, "this machine has no machine id (%m); an administrator "
                        "must run 'systemd-machine-id-setup'");
    if (strcmp(why, a->report_problem) == 0)
        return;
    snprintf(a->report_problem, sizeof(a->report_problem), "%s", why);
    log_warning("cannot file fleet health reports: %s", why);
}

void report_file(agent *a)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    int64_t now = now_realtime(), every = cs_config_int(a->cfg, "fleet", "report_interval");
    uint8_t pk[CS_FLEET_ESCROW_PK_BYTES];
    cs_storage *st = NULL;
    char key[128];
    cs_report r;
    int rc;

    if (!a->amk || !a->enrolled || every == 0 || !cs_fleet_configured(a->cfg))
        return; /* locked (nothing to sign with), or not in a fleet: nothing is filed */
    rc = make_report(a, now, &r);
    if (rc < 0) {
        report_cannot(a, rc);
        return;
    }
    a->report_problem[0] = '\0';
    if (a->report_class == (int)r.last_error + 1 && a->state.report_last && now - a->state.report_last < every)
        return;
    rc = cs_report_key(r.user, r.host_id, key, sizeof(key));
    if (rc == 0)
        rc = cs_storage_open_config_login(a->cfg, &st);
    if (rc == 0)
        rc = cs_fleet_report_key(a->cfg, st, pk);
    if (rc == -ENOENT)
        goto out; /* the fleet asks for no reports */
    if (rc == 0)
        rc = cs_report_seal(&r, a->amk, pk, &b);
    if (rc == 0)
        rc = cs_storage_put(st, key, b.data, b.len, CS_PUT_REPLACE);
    if (rc < 0) {
        log_info_errno(rc, "cannot file the fleet health report now (%m); the next job tries again");
        goto out;
    }
    a->state.report_sequence = (int64_t)r.sequence;
    a->state.report_last = now;
    a->report_class = (int)r.last_error + 1;
    state_save(a);
    log_info("filed the fleet health report %s (sequence %llu, last error: %s)", key,
             (unsigned long long)r.sequence, cs_report_error_name(r.last_error));
out:
    cs_storage_close(st);
}
