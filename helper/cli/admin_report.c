/* SPDX-License-Identifier: MIT */
/* cloudseal admin report: whose backups are stale?  Every health report
 * under fleet/reports/ (docs/reports.md) is opened with the fleet's report
 * secret key and checked against the keys the directory source pins; what
 * fails a check is shown as such and never counts as a backup.  Exit 0 when
 * every enabled user has a fresh backup, 1 when anyone is stale or never
 * reported, 5 when some report was refused. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "admin.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "config/config.h"
#include "fleet/report.h"
#include "storage/storage_s3.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/prom.h"
#include "util/secmem.h"

#define MAX_OBJECTS 100000
#define MAX_STALE (10LL * 366 * 86400)
#define SEEN_MAX (16u << 20)

typedef struct row {
    char user[CS_FLEET_NAME_MAX + 1];        /* from the path: "-" when it is not a user name */
    char host_id[CS_REPORT_HOST_ID_HEX + 1]; /* from the path: "-" when it is not an id */
    cs_report_state state;
    cs_report r;                             /* trusted only when state is OK */
    char why[sizeof(((cs_fleet_err *)0)->msg)];
    bool stale;
} row;

typedef struct report_run {
    row *rows;
    size_t n;
    char **keys;
    size_t n_keys;
    int64_t now, stale_after;
} report_run;

static int collect_key(const char *key, const cs_object_stat *st, void *ud)
{
    report_run *run = ud;
    char **v;

    if (run->n_keys >= MAX_OBJECTS)
        return -E2BIG;
    v = realloc(run->keys, (run->n_keys + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    run->keys = v;
    return (run->keys[run->n_keys++] = strdup(key)) ? 0 : -ENOMEM;
}

/* fleet/reports/<user>/<host_id> into the row's path fields. */
static bool split_key(const char *key, row *w)
{
    const char *rest = key + strlen(CS_REPORT_PREFIX), *slash = strchr(rest, '/');
    size_t ulen = slash ? (size_t)(slash - rest) : 0;

    strcpy(w->user, "-");
    strcpy(w->host_id, "-");
    if (!slash || ulen == 0 || ulen > CS_FLEET_NAME_MAX)
        return false;
    memcpy(w->user, rest, ulen);
    w->user[ulen] = '\0';
    if (!cs_user_name_valid(w->user, CS_USER_NAME_FLEET) || !cs_report_host_id_valid(slash + 1)) {
        strcpy(w->user, "-");
        return false;
    }
    strcpy(w->host_id, slash + 1);
    return true;
}

static void check_object(cs_storage *st, const char *key, const uint8_t *sk, const cs_directory *d, row *w,
                         int64_t now)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_fleet_err err = { "" };
    int r;

    w->state = CS_REPORT_INVALID;
    if (!split_key(key, w)) {
        snprintf(w->why, sizeof(w->why), "not a report's name: %.80s", key);
        return;
    }
    r = cs_storage_get(st, key, 0, 0, CS_REPORT_OBJECT_MAX, &b);
    if (r < 0) {
        snprintf(w->why, sizeof(w->why), "%s",
                 r == -EMSGSIZE || r == -E2BIG ? "larger than a report can be" : strerror(-r));
        return;
    }
    w->state = cs_report_check(b.data, b.len, sk, w->user, w->host_id, d, now, &w->r, &err);
    snprintf(w->why, sizeof(w->why), "%s", w->state == CS_REPORT_OK ? "" : err.msg);
}

/* ---- replay: the newest (sequence, time) seen per user and host ---- */

static json_object *seen_load(const char *path)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    json_object *o = NULL;
    int r = path ? cs_read_file(path, SEEN_MAX, &b) : -ENOENT;

    if (r == 0 && cs_json_parse_object((const char *)b.data, b.len, SEEN_MAX, 3, &o, NULL) < 0)
        o = NULL;
    if (r < 0 && r != -ENOENT)
        log_warning("cannot read %s (%s): replayed reports are not recognized in this run", path, strerror(-r));
    if (!o && r == 0)
        log_warning("%s is not what admin report writes: starting it afresh", path);
    return o ? o : json_object_new_object();
}

static int64_t seen_int(json_object *e, size_t i)
{
    json_object *v = json_object_is_type(e, json_type_array) ? json_object_array_get_idx(e, i) : NULL;

    return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
}

