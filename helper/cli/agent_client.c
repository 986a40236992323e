/* SPDX-License-Identifier: MIT */
/* Client side of the cloudseal-agent control socket. */
#include "agent_client.h"
#include "cli_json.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_proto.h"
#include "util/buf.h"
#include "util/macros.h"

#define AGENT_TIMEOUT_MS 5000

/* Read until the newline that ends the reply, within the limit and time. */
static int read_reply(int fd, cs_buf *b)
{
    char tmp[4096];
    struct pollfd p = { .fd = fd, .events = POLLIN };

    for (;;) {
        int r = poll(&p, 1, AGENT_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ETIMEDOUT;
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return b->len ? 0 : -ECONNRESET; /* closed without a reply: refused */
        r = cs_buf_append(b, tmp, (size_t)n);
        if (r < 0)
            return r;
        if (memchr(tmp, '\n', (size_t)n))
            return 0;
    }
}

int agent_request(const char *cmd, json_object **reply)
{
    return agent_request_seconds(cmd, -1, reply);
}

int agent_request_seconds(const char *cmd, int64_t seconds, json_object **reply)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    _cleanup_close_ int fd = -1;
    cs_buf b = CS_BUF_INIT;
    _cleanup_free_ char *line = NULL;
    size_t n;
    int r;

    *reply = NULL;
    r = cs_agent_socket_path(sa.sun_path, sizeof(sa.sun_path));
    if (r < 0)
        return r;
    r = cs_agent_format_request(cmd, seconds, &line, &n);
    if (r < 0)
        return r;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    if (send(fd, line, n, MSG_NOSIGNAL) != (ssize_t)n)
        return -errno;
    b.limit = CS_AGENT_REPLY_MAX + 1;
    r = read_reply(fd, &b);
    if (r == 0) {
        const char *nl = memchr(b.data, '\n', b.len);
        r = cs_agent_parse_reply((const char *)b.data, nl ? (size_t)(nl - (const char *)b.data) : b.len, reply);
    }
    /* another process's strings (paths, errors): valid UTF-8 before any
     * of them is shown or passed on in --json */
    if (r == 0 && (r = cli_json_utf8(*reply)) < 0) {
        json_object_put(*reply);
        *reply = NULL;
    }
    cs_buf_free(&b);
    return r;
}

static const char *human_size(int64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double)bytes;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

static const char *when(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0)
        return "never";
    localtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

static int64_t get_i64(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)
               ? json_object_get_int64(v) : 0;
}

static const char *get_str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : "";
}

static void print_job(FILE *f, json_object *job)
{
    json_object *en;
    const char *name = get_str(job, "name");
    char b1[32], b2[32];

    if (!json_object_object_get_ex(job, "enabled", &en) || !json_object_get_boolean(en))
        return;
    fprintf(f, "Last %-8s %s%s%s%s\n", strcmp(name, "backup") == 0 ? "backup:" : "sync:",
            when(get_i64(job, "last_run"), b1, sizeof(b1)),
            get_str(job, "last_result")[0] ? " (" : "", get_str(job, "last_result"),
            get_str(job, "last_result")[0] ? ")" : "");
    if (get_i64(job, "last_success") && get_i64(job, "last_success") != get_i64(job, "last_run"))
        fprintf(f, "Last success: %s\n", when(get_i64(job, "last_success"), b1, sizeof(b1)));
    if (get_i64(job, "next_run"))
        fprintf(f, "Next %-8s %s\n", strcmp(name, "backup") == 0 ? "backup:" : "sync:",
                when(get_i64(job, "next_run"), b2, sizeof(b2)));
    if (get_str(job, "last_error")[0])
        fprintf(f, "Last error:   %s\n", get_str(job, "last_error"));
}

/* "Retention:    hourly 24, daily 30, weekly 52, monthly 1200; last run ...",
 * and the small-snapshot guard's warning while it holds. */
