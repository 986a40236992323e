/* SPDX-License-Identifier: MIT */
/* The cloudseal-agent control protocol and the small documents the agent
 * reads: shared by the agent (helper/agent) and its client in the CLI
 * (helper/cli/agent_client.c), and kept here so the fuzz targets reach them.
 *
 * Control socket: $XDG_RUNTIME_DIR/cloudseal/agent.sock (directory 0700,
 * socket 0600, SO_PEERCRED uid must be the agent's).  One request per
 * connection: the client writes one JSON object on one line,
 *   {"cmd":"status"}   {"cmd":"backup-now"}   {"cmd":"sync-now"}
 *   {"cmd":"lock"}     {"cmd":"unlock-notify"}
 *   {"cmd":"pause"}    {"cmd":"pause","seconds":7200}    {"cmd":"resume"}
 * and the agent answers with one JSON object on one line, always with a
 * boolean "ok" (and "error" when false), then closes.  Lines are at most
 * CS_AGENT_LINE_MAX bytes each way.
 *
 * Job progress: a job child (`cloudseal --json backup`, ...) prints JSON
 * objects one per line on stdout; cs_agent_parse_progress() takes what the
 * agent shows from them and ignores the rest.
 *
 * State file: $XDG_STATE_HOME/cloudseal/agent-state.json (the last run of
 * each job), rewritten atomically by the agent.  Every one of these inputs
 * comes from another process or from disk: bounded, validated, never trusted.
 */
#ifndef CS_AGENT_AGENT_PROTO_H
#define CS_AGENT_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define CS_AGENT_LINE_MAX 4096           /* one request or reply line */
#define CS_AGENT_REPLY_MAX (64 * 1024)   /* a status reply may list several jobs */
#define CS_AGENT_STATE_MAX (64 * 1024)   /* the state file */
#define CS_AGENT_SOCKET_DIR "cloudseal"
#define CS_AGENT_SOCKET_NAME "agent.sock"
#define CS_AGENT_MAX_JOBS 4
#define CS_AGENT_NAME_MAX 32
#define CS_AGENT_TEXT_MAX 256

typedef enum cs_agent_cmd {
    CS_AGENT_CMD_STATUS,
    CS_AGENT_CMD_BACKUP_NOW,
    CS_AGENT_CMD_SYNC_NOW,
    CS_AGENT_CMD_LOCK,
    CS_AGENT_CMD_UNLOCK_NOTIFY,
    CS_AGENT_CMD_PAUSE,          /* {"cmd":"pause"} or {"cmd":"pause","seconds":N} */
    CS_AGENT_CMD_RESUME,
} cs_agent_cmd;

#define CS_AGENT_PAUSE_MAX (366LL * 86400) /* longest pause with a duration */

/* Parse one request line (without or with its trailing newline).
 * -EMSGSIZE longer than CS_AGENT_LINE_MAX, -EBADMSG not a JSON object with a
 * string "cmd", -EOPNOTSUPP an unknown command. */
int cs_agent_parse_request(const char *line, size_t len, cs_agent_cmd *out);
/* The same, and the optional "seconds" (-1 when absent; -EBADMSG when not a
 * count up to CS_AGENT_PAUSE_MAX). */
int cs_agent_parse_request_seconds(const char *line, size_t len, cs_agent_cmd *out, int64_t *seconds);
const char *cs_agent_cmd_name(cs_agent_cmd cmd);
/* The request line a client sends (with its newline): {"cmd":CMD} and,
 * when seconds >= 0, "seconds".  CMD is written as a name (util/json.h:
 * any bytes come out as valid JSON).  *out is malloc'd, *len its length.
 * -EMSGSIZE when the line would exceed CS_AGENT_LINE_MAX, -ENOMEM. */
int cs_agent_format_request(const char *cmd, int64_t seconds, char **out, size_t *len);

/* Parse a reply line: a JSON object with a boolean "ok".  *out is a new
 * reference.  -EMSGSIZE, -EBADMSG as above. */
int cs_agent_parse_reply(const char *line, size_t len, json_object **out);

/* "$XDG_RUNTIME_DIR/cloudseal" and ".../agent.sock".  -ENXIO when
 * XDG_RUNTIME_DIR is unset or not absolute, -ENAMETOOLONG when the path does
 * not fit a sockaddr_un. */
