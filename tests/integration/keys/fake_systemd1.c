/* SPDX-License-Identifier: MIT */
/* Test stand-in for the systemd user manager, for `cloudseal status`: owns
 * org.freedesktop.systemd1 on the bus in DBUS_SESSION_BUS_ADDRESS and shows
 * cloudseal-agent.service with the ActiveState and SubState given as
 * arguments (e.g. "activating auto-restart", a crash loop).  Prints READY,
 * then serves until killed (bus_standin.c).  (No user manager runs in the
 * test sandbox.) */
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "../bus_standin.h"

static const char *state[2];

static int get(sd_bus *bus, const char *path, const char *iface, const char *prop, sd_bus_message *reply,
               void *userdata, sd_bus_error *err)
{
    (void)bus, (void)path, (void)iface, (void)prop, (void)err;
    return sd_bus_message_append(reply, "s", *(const char **)userdata);
}

static const sd_bus_vtable vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("ActiveState", "s", get, 0, 0),
    SD_BUS_PROPERTY("SubState", "s", get, sizeof(const char *), 0),
    SD_BUS_VTABLE_END
};

int main(int argc, char **argv)
{
    static const standin_object objs[] = {
        { "/org/freedesktop/systemd1/unit/cloudseal_2dagent_2eservice", "org.freedesktop.systemd1.Unit", vtable,
          state },
        {}
    };
    static const char *const names[] = { "org.freedesktop.systemd1", NULL };

    if (argc != 3) {
        fprintf(stderr, "usage: fake-systemd1 ACTIVESTATE SUBSTATE\n");
        return 2;
    }
    state[0] = argv[1];
    state[1] = argv[2];
    return standin_serve("fake-systemd1", objs, names, NULL);
}
