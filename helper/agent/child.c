/* SPDX-License-Identifier: MIT */
/* Running one job: the child process, its progress lines, its end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "util/log.h"

#define MAX_ARGS 12

/* argv for `cloudseal [--config F] --json <args...>`; 0 or -E2BIG. */
static int build_argv(agent *a, const char *const *args, bool help, const char *argv[MAX_ARGS])
{
    size_t n = 0;

    argv[n++] = a->cloudseal;
    if (a->config_path) {
        argv[n++] = "--config";
        argv[n++] = a->config_path;
    }
    if (!help)
        argv[n++] = "--json";
    for (; *args; args++) {
        if (n >= MAX_ARGS - 2)
            return -E2BIG;
        argv[n++] = *args;
    }
    if (help)
        argv[n++] = "--help";
    argv[n] = NULL;
    return 0;
}

/* In the child between fork and exec.  The agent has a single thread, so
 * unsetenv is safe here: the service manager's variables are the agent's,
 * not the job's (NotifyAccess=main ignores a child's messages anyway). */
static void exec_child(const char *const argv[], int out_fd)
{
    sigset_t none;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
        dup2(out_fd >= 0 ? out_fd : devnull, STDOUT_FILENO) < 0)
        _exit(127);
    if (out_fd < 0 && dup2(devnull, STDERR_FILENO) < 0)
        _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

bool job_command_exists(agent *a, const char *const *args)
{
    const char *argv[MAX_ARGS];
    struct timespec t = { 0, 20 * 1000 * 1000 };
    int status;
    pid_t pid;

    if (build_argv(a, args, true, argv) < 0)
        return false;
    pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0)
        exec_child(argv, -1);
    /* `--help` answers at once; give it 5 s before deciding it is broken */
    for (int i = 0; i < 250; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (r < 0 && errno != EINTR)
            return false;
        nanosleep(&t, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return false;
}

static void handle_line(agent *a, job *j, const char *line, size_t len)
{
    cs_job_progress p;

    if (len == 0)
        return;
    if (cs_agent_parse_progress(line, len, &p) < 0) {
        log_debug("%s: ignoring a line that is not JSON", j->name);
        return;
    }
    if (p.percent >= 0 && p.percent != j->percent) {
        j->percent = p.percent;
        status_update(a);
    }
    if (p.repository_size >= 0)
        a->state.repository_size = p.repository_size;
    if (p.snapshots >= 0)
        a->state.snapshots = p.snapshots;
    if (p.error[0])
        snprintf(j->run_error, sizeof(j->run_error), "%s", p.error);
    if (p.snapshot[0])
        log_info("%s: snapshot %s saved", j->name, p.snapshot);
    if (j->kind == JOB_RETENTION)
        retention_progress(a, &p);
}

/* Read what is there; split into lines of at most CS_AGENT_LINE_MAX, dropping
 * (not splitting) longer ones.  Returns 0 at EOF, 1 when more may come. */
static int drain_output(agent *a, job *j)
{
    char buf[4096];

    for (;;) {
        ssize_t n = read(j->out_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 1 : 0;
        if (n == 0)
            return 0;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' && j->whole_output) {
                buf[i] = ' '; /* one document over several lines: parsed at the end */
            }
            if (buf[i] == '\n') {
                if (!j->line_overflow)
                    handle_line(a, j, j->line, j->line_len);
                j->line_len = 0;
                j->line_overflow = false;
            } else if (j->line_len < CS_AGENT_LINE_MAX) {
                j->line[j->line_len++] = buf[i];
            } else {
                j->line_overflow = true;
            }
        }
    }
}

static void close_output(job *j)
{
    /* (a whole-output job's document is parsed by on_child before this) */
    j->out_src = sd_event_source_disable_unref(j->out_src);
    if (j->out_fd >= 0)
        close(j->out_fd);
    j->out_fd = -1;
    j->line_len = 0;
    j->line_overflow = false;
}

/* The io callback needs both the agent and the job: the job is found back
 * from the agent's table through this small context. */
typedef struct { agent *a; job *j; } job_ctx;
static job_ctx ctxs[N_JOBS];

static int on_output_ctx(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    job_ctx *c = userdata;

    if (drain_output(c->a, c->j) == 0) {
        if (c->j->whole_output && !c->j->line_overflow)
            handle_line(c->a, c->j, c->j->line, c->j->line_len);
        close_output(c->j);
    }
    return 0;
}