static void seen_apply(json_object *seen, row *w)
{
    char name[CS_FLEET_NAME_MAX + CS_REPORT_HOST_ID_HEX + 2], t[32];
    json_object *e, *pair;
    int64_t seq, when;

    if (w->state != CS_REPORT_OK)
        return;
    snprintf(name, sizeof(name), "%s/%s", w->user, w->host_id);
    e = json_object_object_get(seen, name);
    seq = seen_int(e, 0);
    when = seen_int(e, 1);
    if ((int64_t)w->r.sequence < seq && w->r.time < when) {
        w->state = CS_REPORT_REPLAYED;
        snprintf(w->why, sizeof(w->why), "older than the report seen before (sequence %lld of %s): put back",
                 (long long)seq, cs_fleet_time_str(when, t));
        return;
    }
    pair = json_object_new_array_ext(2);
    json_object_array_add(pair, json_object_new_int64((int64_t)w->r.sequence > seq ? (int64_t)w->r.sequence : seq));
    json_object_array_add(pair, json_object_new_int64(w->r.time > when ? w->r.time : when));
    json_object_object_add(seen, name, pair);
}

static void seen_save(const char *path, json_object *seen)
{
    const char *text = json_object_to_json_string_ext(seen, JSON_C_TO_STRING_PRETTY);
    int r = cs_write_file_atomic(path, text, strlen(text), 0600);

    if (r < 0)
        log_warning("cannot write %s (%s): the next run may not recognize replayed reports", path, strerror(-r));
}

/* ---- output ---- */

static const char *age(int64_t now, int64_t t, char *buf, size_t len)
{
    int64_t s = now - t;

    if (t == 0)
        return "never";
    if (s < 0)
        s = 0;
    if (s < 3600)
        snprintf(buf, len, "%lldm ago", (long long)(s / 60));
    else if (s < 86400 * 2)
        snprintf(buf, len, "%lldh ago", (long long)(s / 3600));
    else
        snprintf(buf, len, "%lldd ago", (long long)(s / 86400));
    return buf;
}

static void print_text(const report_run *run, const cs_directory *d, const bool *reported)
{
    char a[32], b[32];

    printf("%-16s %-20s %-12s %-12s %-12s %-14s %9s %12s\n", "USER", "HOST", "STATE", "LAST BACKUP", "LAST SYNC",
           "LAST ERROR", "SNAPSHOTS", "BYTES");
    for (size_t i = 0; i < run->n; i++) {
        const row *w = &run->rows[i];
        if (w->state != CS_REPORT_OK) {
            printf("%-16s %-20.20s %-12s %s\n", w->user, w->host_id, cs_report_state_name(w->state), w->why);
            continue;
        }
        printf("%-16s %-20s %-12s %-12s %-12s %-14s %9llu %12llu\n", w->user, w->r.host,
               w->stale ? "STALE" : "ok", age(run->now, w->r.last_backup, a, sizeof(a)),
               age(run->now, w->r.last_sync, b, sizeof(b)), cs_report_error_name(w->r.last_error),
               (unsigned long long)w->r.snapshots, (unsigned long long)w->r.repo_bytes);
    }
    for (size_t i = 0; i < d->n_users; i++)
        if (!reported[i] && !d->users[i].disabled)
            printf("%-16s %-20s %-12s %s\n", d->users[i].name, "-", "NEVER",
                   d->users[i].has_key ? "enrolled, but no valid report from any host (never unlocked there?)"
                                       : "never enrolled (no key pinned)");
}

static json_object *row_json(const report_run *run, const row *w)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "user", json_object_new_string(w->user));
    json_object_object_add(o, "host_id", json_object_new_string(w->host_id));
    json_object_object_add(o, "state", json_object_new_string(cs_report_state_name(w->state)));
    if (w->state != CS_REPORT_OK) {
        cs_json_add_name(o, "reason", w->why); /* may quote an object's name: any bytes */
        return o;
    }
    json_object_object_add(o, "host", json_object_new_string(w->r.host));
    json_object_object_add(o, "stale", json_object_new_boolean(w->stale));
    json_object_object_add(o, "report_time", json_object_new_int64(w->r.time));
    json_object_object_add(o, "sequence", json_object_new_int64((int64_t)w->r.sequence));
    json_object_object_add(o, "agent_version", json_object_new_string(w->r.agent_version));
    json_object_object_add(o, "last_backup", json_object_new_int64(w->r.last_backup));
    json_object_object_add(o, "last_sync", json_object_new_int64(w->r.last_sync));
    json_object_object_add(o, "last_error", json_object_new_string(cs_report_error_name(w->r.last_error)));
    json_object_object_add(o, "last_error_time", json_object_new_int64(w->r.last_error_time));
    json_object_object_add(o, "snapshots", json_object_new_int64((int64_t)w->r.snapshots));
    json_object_object_add(o, "repo_bytes", json_object_new_int64((int64_t)w->r.repo_bytes));
    return o;
}

