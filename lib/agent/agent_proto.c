/* SPDX-License-Identifier: MIT */
/* cloudseal-agent control protocol, job progress lines and state file. */
#include "agent/agent_proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/log.h"

static const char *const cmd_names[] = {
    [CS_AGENT_CMD_STATUS] = "status",
    [CS_AGENT_CMD_BACKUP_NOW] = "backup-now",
    [CS_AGENT_CMD_SYNC_NOW] = "sync-now",
    [CS_AGENT_CMD_LOCK] = "lock",
    [CS_AGENT_CMD_UNLOCK_NOTIFY] = "unlock-notify",
    [CS_AGENT_CMD_PAUSE] = "pause",
    [CS_AGENT_CMD_RESUME] = "resume",
};

static bool get_count(json_object *obj, const char *key, int64_t *out);

const char *cs_agent_cmd_name(cs_agent_cmd cmd)
{
    if ((size_t)cmd >= sizeof(cmd_names) / sizeof(cmd_names[0]))
        return "unknown";
    return cmd_names[cmd];
}

int cs_agent_format_request(const char *cmd, int64_t seconds, char **out, size_t *len)
{
    _cleanup_json_ json_object *o = json_object_new_object();
    json_object *secs = NULL;
    const char *s;
    size_t n;

    *out = NULL;
    if (!o || cs_json_add_name(o, "cmd", cmd) < 0)
        return -ENOMEM;
    if (seconds >= 0 && (!(secs = json_object_new_int64(seconds)) || json_object_object_add(o, "seconds", secs) < 0)) {
        json_object_put(secs);
        return -ENOMEM;
    }
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (!s)
        return -ENOMEM;
    n = strlen(s);
    if (n + 1 > CS_AGENT_LINE_MAX)
        return -EMSGSIZE;
    if (asprintf(out, "%s\n", s) < 0) {
        *out = NULL;
        return -ENOMEM;
    }
    *len = n + 1;
    return 0;
}

/* Exactly one JSON object (cs_json_parse_object): -EMSGSIZE past max,
 * as the protocol says, -EBADMSG for anything else. */
static int parse_object(const char *data, size_t len, size_t max, json_object **out)
{
    int r = cs_json_parse_object(data, len, max, 16, out, NULL);

    return r == -E2BIG ? -EMSGSIZE : r;
}

typedef struct request {
    char cmd[CS_AGENT_LINE_MAX];
    int64_t seconds;
} request;

/* Other members are ignored: a newer CLI may send more. */
static const cs_json_field request_fields[] = {
    CS_JSON_STRBUF("cmd", request, cmd, CS_JSON_MANDATORY),
    CS_JSON_I64("seconds", request, seconds, 0, CS_AGENT_PAUSE_MAX, 0),
    {},
};

int cs_agent_parse_request(const char *line, size_t len, cs_agent_cmd *out)
{
    int64_t seconds;

    return cs_agent_parse_request_seconds(line, len, out, &seconds);
}

int cs_agent_parse_request_seconds(const char *line, size_t len, cs_agent_cmd *out, int64_t *seconds)
{
    _cleanup_json_ json_object *obj = NULL;
    request req = { .seconds = -1 };
    int r = parse_object(line, len, CS_AGENT_LINE_MAX, &obj);

    *seconds = -1;
    if (r < 0 || (r = cs_json_dispatch(obj, request_fields, 0, &req, NULL)) < 0)
        return r;
    for (size_t i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
        if (strcmp(req.cmd, cmd_names[i]) == 0) {
            *out = (cs_agent_cmd)i;
            *seconds = req.seconds;
            return 0;
        }
    return -EOPNOTSUPP;
}

int cs_agent_parse_reply(const char *line, size_t len, json_object **out)
{
    json_object *obj, *ok;
    int r;

    *out = NULL;
    r = parse_object(line, len, CS_AGENT_REPLY_MAX, &obj);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(obj, "ok", &ok) || !json_object_is_type(ok, json_type_boolean)) {
        json_object_put(obj);
        return -EBADMSG;
    }
    *out = obj;
    return 0;
}

