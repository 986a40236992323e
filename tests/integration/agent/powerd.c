/* SPDX-License-Identifier: MIT */
/* Test stand-in for UPower and NetworkManager: owns org.freedesktop.UPower
 * and org.freedesktop.NetworkManager on the bus in DBUS_SESSION_BUS_ADDRESS
 * and serves, with their real object paths, interfaces and property names,
 *   /org/freedesktop/UPower                      org.freedesktop.UPower          OnBattery (b)
 *   /org/freedesktop/UPower/devices/DisplayDevice org.freedesktop.UPower.Device  Percentage (d)
 *   /org/freedesktop/NetworkManager              org.freedesktop.NetworkManager  Metered (u)
 * read at every Get from the file argv[1]: "ON_BATTERY PERCENTAGE METERED"
 * (e.g. "1 15.0 0"), so a test changes them by rewriting the file.  At
 * SIGUSR1 it emits org.freedesktop.DBus.Properties.PropertiesChanged for
 * all three, as the real services do when the charger is plugged in or the
 * connection changes.  Prints READY, then runs until killed. */
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "../bus_standin.h"

#define UPOWER_PATH  "/org/freedesktop/UPower"
#define DISPLAY_PATH "/org/freedesktop/UPower/devices/DisplayDevice"
#define NM_PATH      "/org/freedesktop/NetworkManager"

static const char *state_file;

static void read_state(int *on_battery, double *percent, unsigned *metered)
{
    FILE *f = fopen(state_file, "r");

    *on_battery = 0;
    *percent = 100.0;
    *metered = 0;
    if (f) {
        if (fscanf(f, "%d %lf %u", on_battery, percent, metered) != 3)
            fprintf(stderr, "powerd: %s: want 'ON_BATTERY PERCENT METERED'\n", state_file);
        fclose(f);
    }
}

static int get_on_battery(sd_bus *b, const char *p, const char *i, const char *prop, sd_bus_message *reply,
                          void *ud, sd_bus_error *err)
{
    int on; double pc; unsigned m;
    read_state(&on, &pc, &m);
    return sd_bus_message_append(reply, "b", on);
}

static int get_percentage(sd_bus *b, const char *p, const char *i, const char *prop, sd_bus_message *reply,
                          void *ud, sd_bus_error *err)
{
    int on; double pc; unsigned m;
    read_state(&on, &pc, &m);
    return sd_bus_message_append(reply, "d", pc);
}

static int get_metered(sd_bus *b, const char *p, const char *i, const char *prop, sd_bus_message *reply,
                       void *ud, sd_bus_error *err)
{
    int on; double pc; unsigned m;
    read_state(&on, &pc, &m);
    return sd_bus_message_append(reply, "u", m);
}

#define CHANGES SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
static const sd_bus_vtable upower[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("OnBattery", "b", get_on_battery, 0, CHANGES),
    SD_BUS_VTABLE_END
};
static const sd_bus_vtable device[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Percentage", "d", get_percentage, 0, CHANGES),
    SD_BUS_VTABLE_END
};
static const sd_bus_vtable nm[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Metered", "u", get_metered, 0, CHANGES),
    SD_BUS_VTABLE_END
};

static int emit_changes(sd_bus *bus)
{
    int r = sd_bus_emit_properties_changed(bus, UPOWER_PATH, "org.freedesktop.UPower", "OnBattery", NULL);

    if (r >= 0)
        r = sd_bus_emit_properties_changed(bus, DISPLAY_PATH, "org.freedesktop.UPower.Device", "Percentage", NULL);
    if (r >= 0)
        r = sd_bus_emit_properties_changed(bus, NM_PATH, "org.freedesktop.NetworkManager", "Metered", NULL);
    if (r >= 0)
        r = sd_bus_flush(bus);
    if (r >= 0) {
        printf("CHANGED\n");
        fflush(stdout);
    }
    return r;
}

int main(int argc, char **argv)
{
    static const standin_object objs[] = {
        { UPOWER_PATH, "org.freedesktop.UPower", upower, NULL },
        { DISPLAY_PATH, "org.freedesktop.UPower.Device", device, NULL },
        { NM_PATH, "org.freedesktop.NetworkManager", nm, NULL },
        {}
    };
    static const char *const names[] = { "org.freedesktop.UPower", "org.freedesktop.NetworkManager", NULL };

    if (argc != 2) {
        fprintf(stderr, "usage: agent-powerd STATE_FILE\n");
        return 2;
    }
    state_file = argv[1];
    return standin_serve("powerd", objs, names, emit_changes);
}
