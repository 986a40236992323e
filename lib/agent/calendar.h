/* SPDX-License-Identifier: MIT */
/* [agent] schedule: a calendar like systemd's OnCalendar=, the subset a
 * backup schedule needs, in local time:
 *   hourly | daily | weekly                  (every hour, 00:00, Mon 00:00)
 *   [DAYS] [daily] TIMES                     e.g. "daily 12:30",
 *                                            "Mon..Fri 09:00,17:00", "*:30"
 * DAYS: Mon..Sun names (3 letters or full, any case), joined by ',' and
 * ranges 'A..B'; TIMES: HH:MM joined by ',', or *:MM for every hour. */
#ifndef CS_AGENT_CALENDAR_H
#define CS_AGENT_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#define CS_CALENDAR_MAX_LEN 256
#define CS_CALENDAR_MAX_TIMES 48

typedef struct cs_calendar {
    uint8_t days;                          /* bit 0 = Sunday .. bit 6 = Saturday */
    size_t n_times;
    uint16_t times[CS_CALENDAR_MAX_TIMES]; /* minutes after midnight, sorted, unique */
} cs_calendar;

/* -EINVAL not a calendar of this form, -E2BIG more than
 * CS_CALENDAR_MAX_TIMES times, -ENAMETOOLONG longer than
 * CS_CALENDAR_MAX_LEN. */
int cs_calendar_parse(const char *s, cs_calendar *out);

/* The first time after `after` (unix time) the calendar names; 0 when
 * none in the next 8 days (cannot happen for a parsed calendar). */
int64_t cs_calendar_next(const cs_calendar *c, int64_t after);

#endif
