/* SPDX-License-Identifier: MIT */
/* The control socket: $XDG_RUNTIME_DIR/cloudseal/agent.sock.
 *
 * Who may talk to us: only our own uid.  The directory is 0700 and the
 * socket 0600, and every connection's SO_PEERCRED is checked as well (file
 * modes alone would not cover a socket passed by systemd or a peer that
 * got hold of a descriptor).  One JSON request line, one reply line, close.
 * A client gets CLIENT_TIMEOUT to send its line, and at most MAX_CLIENTS
 * are served at once, so a stuck or hostile client cannot starve the loop.
 *
 * A request is carried out only while its client is still connected.  The
 * kernel keeps a connection's data after the client has closed it, and a
 * socket unit keeps connections queued while the agent cannot start: acting
 * on those later would, say, lock the key a minute after the user unlocked
 * it, long after `cloudseal lock` gave up.  So a request whose sender has
 * hung up is dropped, never acted on. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "util/log.h"

#define MAX_CLIENTS 16
#define CLIENT_TIMEOUT_USEC (5 * 1000000ULL)

typedef struct client {
    agent *a;
    int fd;
    sd_event_source *io, *timer;
    char buf[CS_AGENT_LINE_MAX + 1];
    size_t len;
} client;

static void client_free(client *c)
{
    sd_event_source_disable_unref(c->io);
    sd_event_source_disable_unref(c->timer);
    close(c->fd);
    c->a->n_clients--;
    free(c);
}

static json_object *error_reply(const char *msg)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(0));
    json_object_object_add(o, "error", json_object_new_string(msg));
    return o;
}

static json_object *ok_reply(const char *msg)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(1));
    if (msg)
        json_object_object_add(o, "message", json_object_new_string(msg));
    return o;
}

static json_object *run_job_request(agent *a, job_kind kind)
{
    int r = jobs_request(a, kind);

    if (r == -EOPNOTSUPP)
        return error_reply(kind == JOB_BACKUP ? "backups are not available (no 'cloudseal backup')"
                                              : "the message archive sync is not available");
    if (r == -ENOKEY)
        return error_reply("locked: run 'cloudseal unlock' first");
    if (r == -EAGAIN)
        return error_reply("paused: run 'cloudseal agent resume' first");
    if (r == 1)
        return ok_reply("already running");
    if (r < 0)
        return error_reply(strerror(-r));
    return ok_reply(a->running == &a->jobs[kind] ? "started" : "queued");
}

static json_object *handle(agent *a, const char *line, size_t len)
{
    cs_agent_cmd cmd;
    int64_t seconds;
    int r = cs_agent_parse_request_seconds(line, len, &cmd, &seconds);

    if (r == -EOPNOTSUPP)
        return error_reply("unknown command");
    if (r < 0)
        return error_reply("malformed request");
    log_debug("control: %s", cs_agent_cmd_name(cmd));
    switch (cmd) {
    case CS_AGENT_CMD_STATUS:
        return status_json(a);
    case CS_AGENT_CMD_BACKUP_NOW:
        return run_job_request(a, JOB_BACKUP);
    case CS_AGENT_CMD_SYNC_NOW:
        return run_job_request(a, JOB_ARCHIVE_SYNC);
    case CS_AGENT_CMD_LOCK:
        key_lock(a, true, "cloudseal lock");
        return ok_reply("locked");
    case CS_AGENT_CMD_PAUSE:
        jobs_pause(a, seconds);
        return ok_reply(seconds < 0 ? "paused until 'cloudseal agent resume'" : "paused");
    case CS_AGENT_CMD_RESUME:
        jobs_resume(a);
        return ok_reply("resumed");
    case CS_AGENT_CMD_UNLOCK_NOTIFY:
        key_check(a);
        return a->amk ? ok_reply("unlocked") : error_reply("no key in the keyring");
    }
    return error_reply("unknown command");
}

static void reply_and_close(client *c, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(s);

    /* replies are small (a few KiB): one blocking send with a short timeout */
    struct timeval tv = { 1, 0 };
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (send(c->fd, s, n, MSG_NOSIGNAL) != (ssize_t)n || send(c->fd, "\n", 1, MSG_NOSIGNAL) != 1)
        log_debug("control: client went away before the reply");
    json_object_put(o);
    client_free(c);
}

