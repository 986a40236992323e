/* SPDX-License-Identifier: MIT */
/* lib/agent/calendar.c: [agent] schedule.  Good, truncated, oversized and
 * tampered calendars; the next time, in local time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "agent/calendar.h"

static int64_t local(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
                     .tm_isdst = -1 };
    return (int64_t)mktime(&tm);
}

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    return 0;
}

static void test_parse(void **state)
{
    cs_calendar c;

    (void)state;
    assert_int_equal(cs_calendar_parse("daily 12:30", &c), 0);
    assert_int_equal(c.days, 0x7f);
    assert_int_equal(c.n_times, 1);
    assert_int_equal(c.times[0], 12 * 60 + 30);
    assert_int_equal(cs_calendar_parse("Mon..Fri 17:00,9:00", &c), 0);
    assert_int_equal(c.days, 0x3e);
    assert_int_equal(c.n_times, 2);
    assert_int_equal(c.times[0], 9 * 60);
    assert_int_equal(cs_calendar_parse("sat,Sunday", &c), 0);
    assert_int_equal(c.days, 0x41);
    assert_int_equal(c.times[0], 0);
    assert_int_equal(cs_calendar_parse("Fri..Mon 08:00", &c), 0);
    assert_int_equal(c.days, 0x63);
    assert_int_equal(cs_calendar_parse("*:30", &c), 0);
    assert_int_equal(c.n_times, 24);
    assert_int_equal(cs_calendar_parse("hourly", &c), 0);
    assert_int_equal(c.n_times, 24);
    assert_int_equal(cs_calendar_parse("weekly", &c), 0);
    assert_int_equal(c.days, 0x02);
    assert_int_equal(cs_calendar_parse("daily", &c), 0);
    /* truncated, tampered, oversized */
    const char *bad[] = { "", " ", "daily 12:", "daily 1230", "24:00", "12:60", "12:3", "Mon..", "..Fri",
                          "Funday 12:00", "12:00 Mon", "daily daily", "Mon Tue", "hourly 12:00", "Mon,",
                          "12:00,", "12:00,,13:00", "*:5", "**:30", "-1:00", "daily 12:30 extra" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cs_calendar_parse(bad[i], &c), -EINVAL);
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cs_calendar_parse(big, &c), -ENAMETOOLONG);
    assert_int_equal(cs_calendar_parse("*:00,*:01,*:02", &c), -E2BIG);
}

static void test_next(void **state)
{
    cs_calendar c;

    (void)state;
    assert_int_equal(cs_calendar_parse("daily 12:30", &c), 0);
    assert_int_equal(cs_calendar_next(&c, local(2026, 12, 4, 11, 0)), local(2026, 12, 4, 12, 30));
    assert_int_equal(cs_calendar_next(&c, local(2026, 12, 4, 12, 30)), local(2026, 12, 5, 12, 30));
    assert_int_equal(cs_calendar_parse("Mon..Fri 09:00,17:00", &c), 0);
    /* Friday 2026-12-04 18:00: Monday 09:00 */
    assert_int_equal(cs_calendar_next(&c, local(2026, 12, 4, 18, 0)), local(2026, 12, 7, 9, 0));
    assert_int_equal(cs_calendar_next(&c, local(2026, 12, 4, 10, 0)), local(2026, 12, 4, 17, 0));
    /* across a month and a year */
    assert_int_equal(cs_calendar_parse("daily 00:15", &c), 0);
    assert_int_equal(cs_calendar_next(&c, local(2026, 12, 31, 23, 0)), local(2027, 1, 1, 0, 15));
    /* the spring DST gap in Berlin (02:00 -> 03:00 on 2027-03-28): still a time that day */
    assert_int_equal(cs_calendar_parse("daily 02:30", &c), 0);
    int64_t t = cs_calendar_next(&c, local(2027, 3, 28, 1, 0));
    assert_true(t > local(2027, 3, 28, 1, 0) && t <= local(2027, 3, 28, 4, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_next),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
