/* SPDX-License-Identifier: MIT */
/* What the tests' D-Bus stand-ins (agent-notifyd, agent-powerd,
 * fake-systemd1) share: serve some objects under well-known names on the
 * bus in DBUS_SESSION_BUS_ADDRESS, print READY once the names are owned,
 * run until killed.  The test gives that bus to the program under test as
 * its session or its system bus. */
#ifndef CS_TESTS_BUS_STANDIN_H
#define CS_TESTS_BUS_STANDIN_H

#include <systemd/sd-bus.h>

typedef struct standin_object {
    const char *path, *iface;
    const sd_bus_vtable *vtable;
    void *userdata;
} standin_object;

/* objs ends with a NULL path, names with NULL.  on_usr1 (or NULL) runs at
 * each SIGUSR1, e.g. to emit PropertiesChanged after the test changed a
 * state.  Returns the exit code (errors on stderr, prefixed with prog). */
int standin_serve(const char *prog, const standin_object *objs, const char *const *names,
                  int (*on_usr1)(sd_bus *bus));

#endif
