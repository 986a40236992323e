/* SPDX-License-Identifier: MIT */
/* cloudseal status [--json]: enrolled? unlocked? which account, which
 * keybag generation; then each further part's section (the agent's from
 * agent_client.c).  To add a section, write a function of the
 * status_section type and list it in sections[] below. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>

#include "agent_client.h"
#include "agent/agent_proto.h"
#include "util/fileio.h"
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keybag.h"
#include "crypto/keyring.h"
#include "fleet/fleet.h"
#include "util/json.h"
#include "util/log.h"
#include "basic/dircache.h"

/* A section prints its lines to f, or with json adds its members to obj. */
typedef void (*status_section)(FILE *f, bool json, json_object *obj);

/* keys_section found the keys unlocked and storage answering: the
 * repository can be asked without a password and without a long wait. */
static bool repo_reachable;

/* Why the cached keybag is shown instead of storage's copy. */
static const char *storage_state(int storage_err)
{
    switch (storage_err) {
    case 0: return "refused"; /* parsed, but older than seen here or not this account's */
    case -ENOENT: return "missing";
    case -EBADMSG: case -E2BIG: case -EPROTONOSUPPORT: return "damaged";
    default: return "unreachable";
    }
}

static const char *storage_text(int storage_err)
{
    switch (storage_err) {
    case 0: return "its copy was refused (older than one seen here, or another account's); "
                   "'cloudseal repair keybag' puts yours back";
    case -ENOENT: return "no keybag there ('cloudseal repair keybag' uploads yours again)";
    case -EBADMSG: case -E2BIG: case -EPROTONOSUPPORT:
        return "its copy is damaged or out of bounds; run 'cloudseal repair keybag'";
    default: return "unreachable";
    }
}

static void keys_section(FILE *f, bool json, json_object *obj)
{
    const char *user = cli_user();
    cs_keybag *kb = NULL;
    cs_amk *amk = NULL;
    bool from_cache = false, unlocked = false, verified = false;
    int storage_err = 0;
    /* status must be quick: the login timeout, then the cache */
    int r = cs_account_load_keybag_why(cli_config(), user, CS_UNLOCK_LOGIN, &kb, &from_cache, &storage_err);

    if (r == 0 && cs_keyring_load(cs_keybag_account_id(kb), &amk) == 0) {
        unlocked = true;
        repo_reachable = !from_cache;
        /* with the key at hand the copy shown can be checked, not just parsed */
        verified = cs_keybag_verify(kb, amk) == 0;
        cs_amk_free(amk);
    }
    if (json) {
        cs_json_add_name(obj, "user", user); /* NSS's: any bytes */
        cli_json_add(obj, "enrolled", json_object_new_boolean(r == 0));
        cli_json_add(obj, "unlocked", json_object_new_boolean(unlocked));
        if (r == 0) {
            cli_json_add(obj, "account_id", json_object_new_string(cs_keybag_account_id(kb)));
            cli_json_add(obj, "generation", json_object_new_int64((int64_t)cs_keybag_generation(kb)));
            cli_json_add(obj, "keybag_source", json_object_new_string(from_cache ? "cache" : "storage"));
            if (from_cache)
                cli_json_add(obj, "storage_keybag", json_object_new_string(storage_state(storage_err)));
            if (unlocked)
                cli_json_add(obj, "keybag_verified", json_object_new_boolean(verified));
        } else if (r != -ENOENT) {
            cli_json_add(obj, "keybag_error", json_object_new_string(strerror(-r)));
        }
    } else {
        fprintf(f, "User:         %s\n", user);
        if (r == -ENOENT)
            fprintf(f, "Enrolled:     no (run 'cloudseal enroll')\n");
        else if (r < 0)
            fprintf(f, "Enrolled:     unknown: keybag unreadable (%s); see 'cloudseal keybag dump'\n",
                    strerror(-r));
        else {
            fprintf(f, "Enrolled:     yes\n");
            fprintf(f, "Unlocked:     %s\n",
                    unlocked ? "yes" : "no (locked: run 'cloudseal unlock', or log in with your password)");
            fprintf(f, "Account id:   %s\n", cs_keybag_account_id(kb));
            fprintf(f, "Keybag:       generation %" PRIu64 " (from %s%s)\n", cs_keybag_generation(kb),
                    from_cache ? "the local cache; storage: " : "storage",
                    from_cache ? storage_text(storage_err) : "");
            if (unlocked && !verified)
                fprintf(f, "Warning:      this keybag does not verify with your key (tampered with?): "
                           "run 'cloudseal repair keybag'\n");
        }
    }
    cs_keybag_free(kb);
}