int cs_agent_socket_dir(char *buf, size_t len);
int cs_agent_socket_path(char *buf, size_t len);

/* What the agent takes from one progress line of a job. */
typedef struct cs_job_progress {
    int percent;                      /* 0..100, -1 when the line has none */
    int64_t repository_size;          /* bytes, -1 when the line has none */
    int64_t snapshots;                /* how many the repository holds (`stats`), -1 when none */
    char snapshot[CS_AGENT_NAME_MAX * 2 + 1]; /* id of a finished snapshot, "" */
    char error[CS_AGENT_TEXT_MAX];    /* an error message the job reported, "" */
    /* `cloudseal --json agent retention`: {"retention":{...}}, {"prune":{...}} */
    int64_t retention_removed;        /* -1 when the line has none */
    int retention_guard;              /* -1 none, 0/1 the small-snapshot guard held */
    int64_t guard_rescued, newest_bytes, full_bytes;
    int64_t bytes_freed;              /* -1 when the line has no "prune" */
    int64_t repack_left;              /* bytes of packs the repack bound left; -1 when no "prune" */
} cs_job_progress;

/* Recognised fields (others ignored): "percent" (0..100), or "bytes_done"
 * with "bytes_total", "files_done" with "files_total", "bytes" with
 * "total_bytes", "files" with "total_files"; "repository_size",
 * "repo_size" or "stored_bytes"; "snapshots" (a count: `stats`); "snapshot", "snapshot_id" or "id" (hex/alnum id); "error";
 * "retention" (an object: "removed", "guard", "guard_rescued", "newest_bytes",
 * "full_bytes") and "prune" (an object: "bytes_freed", "bytes_repack_left").
 * -EBADMSG when the line is not a JSON object, -EMSGSIZE when too long. */
int cs_agent_parse_progress(const char *line, size_t len, cs_job_progress *p);

/* The last runs of the agent's jobs. */
typedef struct cs_agent_job_state {
    char name[CS_AGENT_NAME_MAX];     /* "backup", "archive-sync" */
    int64_t last_run;                 /* unix time the last run ended, 0 = never */
    int64_t last_success;             /* unix time of the last successful run, 0 = never */
    char last_result[CS_AGENT_NAME_MAX]; /* "ok", "failed", "unreachable", "locked", "interrupted" */
    char last_error[CS_AGENT_TEXT_MAX];
    int failures;                     /* consecutive failed runs */
} cs_agent_job_state;

typedef struct cs_agent_state {
    cs_agent_job_state jobs[CS_AGENT_MAX_JOBS];
    size_t n_jobs;
    int64_t repository_size;          /* bytes, -1 unknown */
    int64_t first_seen;               /* when the agent first ran for this user: overdue counts from it */
    int first_backup_notified;        /* -1 not in the file (an older agent's), else 0/1 */
    int overdue_notified;             /* 0/1: once per overdue streak */
    /* retention (the agent's [retention] policy) */
    int64_t retention_last;           /* unix time of the last run, 0 = never */
    int64_t retention_removed;        /* snapshots it removed */
    int retention_guard;              /* 0/1: the newest snapshot looked suspiciously small */
    int64_t guard_rescued, newest_bytes, full_bytes;
    int64_t last_prune;               /* unix time of the last prune attempt, 0 = never */
    int64_t prune_left;               /* bytes of packs its repack bound left for the next one */
    int64_t paused_until;             /* `cloudseal agent pause`: 0 = not, INT64_MAX = until resume */
    int64_t snapshots;                /* in the repository at the last measurement (0 before one) */
    int64_t report_sequence;          /* of the last fleet health report filed (docs/reports.md) */
    int64_t report_last;              /* when it was filed, 0 = never */
} cs_agent_state;

void cs_agent_state_init(cs_agent_state *st);
/* Find or add the entry for a job name (NULL when the table is full or the
 * name does not fit). */
cs_agent_job_state *cs_agent_state_job(cs_agent_state *st, const char *name);
/* Parse the state file's contents into st (initialised first).  Unknown
 * fields are ignored; wrong types, negative times or overlong strings are
 * -EBADMSG; more than CS_AGENT_STATE_MAX bytes is -EMSGSIZE. */
int cs_agent_state_parse(const char *data, size_t len, cs_agent_state *st);
/* The state as a JSON object (new reference), also used in status replies. */
json_object *cs_agent_state_to_json(const cs_agent_state *st);

#endif
