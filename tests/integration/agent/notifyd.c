/* SPDX-License-Identifier: MIT */
/* Test stand-in for a desktop notification server: owns
 * org.freedesktop.Notifications on the session bus given in
 * DBUS_SESSION_BUS_ADDRESS, answers Notify() like a real one, and prints
 * "NOTIFY app|summary|body" for each call on stdout.  Prints READY, then
 * runs until killed (bus_standin.c).
 * (A real notification daemon needs a graphical session.) */
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "../bus_standin.h"

static uint32_t next_id = 1;

static int on_notify(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
    const char *app, *icon, *summary, *body;
    uint32_t replaces;
    int r;

    r = sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body);
    if (r < 0)
        return r;
    printf("NOTIFY %s|%s|%s\n", app, summary, body);
    fflush(stdout);
    return sd_bus_reply_method_return(m, "u", next_id++);
}

static const sd_bus_vtable vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Notify", "susssasa{sv}i", "u", on_notify, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END
};

int main(void)
{
    static const standin_object objs[] = {
        { "/org/freedesktop/Notifications", "org.freedesktop.Notifications", vtable, NULL }, {}
    };
    static const char *const names[] = { "org.freedesktop.Notifications", NULL };

    return standin_serve("notifyd", objs, names, NULL);
}
