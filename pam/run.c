/* SPDX-License-Identifier: MIT */
/* Exec cloudseal-helper and talk to it (protocol.h).
 *
 * The application that loaded us may be anything (sshd, gdm, login, su,
 * a screen locker): no threads, no signal handlers of ours, no output on
 * its stdout; every descriptor we create is close-on-exec and >= 3; SIGCHLD
 * is set to its default while the helper runs so that an application that
 * ignores it (auto-reaping) or reaps in a handler cannot take the status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <security/pam_ext.h>

#include "pam_cloudseal.h"

#define MAX_ARGS 24

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Move fd to >= 3 so that dup2 onto 0..2 in the child cannot clobber it
 * (an application may run with its stdio closed). */
static int high_fd(int fd)
{
    int nfd;

    if (fd >= 3)
        return fd;
    nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* In the child, between fork and execve: async-signal-safe calls only. */
static void __attribute__((noreturn))
exec_child(int in, int out, int err, const char *path, char *const argv[])
{
    static char *const empty_env[] = { NULL };
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigset_t none;

    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(127);
    /* everything but 0..2; the fallback covers kernels without close_range */
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    /* ignored signals and the mask survive execve: reset them */
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    /* A set-uid-root caller (su) has euid 0 but a user's real uid: the helper
     * decides by the real uid, so make it match what the process already is. */
    if (geteuid() == 0 && getuid() != 0 && setresuid(0, 0, 0) < 0)
        _exit(127);
    execve(path, argv, empty_env);
    _exit(127);
}

static int send_frames(int fd, const cs_pam_frame *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t hdr[CS_HELPER_FRAME_HDR];
        const cs_pam_frame parts[2] = { { hdr, sizeof(hdr) }, in[i] };

        if (in[i].len > CS_HELPER_FRAME_MAX)
            return -EMSGSIZE;
        cs_helper_frame_hdr_put(hdr, in[i].len);
        for (int k = 0; k < 2; k++) {
            const uint8_t *p = parts[k].data;
            size_t left = parts[k].len;

            while (left > 0) {
                /* MSG_NOSIGNAL: a helper that died early gives EPIPE, not a
                 * SIGPIPE that would kill the application */
                ssize_t w = send(fd, p, left, MSG_NOSIGNAL);

                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0)
                    return -errno;
                p += w;
                left -= (size_t)w;
            }
        }
    }
    return 0;
}

/* Reply frame reader: a 4-byte header, then the payload straight into the
 * caller's locked buffer; anything beyond is a protocol error.  Prompt
 * frames (helper_protocol.h) may come first: their text is read into
 * `text` and relayed by the caller, then the next header is read. */
typedef struct reply {
    uint8_t hdr[CS_HELPER_FRAME_HDR];
    size_t got;   /* bytes consumed of this frame, header included */
    size_t want;  /* payload length once the header is complete */
    bool bad;
    bool prompt;  /* this frame is a prompt */
    bool prompt_bad; /* a prompt broke the rules: the run fails, whatever the exit */
    unsigned prompts;
    char text[CS_HELPER_PROMPT_MAX + 1];
} reply;

/* The header is complete: a prompt (bounded, counted) or the reply. */
static void reply_header(cs_pam_run *run, reply *rp)
{
    long len;

    if (!cs_helper_hdr_is_prompt(rp->hdr)) {
        rp->want = cs_helper_frame_hdr_get(rp->hdr);
        if (!run->out || rp->want > run->out_cap)
            rp->bad = true;
        return;
    }
    len = cs_helper_prompt_len(rp->hdr);
    if (len < 0 || ++rp->prompts > CS_HELPER_PROMPTS_MAX) {
        rp->bad = rp->prompt_bad = true;  /* the rest is read and dropped */
        return;
    }
    rp->prompt = true;
    rp->want = (size_t)len;
}