static void print_retention(FILE *f, json_object *reply)
{
    static const char *const keys[] = { "last", "hourly", "daily", "weekly", "monthly", "yearly" };
    json_object *r, *v;
    char b1[32], b2[32], k[32];
    const char *sep = "";

    if (!json_object_object_get_ex(reply, "retention", &r) || !json_object_is_type(r, json_type_object))
        return;
    if (!json_object_object_get_ex(r, "enabled", &v) || !json_object_get_boolean(v)) {
        fprintf(f, "Retention:    off: snapshots are kept until you run 'cloudseal forget'\n");
        return;
    }
    fprintf(f, "Retention:    keep ");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(k, sizeof(k), "keep_%s", keys[i]);
        if (get_i64(r, k) > 0) {
            fprintf(f, "%s%s %lld", sep, keys[i], (long long)get_i64(r, k));
            sep = ", ";
        }
    }
    fprintf(f, "; last applied %s (%lld removed), last prune %s", when(get_i64(r, "last_run"), b1, sizeof(b1)),
            (long long)get_i64(r, "removed"), when(get_i64(r, "last_prune"), b2, sizeof(b2)));
    if (get_i64(r, "prune_left") > 0)
        fprintf(f, " (%s left for the next one)", human_size(get_i64(r, "prune_left"), b1, sizeof(b1)));
    fprintf(f, "\n");
    if (json_object_object_get_ex(r, "guard", &v) && json_object_get_boolean(v))
        fprintf(f, "Warning:      the newest snapshot covers only %s, earlier ones %s: the last full\n"
                   "              snapshots are kept. Check that everything to back up is there (a disk\n"
                   "              not mounted? a folder moved?)\n",
                human_size(get_i64(r, "newest_bytes"), b1, sizeof(b1)),
                human_size(get_i64(r, "full_bytes"), b2, sizeof(b2)));
}

int agent_status_report(FILE *f, bool json, json_object *obj)
{
    json_object *reply = NULL, *jobs, *size;
    char b[32];
    int r = agent_request("status", &reply);

    if (r < 0) {
        if (json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "running", json_object_new_boolean(0));
            json_object_object_add(o, "error", json_object_new_string(strerror(-r)));
            json_object_object_add(obj, "agent", o);
        } else if (r == -ENOENT || r == -ECONNREFUSED || r == -ENXIO) {
            fprintf(f, "Agent:        not running (start it: systemctl --user start cloudseal-agent)\n");
        } else {
            fprintf(f, "Agent:        not answering (%s); see: journalctl --user -u cloudseal-agent\n",
                    strerror(-r));
        }
        return r;
    }
    if (json) {
        json_object_object_add(reply, "running", json_object_new_boolean(1));
        json_object_object_add(obj, "agent", reply);
        return 0;
    }
    fprintf(f, "Agent:        running (pid %lld), %s\n", (long long)get_i64(reply, "pid"),
            get_str(reply, "status"));
    if (json_object_object_get_ex(reply, "jobs", &jobs) && json_object_is_type(jobs, json_type_array))
        for (size_t i = 0; i < json_object_array_length(jobs); i++)
            print_job(f, json_object_array_get_idx(jobs, i));
    if (json_object_object_get_ex(reply, "repository_size", &size))
        fprintf(f, "Repository:   %s\n", human_size(json_object_get_int64(size), b, sizeof(b)));
    print_retention(f, reply);
    if (*get_str(reply, "report_problem"))
        fprintf(f, "Reports:      none filed: %s\n", get_str(reply, "report_problem"));
    json_object_put(reply);
    return 0;
}

void agent_notify_unlock(void)
{
    json_object *reply = NULL;
    if (agent_request("unlock-notify", &reply) == 0)
        json_object_put(reply);
}

void agent_notify_lock(void)
{
    json_object *reply = NULL;
    if (agent_request("lock", &reply) == 0)
        json_object_put(reply);
}
