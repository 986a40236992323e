/* SPDX-License-Identifier: MIT */
/* Politeness: a scheduled job waits while the machine runs on battery below
 * [agent] battery_min percent (UPower), or on a metered connection
 * (NetworkManager's Metered) unless [agent] run_on_metered.  Asked over
 * the system bus at the moment a job is due; a machine without UPower or
 * NetworkManager (a desktop on mains, a server) never waits.  What the user
 * asks for (backup-now) is not held back.  The calls are bounded (2 s) as
 * the loop waits for them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "agent.h"
#include "util/log.h"

#define POWER_TIMEOUT_USEC (2 * 1000000ULL)

/* NM_METERED_YES, NM_METERED_GUESS_YES */
static bool metered_value(uint32_t v)
{
    return v == 1 || v == 3;
}

static bool on_low_battery(agent *a, sd_bus *bus, char *why, size_t len)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int on = 0, r;
    double pc = 100.0;

    r = sd_bus_get_property_trivial(bus, "org.freedesktop.UPower", "/org/freedesktop/UPower",
                                    "org.freedesktop.UPower", "OnBattery", &err, 'b', &on);
    sd_bus_error_free(&err);
    if (r < 0 || !on)
        return false;
    r = sd_bus_get_property_trivial(bus, "org.freedesktop.UPower", "/org/freedesktop/UPower/devices/DisplayDevice",
                                    "org.freedesktop.UPower.Device", "Percentage", &err, 'd', &pc);
    sd_bus_error_free(&err);
    if (r < 0 || !(pc >= 0 && pc <= 100)) /* on battery, level unknown: do not hold back forever */
        return false;
    if (pc >= (double)a->battery_min)
        return false;
    snprintf(why, len, "on battery (%.0f%%, below %lld%%): backs up when plugged in", pc,
             (long long)a->battery_min);
    return true;
}

static bool on_metered(sd_bus *bus, char *why, size_t len)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    uint32_t m = 0;
    int r = sd_bus_get_property_trivial(bus, "org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager",
                                        "org.freedesktop.NetworkManager", "Metered", &err, 'u', &m);

    sd_bus_error_free(&err);
    if (r < 0 || !metered_value(m))
        return false;
    snprintf(why, len, "on a metered connection: backs up on another one ([agent] run_on_metered)");
    return true;
}

bool power_should_wait(agent *a, char *why, size_t len)
{
    sd_bus *bus = NULL;
    bool wait = false;
    int r;

    why[0] = '\0';
    if (a->battery_min <= 0 && a->run_on_metered)
        return false;
    r = sd_bus_open_system(&bus);
    if (r < 0) {
        log_debug("no system bus to ask about battery and network: %s", strerror(-r));
        return false;
    }
    (void)sd_bus_set_method_call_timeout(bus, POWER_TIMEOUT_USEC);
    if (a->battery_min > 0)
        wait = on_low_battery(a, bus, why, len);
    if (!wait && !a->run_on_metered)
        wait = on_metered(bus, why, len);
    sd_bus_flush_close_unref(bus);
    return wait;
}