/* 1 read something, 2 a prompt is complete, 0 EOF, -1 error. */
static int read_reply(int fd, cs_pam_run *run, reply *rp)
{
    uint8_t sink[256];
    ssize_t n;

    if (rp->got < 4 && !rp->bad) {
        n = read(fd, rp->hdr + rp->got, 4 - rp->got);
    } else if (rp->prompt) {
        n = read(fd, rp->text + (rp->got - 4), rp->want - (rp->got - 4));
    } else if (!rp->bad && run->out && rp->got - 4 < rp->want) {
        n = read(fd, run->out + (rp->got - 4), rp->want - (rp->got - 4));
    } else {
        n = read(fd, sink, sizeof(sink)); /* trailing garbage */
        if (n > 0)
            rp->bad = true;
        explicit_bzero(sink, sizeof(sink));
    }
    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN) ? 1 : (int)n;
    rp->got += (size_t)n;
    if (rp->got == 4 && !rp->bad)
        reply_header(run, rp);
    return rp->prompt && rp->got - 4 == rp->want ? 2 : 1;
}

/* Show a complete prompt through the conversation and answer a SECRET one
 * on fd (helper_protocol.h); then read the next frame.  The answer passes
 * through one locked page, wiped. */
static void relay_prompt(pam_handle_t *pamh, int fd, reply *rp)
{
    uint8_t *buf = NULL;
    char *resp = NULL;
    size_t len = 0;

    for (size_t i = 0; i < rp->want; i++)
        if ((unsigned char)rp->text[i] < 0x20 || rp->text[i] == 0x7f)
            rp->text[i] = '?';
    rp->text[rp->want] = '\0';
    if (rp->hdr[0] == CS_HELPER_PROMPT_INFO) {
        (void)pam_prompt(pamh, PAM_TEXT_INFO, NULL, "%s", rp->text);
    } else if ((buf = cs_pam_locked_alloc(CS_HELPER_ANSWER_MAX))) {
        buf[0] = CS_HELPER_ANSWER_CANCEL;
        if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", rp->text) == PAM_SUCCESS && resp &&
            (len = strlen(resp)) < CS_HELPER_ANSWER_MAX) {
            buf[0] = CS_HELPER_ANSWER_OK;
            memcpy(buf + 1, resp, len);
        } else {
            len = 0;
        }
        (void)send_frames(fd, &(cs_pam_frame){ buf, 1 + len }, 1);
        cs_pam_locked_free(buf, CS_HELPER_ANSWER_MAX);
    }
    if (resp) {
        explicit_bzero(resp, strlen(resp));
        free(resp);
    }
    rp->got = 0;
    rp->prompt = false;
}

/* The helper's first line (the most specific cause: later lines are its
 * summaries), made safe for one syslog line; the rest is read and dropped. */
static int read_msg(int fd, cs_pam_run *run, size_t *len, bool *done)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    for (ssize_t i = 0; i < n && !*done && *len < sizeof(run->msg) - 1; i++) {
        char c = buf[i];

        if (c == '\n') {
            *done = *len > 0;
            continue;
        }
        if ((unsigned char)c < 0x20 || c == 0x7f)
            c = '?';
        run->msg[(*len)++] = c;
    }
    run->msg[*len] = '\0';
    return (int)(n > 0);
}

