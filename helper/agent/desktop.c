/* SPDX-License-Identifier: MIT */
/* A desktop notification (org.freedesktop.Notifications on the user bus)
 * when failures look persistent.  No user bus or no notification daemon
 * (a server, an SSH-only user) is normal: skipped with a debug line. */
#include <errno.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "agent.h"
#include "util/log.h"

#define NOTIFY_TIMEOUT_USEC (2 * 1000000ULL) /* never stall the loop for long */

void desktop_notify(agent *a, const char *summary, const char *body)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message *m = NULL, *reply = NULL;
    sd_bus *bus = NULL;
    int r;

    (void)a;
    r = sd_bus_open_user(&bus);
    if (r < 0) {
        log_debug_errno(r, "no user bus for a desktop notification");
        goto out;
    }
    r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.Notifications",
                                       "/org/freedesktop/Notifications",
                                       "org.freedesktop.Notifications", "Notify");
    if (r >= 0)
        r = sd_bus_message_append(m, "susssasa{sv}i", "cloudseal", (uint32_t)0, "dialog-warning",
                                  summary, body, 0, 0, (int32_t)-1);
    if (r >= 0)
        r = sd_bus_call(bus, m, NOTIFY_TIMEOUT_USEC, &err, &reply);
    if (r < 0)
        log_debug("no desktop notification: %s", err.message ? err.message : strerror(-r));
    else
        log_info("sent a desktop notification: %s", summary);
out:
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    sd_bus_message_unref(m);
    sd_bus_flush_close_unref(bus);
}
