/* SPDX-License-Identifier: MIT */
/* Politeness: a scheduled job waits while the machine runs on battery below
 * [agent] battery_min percent (UPower), or on a metered connection
 * (NetworkManager's Metered) unless [agent] run_on_metered.  Asked over
 * the system bus at the moment a job is due; a machine without UPower or
 * NetworkManager (a desktop on mains, a server) never waits.  What the user
 * asks for (backup-now) is not held back.  The calls are bounded (2 s) as
 * the loop waits for them.
 *
 * The agent keeps one system bus connection in its loop, subscribed to
 * both services' PropertiesChanged: a job held back starts as soon as the
 * charger is plugged in or the connection changes, not at the next
 * retry_min (which stays as the fallback for a service that is silent). */
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

static int on_power_changed(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
    agent *a = userdata;

    if (a->waiting[0]) {
        log_debug("%s changed its state: asking again", sd_bus_message_get_path(m));
        jobs_power_changed(a);
    }
    return 0;
}

/* Connect and subscribe; without a system bus (a container, a minimal
 * server) nothing waits, with a debug line.  The AddMatch calls are
 * asynchronous and go before any Get on this connection: a change after
 * the first answer is never missed. */
void power_watch(agent *a)
{
    static const char *const senders[] = { "org.freedesktop.UPower", "org.freedesktop.NetworkManager" };
    int r;

    if (a->battery_min <= 0 && a->run_on_metered)
        return; /* nothing to wait for; a reload that changes that connects at the next due job */
    a->power_bus = sd_bus_flush_close_unref(a->power_bus);
    r = sd_bus_open_system(&a->power_bus);
    if (r >= 0)
        r = sd_bus_set_method_call_timeout(a->power_bus, POWER_TIMEOUT_USEC);
    if (r >= 0)
        r = sd_bus_attach_event(a->power_bus, a->event, SD_EVENT_PRIORITY_NORMAL);
    for (size_t i = 0; r >= 0 && i < sizeof(senders) / sizeof(senders[0]); i++)
        r = sd_bus_match_signal_async(a->power_bus, NULL, senders[i], NULL, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_power_changed, NULL, a);
    if (r < 0) {
        log_debug_errno(r, "no system bus to ask about battery and network");
        a->power_bus = sd_bus_flush_close_unref(a->power_bus);
    }
}

void power_done(agent *a)
{
    a->power_bus = sd_bus_flush_close_unref(a->power_bus);
}

bool power_should_wait(agent *a, char *why, size_t len)
{
    bool wait = false;

    why[0] = '\0';
    if (a->battery_min <= 0 && a->run_on_metered)
        return false;
    if (!a->power_bus || sd_bus_is_open(a->power_bus) <= 0)
        power_watch(a); /* the system bus restarted, or came up after us */
    if (!a->power_bus)
        return false;
    if (a->battery_min > 0)
        wait = on_low_battery(a, a->power_bus, why, len);
    if (!wait && !a->run_on_metered)
        wait = on_metered(a->power_bus, why, len);
    return wait;
}