int cs_agent_socket_dir(char *buf, size_t len)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    int n;

    if (!rt || rt[0] != '/')
        return -ENXIO;
    n = snprintf(buf, len, "%s/%s", rt, CS_AGENT_SOCKET_DIR);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

int cs_agent_socket_path(char *buf, size_t len)
{
    char dir[256];
    int r, n;

    /* sun_path is 108 bytes: refuse early rather than truncate */
    r = cs_agent_socket_dir(dir, sizeof(dir));
    if (r < 0)
        return r;
    n = snprintf(buf, len, "%s/%s", dir, CS_AGENT_SOCKET_NAME);
    if (n < 0 || (size_t)n >= len || n >= 108)
        return -ENAMETOOLONG;
    return 0;
}

/* Copy a JSON string field into a fixed buffer; false when absent, not a
 * string or too long (never truncated silently: a cut-off id is a wrong id). */
static bool get_string(json_object *obj, const char *key, char *dst, size_t dstlen)
{
    json_object *v;
    const char *s;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return false;
    s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) >= dstlen || strlen(s) != (size_t)json_object_get_string_len(v))
        return false;
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

/* A non-negative integer field; false when absent or of another type. */
static bool get_count(json_object *obj, const char *key, int64_t *out)
{
    json_object *v;
    int64_t x;

    if (!json_object_object_get_ex(obj, key, &v))
        return false;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        x = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!(d >= 0 && d < 9.0e18))
            return false;
        x = (int64_t)d;
    } else {
        return false;
    }
    if (x < 0)
        return false;
    *out = x;
    return true;
}

static int ratio_percent(int64_t done, int64_t total)
{
    if (total <= 0)
        return -1;
    if (done >= total)
        return 100;
    /* done < total <= INT64_MAX: (done / total) * 100 without overflow */
    return (int)((double)done * 100.0 / (double)total);
}

static bool id_chars_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-'))
            return false;
    return true;
}

/* A boolean field as 0/1; -1 when absent or of another type. */
static int get_flag(json_object *obj, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_boolean))
        return -1;
    return json_object_get_boolean(v) ? 1 : 0;
}

/* {"retention":{...}} and {"prune":{...}} of `agent retention`. */
static void parse_retention(json_object *obj, cs_job_progress *p)
{
    json_object *r;

    if (json_object_object_get_ex(obj, "retention", &r) && json_object_is_type(r, json_type_object) &&
        get_count(r, "removed", &p->retention_removed)) {
        p->retention_guard = get_flag(r, "guard") == 1;
        if (!get_count(r, "guard_rescued", &p->guard_rescued))
            p->guard_rescued = 0;
        if (!get_count(r, "newest_bytes", &p->newest_bytes))
            p->newest_bytes = 0;
        if (!get_count(r, "full_bytes", &p->full_bytes))
            p->full_bytes = 0;
    }
    if (json_object_object_get_ex(obj, "prune", &r) && json_object_is_type(r, json_type_object) &&
        get_count(r, "bytes_freed", &p->bytes_freed) && !get_count(r, "bytes_repack_left", &p->repack_left))
        p->repack_left = 0; /* a prune without a bound, or an older one */
}