static job_result result_of(const job *j, const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED) {
        switch (si->si_status) {
        case 0: return RESULT_OK;
        case 3: return RESULT_LOCKED;      /* CLI_LOCKED */
        case 6: return RESULT_UNREACHABLE; /* CLI_UNAVAILABLE */
        case 4: /* CLI_NOT_FOUND: for a backup, the repository */
            return j->kind == JOB_BACKUP ? RESULT_NO_REPOSITORY : RESULT_FAILED;
        case 7: /* backup: snapshot saved, some files unreadable or still changing;
                   retrying at once would not read them either */
            return j->kind == JOB_BACKUP ? RESULT_OK : RESULT_FAILED;
        case 8: /* CLI_NEEDS_CONSENT: never passes --allow-deletions itself */
            return j->kind == JOB_ARCHIVE_SYNC ? RESULT_NEEDS_CONSENT : RESULT_FAILED;
        default: return j->stop_sent ? RESULT_INTERRUPTED : RESULT_FAILED;
        }
    }
    return j->stop_sent ? RESULT_INTERRUPTED : RESULT_FAILED;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
    job_ctx *c = userdata;
    job *j = c->j;
    job_result res = result_of(j, si);

    if (j->out_fd >= 0)
        drain_output(c->a, j);
    if (j->whole_output && !j->line_overflow)
        handle_line(c->a, j, j->line, j->line_len);
    close_output(j);
    j->child_src = sd_event_source_disable_unref(j->child_src);
    j->kill_src = sd_event_source_disable_unref(j->kill_src);
    if (si->si_code == CLD_EXITED)
        log_debug("%s exited with status %d", j->name, si->si_status);
    else
        log_warning("%s was killed by signal %d", j->name, si->si_status);
    if (res == RESULT_OK && si->si_code == CLD_EXITED && si->si_status == 7)
        log_warning("%s saved a snapshot, but some files could not be read completely: "
                    "see the job's messages above", j->name);
    if (res == RESULT_FAILED && !j->run_error[0] && si->si_code == CLD_EXITED && si->si_status == 5)
        snprintf(j->run_error, sizeof(j->run_error), "integrity check failed: run 'cloudseal check'");
    j->stop_sent = false;
    job_finished(c->a, j, res);
    return 0;
}

int job_spawn(agent *a, job *j)
{
    const char *argv[MAX_ARGS];
    job_ctx *c = &ctxs[j->kind];
    int p[2], r;
    pid_t pid;

    r = build_argv(a, j->args, false, argv);
    if (r < 0)
        return r;
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        r = -errno;
        close(p[0]);
        close(p[1]);
        return r;
    }
    if (pid == 0)
        exec_child(argv, p[1]);
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    c->a = a;
    c->j = j;
    j->pid = pid;
    j->out_fd = p[0];
    j->started = now_realtime();
    j->percent = -1;
    j->run_error[0] = '\0';
    j->stop_sent = false;
    a->running = j;
    r = sd_event_add_child(a->event, &j->child_src, pid, WEXITED, on_child, c);
    if (r < 0) {
        /* cannot watch it: do not leave an unsupervised job behind */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close_output(j);
        j->pid = 0;
        a->running = NULL;
        return r;
    }
    r = sd_event_add_io(a->event, &j->out_src, j->out_fd, EPOLLIN, on_output_ctx, c);
    if (r < 0)
        close_output(j); /* the job still runs; only its progress is lost */
    log_info("starting %s (pid %d)", j->name, (int)pid);
    return 0;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    job_ctx *c = userdata;

    if (c->j->pid) {
        log_warning("%s did not stop in time; killing it", c->j->name);
        kill(c->j->pid, SIGKILL);
    }
    return 0;
}

/* SIGTERM now, SIGKILL after [agent] stop_timeout.  The repository engine
 * keeps the repository consistent either way; SIGTERM lets it finish the
 * object it is writing and release its lock. */
void job_stop(agent *a, job *j)
{
    uint64_t now;

    if (!j->pid || j->stop_sent)
        return;
    log_info("stopping %s (pid %d)", j->name, (int)j->pid);
    j->stop_sent = true;
    kill(j->pid, SIGTERM);
    if (sd_event_now(a->event, CLOCK_MONOTONIC, &now) < 0)
        now = 0;
    if (sd_event_add_time(a->event, &j->kill_src, CLOCK_MONOTONIC, now + a->stop_timeout_usec, 100000,
                          on_kill_timer, &ctxs[j->kind]) < 0)
        kill(j->pid, SIGKILL);
}