/* Administrators of this workstation: root, or a member of a group Debian
 * and its relatives give administration (sudo, adm, wheel). */
static bool is_admin(void)
{
    static const char *const groups[] = { "sudo", "adm", "wheel" };
    gid_t list[256];
    int n = getgroups(256, list);

    if (getuid() == 0)
        return true;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        struct group *gr = getgrnam(groups[g]);

        for (int i = 0; gr && i < n; i++)
            if (list[i] == gr->gr_gid)
                return true;
    }
    return false;
}

/* For administrators: the installed fleet directory, and loudly, a sync
 * that was refused (sync_status.c), before the cache expires and fleet
 * logins stop.  Nothing on a workstation outside any fleet. */
static void fleet_section(FILE *f, bool json, json_object *obj)
{
    const cs_config *cfg = cli_config();
    cs_fleet_sync_status st;
    char line[CS_FLEET_REASON_MAX + 160], when[32];
    json_object *o;
    cs_dircache dc;
    bool have_cache;

    if (!is_admin())
        return;
    have_cache = cs_dircache_map(cs_config_str(cfg, "fleet", "cache"), &dc, NULL) == 0;
    if (cs_fleet_sync_status_read(cfg, &st) < 0)
        st.failed_at = 0;
    if (!have_cache && !st.failed_at)
        return;
    if (json) {
        o = json_object_new_object();
        cli_json_add(o, "installed", json_object_new_boolean(have_cache));
        if (have_cache) {
            cli_json_add(o, "serial", json_object_new_int64((int64_t)dc.h->serial));
            cli_json_add(o, "expires", json_object_new_int64(dc.h->expires));
        }
        json_object_object_add(o, "last_sync_failure", cs_fleet_sync_failure_json(&st));
        cli_json_add(obj, "fleet_directory", o);
    } else {
        if (have_cache)
            fprintf(f, "Directory:    serial %llu, expires %s\n", (unsigned long long)dc.h->serial,
                    cs_fleet_time_str(dc.h->expires, when));
        if (cs_fleet_sync_warning(cfg, &st, line, sizeof(line)))
            fprintf(f, "Warning:      %s; see 'journalctl -u cloudseal-directory.service'\n", line);
    }
    if (have_cache)
        cs_dircache_unmap(&dc);
}

/* The user manager's view of the agent: restarting after each crash
 * ("activating", "auto-restart") or given up ("failed").  Its socket, held
 * by systemd, would then accept a request nobody ever answers: status says
 * so at once instead of waiting for the timeout.  No user manager: false. */
static bool agent_unit_failing(char *sub, size_t n)
{
    static const char path[] = "/org/freedesktop/systemd1/unit/cloudseal_2dagent_2eservice";
    sd_bus_error err = SD_BUS_ERROR_NULL;
    char *active = NULL, *substate = NULL;
    bool failing = false;
    sd_bus *bus = NULL;

    if (sd_bus_open_user(&bus) < 0)
        return false;
    sd_bus_set_method_call_timeout(bus, 2 * 1000 * 1000);
    if (sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                   "ActiveState", &err, &active) >= 0 &&
        sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                   "SubState", &err, &substate) >= 0) {
        failing = strcmp(active, "failed") == 0 ||
                  (strcmp(active, "activating") == 0 && strcmp(substate, "auto-restart") == 0);
        snprintf(sub, n, "%s", substate);
    }
    sd_bus_error_free(&err);
    free(active);
    free(substate);
    sd_bus_flush_close_unref(bus);
    return failing;
}

/* The agent's last error: the newest error line it logged (a crash at
 * start, e.g. a configuration error), else the last job error its state
 * file remembers ($XDG_STATE_HOME/cloudseal/agent-state.json). */