static void print_json(const report_run *run, const cs_directory *d, const bool *reported)
{
    json_object *o = json_object_new_object(), *hosts = json_object_new_array(), *never = json_object_new_array();

    json_object_object_add(o, "time", json_object_new_int64(run->now));
    json_object_object_add(o, "stale_after", json_object_new_int64(run->stale_after));
    for (size_t i = 0; i < run->n; i++)
        json_object_array_add(hosts, row_json(run, &run->rows[i]));
    for (size_t i = 0; i < d->n_users; i++) {
        json_object *u;
        if (reported[i] || d->users[i].disabled)
            continue;
        u = json_object_new_object();
        json_object_object_add(u, "user", json_object_new_string(d->users[i].name));
        json_object_object_add(u, "enrolled", json_object_new_boolean(d->users[i].has_key));
        json_object_array_add(never, u);
    }
    json_object_object_add(o, "reports", hosts);
    json_object_object_add(o, "never_reported", never);
    cli_print_json(o, JSON_C_TO_STRING_PRETTY);
}

static void metric(FILE *f, const char *name, const char *help, const report_run *run, int field)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t i = 0; i < run->n; i++) {
        const row *w = &run->rows[i];
        const uint64_t v[] = { (uint64_t)w->r.last_backup, (uint64_t)w->r.last_sync, (uint64_t)w->r.time,
                               w->r.snapshots, w->r.repo_bytes };
        const char *labels[] = { "user", w->user, "host", w->r.host, NULL };
        if (w->state == CS_REPORT_OK)
            cs_prom_sample(f, name, labels, v[field]);
    }
}

/* node_exporter's textfile collector: written whole, then renamed. */
static int write_prometheus(const char *path, const report_run *run)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int r;

    if (!f)
        return -ENOMEM;
    metric(f, "cloudseal_last_backup_timestamp_seconds", "End of the last successful backup (0: never).", run, 0);
    metric(f, "cloudseal_last_sync_timestamp_seconds", "End of the last successful archive sync (0: never).", run,
           1);
    metric(f, "cloudseal_report_timestamp_seconds", "When the host filed its report.", run, 2);
    metric(f, "cloudseal_snapshots", "Snapshots in the user's repository.", run, 3);
    metric(f, "cloudseal_repository_bytes", "Size of the user's repository.", run, 4);
    fprintf(f, "# HELP cloudseal_last_error The class of the last failed job (none after a success).\n"
               "# TYPE cloudseal_last_error gauge\n");
    for (size_t i = 0; i < run->n; i++) {
        const row *w = &run->rows[i];
        const char *labels[] = { "user", w->user, "host", w->r.host, "class", cs_report_error_name(w->r.last_error),
                                 NULL };
        if (w->state == CS_REPORT_OK)
            cs_prom_sample(f, "cloudseal_last_error", labels, 1);
    }
    fprintf(f, "# HELP cloudseal_report_refused A report that failed a check (never trusted).\n"
               "# TYPE cloudseal_report_refused gauge\n");
    for (size_t i = 0; i < run->n; i++) {
        const row *w = &run->rows[i];
        const char *labels[] = { "user", w->user, "host_id", w->host_id, "state", cs_report_state_name(w->state),
                                 NULL };
        if (w->state != CS_REPORT_OK)
            cs_prom_sample(f, "cloudseal_report_refused", labels, 1);
    }
    r = fclose(f) == 0 ? cs_write_file_atomic(path, text, len, 0644) : -EIO;
    free(text);
    return r;
}

/* ---- the command ---- */

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    int c = strcmp(x->user, y->user);

    return c ? c : strcmp(x->host_id, y->host_id);
}