int cs_agent_parse_progress(const char *line, size_t len, cs_job_progress *p)
{
    json_object *obj;
    int64_t a, b;
    int r;

    p->percent = -1;
    p->repository_size = -1;
    p->snapshots = -1;
    p->snapshot[0] = '\0';
    p->error[0] = '\0';
    p->retention_removed = -1;
    p->retention_guard = -1;
    p->guard_rescued = p->newest_bytes = p->full_bytes = 0;
    p->bytes_freed = p->repack_left = -1;
    r = parse_object(line, len, CS_AGENT_LINE_MAX, &obj);
    if (r < 0)
        return r;
    if (get_count(obj, "percent", &a))
        p->percent = a > 100 ? 100 : (int)a;
    else if (get_count(obj, "bytes_done", &a) && get_count(obj, "bytes_total", &b))
        p->percent = ratio_percent(a, b);
    else if (get_count(obj, "files_done", &a) && get_count(obj, "files_total", &b))
        p->percent = ratio_percent(a, b);
    else if (get_count(obj, "bytes", &a) && get_count(obj, "total_bytes", &b)) /* cs_progress names */
        p->percent = ratio_percent(a, b);
    else if (get_count(obj, "files", &a) && get_count(obj, "total_files", &b))
        p->percent = ratio_percent(a, b);
    if (get_count(obj, "repository_size", &a) || get_count(obj, "repo_size", &a) ||
        get_count(obj, "stored_bytes", &a) /* `cloudseal --json stats` */)
        p->repository_size = a;
    if (get_count(obj, "snapshots", &a))
        p->snapshots = a;
    if ((get_string(obj, "snapshot", p->snapshot, sizeof(p->snapshot)) ||
         get_string(obj, "snapshot_id", p->snapshot, sizeof(p->snapshot)) ||
         get_string(obj, "id", p->snapshot, sizeof(p->snapshot))) && /* `backup --json` prints the snapshot */
        !id_chars_ok(p->snapshot))
        p->snapshot[0] = '\0';
    if (!get_string(obj, "error", p->error, sizeof(p->error)))
        p->error[0] = '\0';
    parse_retention(obj, p);
    json_object_put(obj);
    return 0;
}

void cs_agent_state_init(cs_agent_state *st)
{
    memset(st, 0, sizeof(*st));
    st->repository_size = -1;
    st->first_backup_notified = -1;
}

cs_agent_job_state *cs_agent_state_job(cs_agent_state *st, const char *name)
{
    for (size_t i = 0; i < st->n_jobs; i++)
        if (strcmp(st->jobs[i].name, name) == 0)
            return &st->jobs[i];
    if (st->n_jobs >= CS_AGENT_MAX_JOBS || strlen(name) >= CS_AGENT_NAME_MAX)
        return NULL;
    cs_agent_job_state *j = &st->jobs[st->n_jobs++];
    memset(j, 0, sizeof(*j));
    memcpy(j->name, name, strlen(name) + 1);
    return j;
}

/* Unknown members are ignored everywhere in the state: an older agent
 * reads a newer one's file. */
static const cs_json_field job_fields[] = {
    CS_JSON_I64("last_run", cs_agent_job_state, last_run, 0, INT64_MAX, 0),
    CS_JSON_I64("last_success", cs_agent_job_state, last_success, 0, INT64_MAX, 0),
    CS_JSON_INT("failures", cs_agent_job_state, failures, 0, 1000000, 0),
    CS_JSON_STRBUF("last_result", cs_agent_job_state, last_result, 0),
    CS_JSON_STRBUF("last_error", cs_agent_job_state, last_error, 0),
    {},
};

static int parse_jobs(const cs_json_field *f, json_object *jobs, void *base, cs_json_error *err)
{
    int r;

    json_object_object_foreach(jobs, name, val) {
        cs_agent_job_state *j = cs_agent_state_job(base, name);

        if (!j)
            continue; /* more jobs than we know, or an absurd name: ignore */
        if (!json_object_is_type(val, json_type_object))
            return cs_json_fail(err, "field '%s' has job '%.32s' not an object", f->name, name);
        if ((r = cs_json_dispatch(val, job_fields, 0, j, err)) < 0)
            return r;
    }
    return 0;
}

#define COUNT(m) CS_JSON_I64(#m, cs_agent_state, m, 0, INT64_MAX, 0)
static const cs_json_field state_fields[] = {
    COUNT(repository_size), COUNT(first_seen), COUNT(retention_last), COUNT(retention_removed),
    COUNT(guard_rescued), COUNT(newest_bytes), COUNT(full_bytes), COUNT(last_prune), COUNT(prune_left),
    COUNT(paused_until), COUNT(snapshots), COUNT(report_sequence), COUNT(report_last),
    CS_JSON_OBJECT("jobs", parse_jobs, 0),
    {},
};
#undef COUNT

