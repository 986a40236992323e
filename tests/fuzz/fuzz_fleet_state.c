/* SPDX-License-Identifier: MIT */
/* libFuzzer: the [fleet] state file as `cloudseal status` and `admin show
 * --installed` read it (sync_status.c).  Nothing may crash; what parses
 * has a printable, terminated reason and a failure time only with one. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fleet/fleet.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_fleet_sync_status st;

    cs_log_setup("fuzz_fleet_state", LOG_CRIT);
    if (cs_fleet_sync_status_parse((const char *)data, size, &st) != 0) {
        if (st.failed_at || st.serial || st.reason[0])
            __builtin_trap();
        return 0;
    }
    if (strnlen(st.reason, sizeof(st.reason)) == sizeof(st.reason))
        __builtin_trap();
    for (const char *p = st.reason; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            __builtin_trap();
    if (st.reason[0] && !st.failed_at)
        __builtin_trap();
    return 0;
}