static bool agent_last_error(char *buf, size_t n)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    sd_journal *j = NULL;
    cs_agent_state st;
    cs_buf b = CS_BUF_INIT;
    char path[4096];
    bool found = false;

    if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_CURRENT_USER) >= 0) {
        sd_journal_add_match(j, "_SYSTEMD_USER_UNIT=cloudseal-agent.service", 0);
        sd_journal_seek_tail(j);
        for (int i = 0; i < 100 && !found && sd_journal_previous(j) > 0; i++) {
            const void *d;
            size_t l;
            if (sd_journal_get_data(j, "PRIORITY", &d, &l) >= 0 && l == 10 && ((const char *)d)[9] <= '3' &&
                sd_journal_get_data(j, "MESSAGE", &d, &l) >= 0 && l > 8) {
                snprintf(buf, n, "%.*s", (int)(l - 8), (const char *)d + 8);
                found = true;
            }
        }
        sd_journal_close(j);
    }
    if (found)
        return true;
    if (xdg && xdg[0] == '/')
        snprintf(path, sizeof(path), "%s/cloudseal/agent-state.json", xdg);
    else if (home && home[0] == '/')
        snprintf(path, sizeof(path), "%s/.local/state/cloudseal/agent-state.json", home);
    else
        return false;
    if (cs_read_file(path, CS_AGENT_STATE_MAX, &b) == 0 &&
        cs_agent_state_parse((const char *)b.data, b.len, &st) == 0)
        for (size_t i = 0; i < st.n_jobs && !found; i++)
            if (st.jobs[i].last_error[0]) {
                snprintf(buf, n, "%s: %s", st.jobs[i].name, st.jobs[i].last_error);
                found = true;
            }
    cs_buf_free(&b);
    return found;
}

static void agent_section(FILE *f, bool json, json_object *obj)
{
    char sub[64] = "", why[1024] = "";

    if (!agent_unit_failing(sub, sizeof(sub))) {
        (void)agent_status_report(f, json, obj);
        return;
    }
    agent_last_error(why, sizeof(why));
    if (json) {
        json_object *o = json_object_new_object();
        cli_json_add(o, "running", json_object_new_boolean(0));
        cli_json_add(o, "failing", json_object_new_boolean(1));
        cli_json_add(o, "unit_state", json_object_new_string(sub));
        if (why[0]) /* the journal's or the state file's, cut to fit: any bytes */
            cs_json_add_name(o, "last_error", why);
        cli_json_add(obj, "agent", o);
        return;
    }
    fprintf(f, "Agent:        failing: it exits at once and systemd %s\n",
            strcmp(sub, "auto-restart") == 0 ? "keeps restarting it" : "gave up restarting it");
    if (why[0])
        fprintf(f, "Agent error:  %s\n", why);
    fprintf(f, "              fix that, then: systemctl --user restart cloudseal-agent "
               "(more: journalctl --user -u cloudseal-agent)\n");
}

/* The newest snapshot, whoever made it: the agent's "Last backup" counts
 * only its own runs, and a backup by hand is as good. */
static void snapshot_section(FILE *f, bool json, json_object *obj)
{
    cs_snapshot *v = NULL;
    size_t n = 0;
    repo_cli rc;
    int r;

    if (!repo_reachable)
        return;
    cs_log_setup("cloudseal", LOG_CRIT); /* a section of status, not a failing command: no error lines */
    r = repo_cli_open(&rc);
    if (r == CLI_OK) {
        r = cs_snapshot_list(rc.repo, &v, &n, NULL) < 0 ? CLI_FAILED : CLI_OK;
        repo_cli_close(&rc);
    }
    cs_log_setup("cloudseal", cli.debug ? LOG_DEBUG : cli.quiet ? LOG_WARNING : LOG_INFO);
    if (r != CLI_OK)
        return;
    if (json) {
        if (n)
            cli_json_add(obj, "newest_snapshot", repo_cli_snapshot_json(&v[n - 1]));
        else
            json_object_object_add(obj, "newest_snapshot", NULL);
    } else if (n == 0) {
        fprintf(f, "Snapshots:    none yet\n");
    } else {
        char hex[65], tb[32];
        time_t t = (time_t)v[n - 1].time_sec;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M", &tm);
        cs_id_hex(&v[n - 1].id, hex);
        fprintf(f, "Newest snapshot: %s (%.8s from %s; %zu in all)\n", tb, hex, v[n - 1].host, n);
    }
    cs_snapshots_free(v, n);
}

static const status_section sections[] = {
    keys_section,
    fleet_section,
    agent_section,
    snapshot_section,
};

int cmd_status(int argc, char **argv)
{
    bool json;
    json_object *obj;
    int c;

    if ((c = cli_getopt(argc, argv, "", NULL)) != -1)
        return cli_opt_exit(c);
    json = cli.json;
    obj = json ? json_object_new_object() : NULL;
    if (json && !obj) /* the sections add to it */
        return cli_print_json(NULL, 0);
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        sections[i](stdout, json, obj);
    return json ? cli_print_json(obj, JSON_C_TO_STRING_PRETTY) : CLI_OK;
}