/* The flags are ints in cs_agent_state (first_backup_notified -1 when an
 * older agent's file lacks it): read as bools, then copied. */
typedef struct state_flags {
    bool first_backup_notified, overdue_notified, retention_guard;
} state_flags;

static const cs_json_field flag_fields[] = {
    CS_JSON_BOOL("first_backup_notified", state_flags, first_backup_notified, 0),
    CS_JSON_BOOL("overdue_notified", state_flags, overdue_notified, 0),
    CS_JSON_BOOL("retention_guard", state_flags, retention_guard, 0),
    {},
};

int cs_agent_state_parse(const char *data, size_t len, cs_agent_state *st)
{
    _cleanup_json_ json_object *obj = NULL;
    cs_json_error err = { "" };
    state_flags fl = { 0 };
    int r;

    cs_agent_state_init(st);
    r = parse_object(data, len, CS_AGENT_STATE_MAX, &obj);
    if (r < 0)
        return r;
    r = cs_json_dispatch(obj, state_fields, 0, st, &err);
    if (r == 0)
        r = cs_json_dispatch(obj, flag_fields, 0, &fl, &err);
    if (r < 0) {
        if (r == -EBADMSG)
            log_warning("agent state: %s", err.msg);
        cs_agent_state_init(st);
        return r;
    }
    if (json_object_object_get_ex(obj, "first_backup_notified", NULL))
        st->first_backup_notified = fl.first_backup_notified;
    st->overdue_notified = fl.overdue_notified;
    st->retention_guard = fl.retention_guard;
    return 0;
}

json_object *cs_agent_state_to_json(const cs_agent_state *st)
{
    json_object *root = json_object_new_object(), *jobs = json_object_new_object();

    for (size_t i = 0; i < st->n_jobs; i++) {
        const cs_agent_job_state *j = &st->jobs[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "last_run", json_object_new_int64(j->last_run));
        json_object_object_add(o, "last_success", json_object_new_int64(j->last_success));
        json_object_object_add(o, "last_result", json_object_new_string(j->last_result));
        json_object_object_add(o, "last_error", json_object_new_string(j->last_error));
        json_object_object_add(o, "failures", json_object_new_int(j->failures));
        json_object_object_add(jobs, j->name, o);
    }
    json_object_object_add(root, "version", json_object_new_int(1));
    if (st->repository_size >= 0) /* absent = unknown, so the file always parses back */
        json_object_object_add(root, "repository_size", json_object_new_int64(st->repository_size));
    json_object_object_add(root, "jobs", jobs);
    json_object_object_add(root, "first_seen", json_object_new_int64(st->first_seen));
    if (st->first_backup_notified >= 0)
        json_object_object_add(root, "first_backup_notified", json_object_new_boolean(st->first_backup_notified));
    json_object_object_add(root, "overdue_notified", json_object_new_boolean(st->overdue_notified));
    json_object_object_add(root, "retention_last", json_object_new_int64(st->retention_last));
    json_object_object_add(root, "retention_removed", json_object_new_int64(st->retention_removed));
    json_object_object_add(root, "retention_guard", json_object_new_boolean(st->retention_guard));
    json_object_object_add(root, "guard_rescued", json_object_new_int64(st->guard_rescued));
    json_object_object_add(root, "newest_bytes", json_object_new_int64(st->newest_bytes));
    json_object_object_add(root, "full_bytes", json_object_new_int64(st->full_bytes));
    json_object_object_add(root, "last_prune", json_object_new_int64(st->last_prune));
    json_object_object_add(root, "prune_left", json_object_new_int64(st->prune_left));
    json_object_object_add(root, "paused_until", json_object_new_int64(st->paused_until));
    json_object_object_add(root, "snapshots", json_object_new_int64(st->snapshots));
    json_object_object_add(root, "report_sequence", json_object_new_int64(st->report_sequence));
    json_object_object_add(root, "report_last", json_object_new_int64(st->report_last));
    return root;
}
