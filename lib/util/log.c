/* SPDX-License-Identifier: MIT */
/* Logging to stderr, with journald priority prefixes under systemd. */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *log_progname = "cloudseal";
static int log_max_priority = LOG_INFO;
static int log_to_journal = -1; /* -1: not decided yet */

void cs_log_setup(const char *progname, int max_priority)
{
    if (progname)
        log_progname = progname;
    log_max_priority = max_priority;
}

/* journald sets JOURNAL_STREAM=dev:ino for the stderr it connected; prefixes
 * are only right when stderr is still that stream (not redirected). */
static int stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) < 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void log_line(int priority, const char *msg, const char *reason)
{
    if (log_to_journal < 0)
        log_to_journal = stderr_is_journal();
    if (log_to_journal)
        fprintf(stderr, "<%d>%s%s%s\n", priority, msg, reason ? ": " : "", reason ? reason : "");
    else
        fprintf(stderr, "%s: %s%s%s\n", log_progname, msg, reason ? ": " : "", reason ? reason : "");
}

void cs_log(int priority, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (priority > log_max_priority)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_line(priority, msg, NULL);
}

int cs_vformat_errno(char *buf, size_t n, int r, const char *fmt, va_list ap)
{
    int saved = errno;

    errno = r < 0 ? -r : r; /* glibc's printf expands %m from errno */
    vsnprintf(buf, n, fmt, ap);
    errno = saved;
    return r;
}

int cs_format_errno(char *buf, size_t n, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cs_vformat_errno(buf, n, r, fmt, ap);
    va_end(ap);
    return r;
}

/* Does fmt put the reason in place ("%m"; "%%" is a literal percent)? */
static bool has_reason(const char *fmt)
{
    for (const char *p = fmt; (p = strchr(p, '%')) && p[1]; p += 2)
        if (p[1] == 'm')
            return true;
    return false;
}

int cs_log_errno(int priority, int r, const char *fmt, ...)
{
    int saved = errno;
    char msg[2048];
    va_list ap;

    if (priority > log_max_priority)
        return r;
    va_start(ap, fmt);
    cs_vformat_errno(msg, sizeof(msg), r, fmt, ap);
    va_end(ap);
    log_line(priority, msg, has_reason(fmt) ? NULL : strerror(r < 0 ? -r : r));
    errno = saved;
    return r;
}
