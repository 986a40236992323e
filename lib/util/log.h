/* SPDX-License-Identifier: MIT */
/* Logging with syslog priorities.
 *
 * Under systemd (JOURNAL_STREAM set and matching stderr) lines go to stderr
 * with "<N>" prefixes, which journald turns into priorities; otherwise they
 * go to stderr as "cloudseal: message".  Never log a secret.
 */
#ifndef CS_UTIL_LOG_H
#define CS_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

/* Set the program name shown in messages (default "cloudseal") and the
 * most verbose priority printed (default LOG_INFO; LOG_DEBUG with --debug). */
void cs_log_setup(const char *progname, int max_priority);
void cs_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   cs_log(LOG_ERR, __VA_ARGS__)
#define log_warning(...) cs_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  cs_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    cs_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   cs_log(LOG_DEBUG, __VA_ARGS__)

/* Log "message: strerror(-r)" and return r (a negative errno), so that an
 * error is reported and passed up in one statement:
 *     if (r < 0)
 *         return log_error_errno(r, "cannot read %s", path);
 * Where the reason belongs inside the message, "%m" puts it there (as glibc's
 * printf does with errno) and nothing is appended:
 *     log_warning_errno(r, "cannot read %s (%m); run 'cloudseal check'", path);
 * Returns r even when the priority is not printed; errno is left as it was. */
int cs_log_errno(int priority, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define log_error_errno(r, ...)   cs_log_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) cs_log_errno(LOG_WARNING, (r), __VA_ARGS__)
#define log_notice_errno(r, ...)  cs_log_errno(LOG_NOTICE, (r), __VA_ARGS__)
#define log_info_errno(r, ...)    cs_log_errno(LOG_INFO, (r), __VA_ARGS__)
#define log_debug_errno(r, ...)   cs_log_errno(LOG_DEBUG, (r), __VA_ARGS__)

/* The same "%m" for a message kept rather than logged (an error buffer, a
 * status line): snprintf() with "%m" as strerror(-r), nothing appended.
 * Returns r; errno is left as it was. */
int cs_format_errno(char *buf, size_t n, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int cs_vformat_errno(char *buf, size_t n, int r, const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

#endif
