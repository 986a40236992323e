/* SPDX-License-Identifier: MIT */
/* Test stand-in for UPower and NetworkManager: owns org.freedesktop.UPower
 * and org.freedesktop.NetworkManager on the bus in DBUS_SESSION_BUS_ADDRESS
 * and serves, with their real object paths, interfaces and property names,
 *   /org/freedesktop/UPower                      org.freedesktop.UPower          OnBattery (b)
 *   /org/freedesktop/UPower/devices/DisplayDevice org.freedesktop.UPower.Device  Percentage (d)
 *   /org/freedesktop/NetworkManager              org.freedesktop.NetworkManager  Metered (u)
 * read at every Get from the file argv[1]: "ON_BATTERY PERCENTAGE METERED"
 * (e.g. "1 15.0 0"), so a test changes them by rewriting the file.
 * Prints READY, then runs until killed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

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

static const sd_bus_vtable upower[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("OnBattery", "b", get_on_battery, 0, 0),
    SD_BUS_VTABLE_END
};
static const sd_bus_vtable device[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Percentage", "d", get_percentage, 0, 0),
    SD_BUS_VTABLE_END
};
static const sd_bus_vtable nm[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Metered", "u", get_metered, 0, 0),
    SD_BUS_VTABLE_END
};

int main(int argc, char **argv)
{
    sd_bus *bus = NULL;
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: agent-powerd STATE_FILE\n");
        return 2;
    }
    state_file = argv[1];
    r = sd_bus_open_user(&bus);
    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/UPower", "org.freedesktop.UPower", upower, NULL);
    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/UPower/devices/DisplayDevice",
                                     "org.freedesktop.UPower.Device", device, NULL);
    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/NetworkManager",
                                     "org.freedesktop.NetworkManager", nm, NULL);
    if (r >= 0)
        r = sd_bus_request_name(bus, "org.freedesktop.UPower", 0);
    if (r >= 0)
        r = sd_bus_request_name(bus, "org.freedesktop.NetworkManager", 0);
    if (r < 0) {
        fprintf(stderr, "powerd: %s\n", strerror(-r));
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    for (;;) {
        r = sd_bus_process(bus, NULL);
        if (r < 0)
            return 1;
        if (r > 0)
            continue;
        if (sd_bus_wait(bus, UINT64_MAX) < 0)
            return 1;
    }
}
