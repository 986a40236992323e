/* SPDX-License-Identifier: MIT */
/* Which sessions of a user are open, for lock = logout.
 *
 * Why a file of (pid, start time) entries rather than a counter: nothing may
 * depend on pam_sm_close_session being called (DESIGN, Locking).  A counter
 * that misses one close stays high for ever; an entry names the process that
 * opened the session (the PAM application: login, sshd's monitor, gdm's
 * worker, pamtester), so an entry whose process is gone - or whose pid was
 * reused, which the start time reveals - is simply dropped.  logind's
 * /run/systemd/users/UID would do the same where logind runs, but PID 1 is
 * not always systemd (containers, this test machine), so we keep our own.
 *
 *   <state_dir>/sessions/<user>    root-owned 0600, one "PID STARTTIME" line
 *                                  per open session, updated under flock
 *
 * The file is ours but still bounded and parsed defensively: a garbled line
 * is dropped, at most SESSIONS_MAX entries are kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "helper.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

#define SESSIONS_MAX 256
#define SESSIONS_FILE_MAX (SESSIONS_MAX * 48)

typedef struct session_entry {
    long pid;
    unsigned long long start;
} session_entry;

typedef struct session_list {
    session_entry e[SESSIONS_MAX];
    size_t n;
} session_list;

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot);
 * 0 when the process does not exist. */
static unsigned long long process_start_time(long pid)
{
    char path[64], buf[1024], *p, *save = NULL, *tok;
    ssize_t n;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* the command name (field 2) may contain spaces and ')': skip past the last ')' */
    p = strrchr(buf, ')');
    if (!p)
        return 0;
    for (field = 3, tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++)
        if (field == 22)
            return strtoull(tok, NULL, 10);
    return 0;
}

static void parse_sessions(const cs_buf *b, session_list *l)
{
    const char *p = (const char *)b->data, *end = p + b->len;

    l->n = 0;
    while (p < end && l->n < SESSIONS_MAX) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char line[48], *q;
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        session_entry e;

        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
            errno = 0;
            e.pid = strtol(line, &q, 10);
            if (!errno && q != line && *q == ' ' && e.pid > 1 && e.pid <= INT_MAX) {
                char *q2;
                e.start = strtoull(q + 1, &q2, 10);
                if (!errno && q2 != q + 1 && *q2 == '\0' && e.start > 0)
                    l->e[l->n++] = e;
            }
        }
        p += len + 1;
    }
}

/* Drop entries whose process is gone or was replaced. */
static void prune(session_list *l)
{
    size_t i, j;

    for (i = j = 0; i < l->n; i++)
        if (process_start_time(l->e[i].pid) == l->e[i].start)
            l->e[j++] = l->e[i];
    l->n = j;
}

static int write_sessions(int fd, const session_list *l)
{
    char buf[SESSIONS_FILE_MAX];
    size_t len = 0;

    for (size_t i = 0; i < l->n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%ld %llu\n", l->e[i].pid, l->e[i].start);
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return -errno;
    return cs_write_all(fd, buf, len);
}

/* Open and lock <state_dir>/sessions/<user>, read its entries, apply `op`
 * for the calling PAM application (our parent), write back, return the
 * number of live entries. */
static int update(const cs_config *cfg, const char *user, bool add)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_close_ int dfd = -1, fd = -1;
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    session_list l;
    session_entry me = { .pid = getppid() };
    int r;

    if (geteuid() != 0)
        return -EPERM;
    if (me.pid <= 1)
        return -ESRCH; /* our caller is gone: nothing to record */
    me.start = process_start_time(me.pid);
    if (asprintf(&dir, "%s/sessions", cs_config_str(cfg, "paths", "state_dir")) < 0) {
        dir = NULL;
        return -ENOMEM;
    }
    r = cs_mkdir_p(dir, 0700);
    if (r < 0)
        return r;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    fd = openat(dfd, user, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX) < 0)
        return -errno;
    r = cs_read_file_at(dfd, user, SESSIONS_FILE_MAX, &b);
    if (r == -EFBIG)
        cs_buf_reset(&b); /* oversized: start afresh rather than fail a login */
    else if (r < 0)
        return r;
    parse_sessions(&b, &l);
    if (add) {
        prune(&l);
        if (l.n == SESSIONS_MAX)
            memmove(&l.e[0], &l.e[1], (--l.n) * sizeof(l.e[0]));
        l.e[l.n++] = me;
    } else {
        for (size_t i = 0; i < l.n; i++) {
            if (l.e[i].pid == me.pid && l.e[i].start == me.start) {
                memmove(&l.e[i], &l.e[i + 1], (l.n - i - 1) * sizeof(l.e[0]));
                l.n--;
                break;
            }
        }
        prune(&l);
    }
    r = write_sessions(fd, &l);
    return r < 0 ? r : (int)l.n;
}

int helper_session_add(const cs_config *cfg, const char *user)
{
    return update(cfg, user, true);
}

int helper_session_remove(const cs_config *cfg, const char *user)
{
    return update(cfg, user, false);
}