/* Has the client closed its end?  A closed peer sets POLLHUP on our end
 * (both directions shut down); a client that only shut down its writing side
 * (half-close) is still waiting for the reply and counts as connected. */
static bool client_gone(int fd)
{
    struct pollfd p = { .fd = fd, .events = 0 };

    if (poll(&p, 1, 0) < 0)
        return false;
    return (p.revents & (POLLHUP | POLLERR)) != 0;
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    client *c = userdata;
    ssize_t n;
    char *nl;

    n = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        client_free(c);
        return 0;
    }
    c->len += (size_t)n;
    nl = memchr(c->buf, '\n', c->len);
    if (!nl && c->len >= sizeof(c->buf) - 1) {
        reply_and_close(c, error_reply("request too long"));
        return 0;
    }
    if (!nl)
        return 0;
    if (client_gone(fd)) {
        /* sent, then gave up (timed out, killed) before we got to it */
        log_notice("control: dropped a request from a client that has gone away");
        client_free(c);
        return 0;
    }
    reply_and_close(c, handle(c->a, c->buf, (size_t)(nl - c->buf)));
    return 0;
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    client_free(userdata);
    return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    agent *a = userdata;
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    uint64_t now;
    client *c;
    int cfd;

    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return 0;
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != a->uid) {
        log_warning("control: refused a connection from uid %d (pid %d): not our user",
                    cl == sizeof(cred) ? (int)cred.uid : -1, cl == sizeof(cred) ? (int)cred.pid : -1);
        close(cfd);
        return 0;
    }
    if (a->n_clients >= MAX_CLIENTS) {
        log_warning("control: too many clients at once; dropping one");
        close(cfd);
        return 0;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(cfd);
        return 0;
    }
    c->a = a;
    c->fd = cfd;
    a->n_clients++;
    if (sd_event_now(a->event, CLOCK_MONOTONIC, &now) < 0 ||
        sd_event_add_io(a->event, &c->io, cfd, EPOLLIN, on_client_io, c) < 0 ||
        sd_event_add_time(a->event, &c->timer, CLOCK_MONOTONIC, now + CLIENT_TIMEOUT_USEC, 100000,
                          on_client_timeout, c) < 0)
        client_free(c);
    return 0;
}

/* Our own listening socket when systemd did not pass one. */
static int make_socket(agent *a)
{
    char dir[PATH_MAX];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd, r;

    r = cs_agent_socket_dir(dir, sizeof(dir));
    if (r == 0)
        r = cs_agent_socket_path(a->socket_path, sizeof(a->socket_path));
    if (r < 0)
        return r;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    /* an existing directory must be ours and private: never follow a link
     * or use a directory someone else prepared */
    if (lstat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != a->uid) {
        log_error("%s is not a directory owned by uid %u; remove it", dir, (unsigned)a->uid);
        return -EPERM;
    }
    if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0)
        return -errno;
    strcpy(sa.sun_path, a->socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* a socket that answers belongs to a running agent: one per user */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
        log_error("another cloudseal-agent already serves %s; stop it first "
                  "(systemctl --user stop cloudseal-agent)", a->socket_path);
        close(fd);
        return -EADDRINUSE;
    }
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    (void)unlink(a->socket_path); /* a stale socket of a previous run */
    mode_t old = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 16) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    a->listen_fd = fd;
    return 0;
}

int control_init(agent *a)
{
    int n = sd_listen_fds(1), r;

    if (n == 1 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) > 0) {
        a->listen_fd = SD_LISTEN_FDS_START;
        a->socket_activated = true;
        fcntl(a->listen_fd, F_SETFL, fcntl(a->listen_fd, F_GETFL) | O_NONBLOCK);
        fcntl(a->listen_fd, F_SETFD, FD_CLOEXEC); /* jobs must not inherit it */
    } else {
        if (n > 0)
            log_warning("ignoring %d unexpected file descriptors from systemd", n);
        r = make_socket(a);
        if (r < 0) {
            log_error_errno(r, "cannot create the control socket");
            return r;
        }
    }
    r = sd_event_add_io(a->event, &a->listen_src, a->listen_fd, EPOLLIN, on_accept, a);
    return r < 0 ? r : 0;
}

void control_done(agent *a)
{
    a->listen_src = sd_event_source_disable_unref(a->listen_src);
    if (a->listen_fd >= 0 && !a->socket_activated) {
        close(a->listen_fd);
        unlink(a->socket_path);
    }
    a->listen_fd = -1;
}
