/* SPDX-License-Identifier: MIT */
/* The tests' D-Bus stand-ins: one sd-event loop with the bus and SIGUSR1. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "bus_standin.h"

static sd_bus *bus;
static int (*usr1_handler)(sd_bus *bus);

static int on_usr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    int r = usr1_handler(bus);

    if (r < 0)
        fprintf(stderr, "%s: at SIGUSR1: %s\n", (const char *)userdata, strerror(-r));
    return 0;
}

int standin_serve(const char *prog, const standin_object *objs, const char *const *names,
                  int (*on_usr1_cb)(sd_bus *bus))
{
    sd_event *ev = NULL;
    sigset_t ss;
    int r;

    sigemptyset(&ss);
    sigaddset(&ss, SIGUSR1);
    r = sigprocmask(SIG_BLOCK, &ss, NULL) < 0 ? -errno : 0;
    if (r >= 0)
        r = sd_event_default(&ev);
    if (r >= 0)
        r = sd_bus_open_user(&bus);
    for (const standin_object *o = objs; r >= 0 && o->path; o++)
        r = sd_bus_add_object_vtable(bus, NULL, o->path, o->iface, o->vtable, o->userdata);
    for (const char *const *n = names; r >= 0 && *n; n++)
        r = sd_bus_request_name(bus, *n, 0);
    if (r >= 0)
        r = sd_bus_attach_event(bus, ev, SD_EVENT_PRIORITY_NORMAL);
    if (r >= 0 && on_usr1_cb) {
        usr1_handler = on_usr1_cb;
        r = sd_event_add_signal(ev, NULL, SIGUSR1, on_usr1, (void *)prog);
    }
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", prog, strerror(-r));
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    r = sd_event_loop(ev);
    fprintf(stderr, "%s: the bus went away: %s\n", prog, strerror(-r));
    return 1;
}