static int gather(report_run *run, const uint8_t *sk, const cs_directory *d, const char *seen_path)
{
    cs_storage *st = NULL;
    json_object *seen;
    int r = cs_storage_open_config(cli_config(), NULL, &st);

    if (r == 0)
        r = cs_storage_list(st, CS_REPORT_PREFIX, collect_key, run);
    if (r == 0 && !(run->rows = calloc(run->n_keys ? run->n_keys : 1, sizeof(row))))
        r = -ENOMEM;
    if (r < 0) {
        cs_storage_close(st);
        return log_error_errno(r, "cannot list %s in storage", CS_REPORT_PREFIX);
    }
    for (size_t i = 0; i < run->n_keys; i++)
        check_object(st, run->keys[i], sk, d, &run->rows[run->n++], run->now);
    cs_storage_close(st);
    qsort(run->rows, run->n, sizeof(row), row_cmp);
    seen = seen_load(seen_path);
    for (size_t i = 0; i < run->n; i++)
        seen_apply(seen, &run->rows[i]);
    if (seen_path)
        seen_save(seen_path, seen);
    json_object_put(seen);
    return 0;
}

/* Mark stale rows and which directory users have a valid report: exit code. */
static int judge(report_run *run, const cs_directory *d, bool *reported)
{
    int rc = CLI_OK;
    bool refused = false;

    for (size_t i = 0; i < run->n; i++) {
        row *w = &run->rows[i];
        if (w->state != CS_REPORT_OK) {
            refused = true;
            continue;
        }
        w->stale = w->r.last_backup == 0 || run->now - w->r.last_backup > run->stale_after;
        if (w->stale)
            rc = CLI_FAILED;
        for (size_t j = 0; j < d->n_users; j++)
            if (strcmp(d->users[j].name, w->user) == 0)
                reported[j] = true;
    }
    for (size_t j = 0; j < d->n_users; j++)
        if (!reported[j] && !d->users[j].disabled)
            rc = CLI_FAILED;
    return refused ? CLI_DATA_ERROR : rc;
}

int admin_report(int argc, char **argv)
{
    static const struct option opts[] = {
        { "report-secret", required_argument, NULL, 'k' }, { "stale", required_argument, NULL, 's' },
        { "prometheus", required_argument, NULL, 'p' },    { "seen", required_argument, NULL, 'S' },
        {}
    };
    _cleanup_directory_ cs_directory *d = NULL;
    const char *secret = NULL, *prom = NULL, *seen = NULL;
    report_run run = { .now = time(NULL), .stale_after = 3 * 86400 };
    _cleanup_free_ bool *reported = NULL;
    uint8_t *sk = NULL;
    int c, r;

    while ((c = cli_getopt(argc, argv, "k:s:jp:S:", opts)) != -1) {
        switch (c) {
        case 'k': secret = optarg; break;
        case 'j': cli.json = true; break; /* -j: --json's short form */
        case 'p': prom = optarg; break;
        case 'S': seen = optarg; break;
        case 's':
            if (cs_parse_duration(optarg, &run.stale_after) < 0 || run.stale_after <= 0 ||
                run.stale_after > MAX_STALE) {
                log_error("--stale wants a duration like 36h or 3d (at most 10 years)");
                return CLI_USAGE;
            }
            break;
        default: return cli_opt_exit(c);
        }
    }
    if (!secret) {
        log_error("give --report-secret FILE: the report secret key 'admin keygen --report' wrote");
        return CLI_USAGE;
    }
    r = admin_load(&d);
    if (r != CLI_OK)
        return r;
    r = cs_fleet_read_secret32(secret, &sk);
    if (r < 0) {
        log_error("cannot read the report secret key %s: %s%s", secret, strerror(-r),
                  r == -EPERM ? " (others may read it: chmod 600)" : "");
        return CLI_FAILED;
    }
    r = gather(&run, sk, d, seen);
    cs_secure_free(sk);
    reported = calloc(d->n_users + 1, sizeof(bool));
    if (r == 0 && !reported)
        r = -ENOMEM;
    if (r == 0) {
        r = judge(&run, d, reported);
        if (cli.json)
            print_json(&run, d, reported);
        else
            print_text(&run, d, reported);
        if (prom && write_prometheus(prom, &run) < 0) {
            log_error("cannot write %s: the previous metrics file, if any, is left as it was", prom);
            r = CLI_FAILED;
        }
    } else {
        r = r == -EHOSTUNREACH || r == -ETIMEDOUT ? CLI_UNAVAILABLE : CLI_FAILED;
    }
    for (size_t i = 0; i < run.n_keys; i++)
        free(run.keys[i]);
    free(run.keys);
    free(run.rows);
    return r;
}
