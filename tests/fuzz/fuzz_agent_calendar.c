/* SPDX-License-Identifier: MIT */
/* Fuzz [agent] schedule: what parses is sorted, bounded and always has a
 * next time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "agent/calendar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[CS_CALENDAR_MAX_LEN + 64];
    cs_calendar c;

    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (cs_calendar_parse(s, &c) != 0)
        return 0;
    if (!c.days || !c.n_times || c.n_times > CS_CALENDAR_MAX_TIMES)
        __builtin_trap();
    for (size_t i = 0; i < c.n_times; i++)
        if (c.times[i] >= 24 * 60 || (i && c.times[i] <= c.times[i - 1]))
            __builtin_trap();
    if (cs_calendar_next(&c, 1700000000) <= 1700000000)
        __builtin_trap();
    return 0;
}