static void build_argv(const cs_pam_opts *opts, const char *user, const cs_pam_run *run,
                       char *timeout, size_t tlen, const char *argv[MAX_ARGS])
{
    size_t n = 0;

    argv[n++] = opts->helper;
    if (opts->config) {
        argv[n++] = "--config";
        argv[n++] = opts->config;
    }
    /* the helper's own alarm is a backstop just past ours (prompts included) */
    snprintf(timeout, tlen, "%u", opts->timeout_sec + opts->prompt_timeout + 1);
    argv[n++] = "--timeout";
    argv[n++] = timeout;
    if (opts->debug)
        argv[n++] = "--debug";
    argv[n++] = run->command;
    argv[n++] = "--user";
    argv[n++] = user;
    for (size_t i = 0; run->args && run->args[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = run->args[i];
    argv[n] = NULL;
}

/* Wait for the child until the deadline; kill it then.  0 with *status set,
 * or -ETIMEDOUT after killing it. */
static int reap(pid_t pid, long long deadline, int *status)
{
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);

        if (w == pid)
            return 0;
        if (w < 0 && errno != EINTR)
            return -errno;
        if (now_ms() >= deadline)
            break;
        poll(NULL, 0, 2);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return -ETIMEDOUT;
}

int cs_pam_run_helper(pam_handle_t *pamh, const cs_pam_opts *opts, const char *user, cs_pam_run *run)
{
    int sv[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
    struct sigaction dfl = { .sa_handler = SIG_DFL }, old_chld;
    const char *argv[MAX_ARGS];
    char timeout[16];
    const long long start = now_ms();
    long long deadline = start + (long long)opts->timeout_sec * 1000;
    const long long last = deadline + (long long)opts->prompt_timeout * 1000;
    reply rp = { .got = 0 };
    size_t msg_len = 0;
    bool msg_done = false;
    int status = 0, r = 0;
    pid_t pid;

    run->out_len = 0;
    run->exit_code = -1;
    run->msg[0] = '\0';
    run->allowed_ms = (long long)opts->timeout_sec * 1000;
    build_argv(opts, user, run, timeout, sizeof(timeout), argv);
    if (access(opts->helper, X_OK) < 0)
        return -ENOEXEC;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        r = -errno;
        goto out;
    }
    sv[0] = high_fd(sv[0]); sv[1] = high_fd(sv[1]);
    outp[0] = high_fd(outp[0]); outp[1] = high_fd(outp[1]);
    errp[0] = high_fd(errp[0]); errp[1] = high_fd(errp[1]);
    if (sv[0] < 0 || sv[1] < 0 || outp[0] < 0 || outp[1] < 0 || errp[0] < 0 || errp[1] < 0) {
        r = -EMFILE;
        goto out;
    }

    sigaction(SIGCHLD, &dfl, &old_chld);
    pid = fork();
    if (pid < 0) {
        r = -errno;
        sigaction(SIGCHLD, &old_chld, NULL);
        goto out;
    }
    if (pid == 0)
        exec_child(sv[1], outp[1], errp[1], opts->helper, (char *const *)argv);
    close_fd(&sv[1]);
    close_fd(&outp[1]);
    close_fd(&errp[1]);

    /* Frames are a few KiB at most: they fit in the socket buffer, so this
     * cannot block on a helper that does not read.  The socket stays open
     * for the answers to prompts. */
    r = send_frames(sv[0], run->in, run->n_in);
    if (r < 0 && opts->debug)
        pam_syslog(pamh, LOG_DEBUG, "could not send to the helper: %s", strerror(-r));

    while (outp[0] >= 0 || errp[0] >= 0) {
        struct pollfd p[2] = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
        long long left = deadline - now_ms();
        int n;

        if (left <= 0)
            break;
        n = poll(p, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (p[0].revents) {
            int k = read_reply(outp[0], run, &rp);

            if (k <= 0)
                close_fd(&outp[0]);
            if (k == 2) {
                relay_prompt(pamh, sv[0], &rp);
                /* the person needs time to answer: up to prompt_timeout more */
                if (now_ms() + (long long)opts->prompt_timeout * 1000 > deadline)
                    deadline = now_ms() + (long long)opts->prompt_timeout * 1000;
                if (deadline > last)
                    deadline = last;
            }
        }
        if (p[1].revents && read_msg(errp[0], run, &msg_len, &msg_done) <= 0)
            close_fd(&errp[0]);
    }
    run->allowed_ms = deadline - start; /* what the log says of a timeout */
    r = reap(pid, deadline, &status);
    sigaction(SIGCHLD, &old_chld, NULL);
    if (r < 0)
        goto out;
    if (WIFSIGNALED(status)) {
        r = -ECHILD;
        goto out;
    }
    run->exit_code = WEXITSTATUS(status);
    if (run->exit_code == 127) {
        r = -ENOEXEC;
        goto out;
    }
    if (rp.prompt_bad) {
        run->exit_code = CS_HELPER_INTERNAL;
        snprintf(run->msg, sizeof(run->msg), "malformed prompt from the helper");
        goto out;
    }
    /* a reply frame comes with a success only */
    if (cs_helper_exit_is_success(run->exit_code) && run->out) {
        if (rp.bad || rp.got < 4 || rp.got - 4 != rp.want) {
            run->exit_code = CS_HELPER_INTERNAL;
            snprintf(run->msg, sizeof(run->msg), "malformed reply from the helper");
        } else {
            run->out_len = rp.want;
        }
    }
    r = 0;
out:
    if (r < 0 || !cs_helper_exit_is_success(run->exit_code)) {
        if (run->out)
            explicit_bzero(run->out, run->out_cap);
        run->out_len = 0;
    }
    close_fd(&sv[0]); close_fd(&sv[1]);
    close_fd(&outp[0]); close_fd(&outp[1]);
    close_fd(&errp[0]); close_fd(&errp[1]);
    return r;
}
