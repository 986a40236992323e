/* SPDX-License-Identifier: MIT */
/* [agent] schedule (calendar.h).  Hand-written because it is not JSON or
 * INI: a few tokens, each checked, the whole string bounded. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <time.h>

#include "agent/calendar.h"

static const char *const day_names[7][2] = {
    { "sun", "sunday" }, { "mon", "monday" }, { "tue", "tuesday" }, { "wed", "wednesday" },
    { "thu", "thursday" }, { "fri", "friday" }, { "sat", "saturday" },
};

static int day_of(const char *s, size_t len)
{
    for (int d = 0; d < 7; d++)
        for (int k = 0; k < 2; k++)
            if (strlen(day_names[d][k]) == len && strncasecmp(s, day_names[d][k], len) == 0)
                return d;
    return -1;
}

/* "Mon,Wed..Fri" into a mask; -EINVAL when a part is not a day */
static int parse_days(const char *tok, uint8_t *mask)
{
    *mask = 0;
    for (const char *p = tok; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *dots = memmem(p, len, "..", 2);
        int a, b;

        if (dots) {
            a = day_of(p, (size_t)(dots - p));
            b = day_of(dots + 2, len - (size_t)(dots + 2 - p));
        } else {
            a = b = day_of(p, len);
        }
        if (a < 0 || b < 0)
            return -EINVAL;
        /* Mon..Fri, and Fri..Mon across the weekend */
        for (int d = a;; d = (d + 1) % 7) {
            *mask |= (uint8_t)(1u << d);
            if (d == b)
                break;
        }
        p = end ? end + 1 : p + len;
        if (end && !*p)
            return -EINVAL; /* a trailing comma */
    }
    return *mask ? 0 : -EINVAL;
}

/* exactly two digits, 0..max */
static int two_digits(const char *s, int max)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    int v = (s[0] - '0') * 10 + (s[1] - '0');
    return v <= max ? v : -1;
}

static int add_time(cs_calendar *c, int minutes)
{
    size_t i = 0;

    while (i < c->n_times && c->times[i] < minutes)
        i++;
    if (i < c->n_times && c->times[i] == minutes)
        return 0;
    if (c->n_times >= CS_CALENDAR_MAX_TIMES)
        return -E2BIG;
    memmove(&c->times[i + 1], &c->times[i], (c->n_times - i) * sizeof(c->times[0]));
    c->times[i] = (uint16_t)minutes;
    c->n_times++;
    return 0;
}

/* "09:00,17:30", "9:00" or "*:15" (every hour) */
static int parse_times(const char *tok, cs_calendar *c)
{
    for (const char *p = tok; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int h = -1, m = -1, r;

        if (len == 4 && p[0] == '*' && p[1] == ':') {
            if ((m = two_digits(p + 2, 59)) < 0)
                return -EINVAL;
            for (h = 0; h < 24; h++)
                if ((r = add_time(c, h * 60 + m)) < 0)
                    return r;
        } else {
            if (len == 4 && p[1] == ':' && p[0] >= '0' && p[0] <= '9')
                h = p[0] - '0', m = two_digits(p + 2, 59);
            else if (len == 5 && p[2] == ':')
                h = two_digits(p, 23), m = two_digits(p + 3, 59);
            if (h < 0 || m < 0)
                return -EINVAL;
            if ((r = add_time(c, h * 60 + m)) < 0)
                return r;
        }
        p = end ? end + 1 : p + len;
        if (end && !*p)
            return -EINVAL; /* a trailing comma */
    }
    return 0;
}

int cs_calendar_parse(const char *s, cs_calendar *out)
{
    char buf[CS_CALENDAR_MAX_LEN + 1], *save = NULL, *tok;
    bool have_days = false, have_daily = false;
    int r;

    memset(out, 0, sizeof(*out));
    if (strlen(s) > CS_CALENDAR_MAX_LEN)
        return -ENAMETOOLONG;
    strcpy(buf, s);
    for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (out->n_times)
            return -EINVAL; /* the times come last */
        if (strcasecmp(tok, "hourly") == 0 || strcasecmp(tok, "weekly") == 0) {
            if (have_days || have_daily || strtok_r(NULL, " \t", &save))
                return -EINVAL;
            if (tolower((unsigned char)tok[0]) == 'w') {
                out->days = 1u << 1;
                return add_time(out, 0);
            }
            out->days = 0x7f;
            return parse_times("*:00", out);
        }
        if (strcasecmp(tok, "daily") == 0) {
            if (have_days || have_daily)
                return -EINVAL;
            have_daily = true;
        } else if (strchr(tok, ':')) {
            if ((r = parse_times(tok, out)) < 0)
                return r;
        } else {
            if (have_days || have_daily || (r = parse_days(tok, &out->days)) < 0)
                return -EINVAL;
            have_days = true;
        }
    }
    if (!have_days)
        out->days = 0x7f;
    if (!out->n_times) {
        if (!have_daily && !have_days)
            return -EINVAL; /* empty */
        return add_time(out, 0); /* "daily", "Mon": at midnight */
    }
    return 0;
}

int64_t cs_calendar_next(const cs_calendar *c, int64_t after)
{
    time_t t0 = (time_t)after;
    struct tm base;

    if (!localtime_r(&t0, &base))
        return 0;
    for (int d = 0; d <= 8; d++) {
        for (size_t i = 0; i < c->n_times; i++) {
            struct tm tm = base;
            time_t t;

            tm.tm_mday += d;
            tm.tm_hour = c->times[i] / 60;
            tm.tm_min = c->times[i] % 60;
            tm.tm_sec = 0;
            tm.tm_isdst = -1;
            t = mktime(&tm); /* normalises the day and tells its weekday */
            if (t == (time_t)-1 || !(c->days & (1u << tm.tm_wday)))
                continue;
            if ((int64_t)t > after)
                return (int64_t)t;
        }
    }
    return 0;
}
