/* SPDX-License-Identifier: MIT */
/* Archive status from the local state (no key, no network). */
#include "archive/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "archive/collect.h"
#include "archive/hlc.h"
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "util/fileio.h"
#include "util/macros.h"

char *cs_archive_default_state_dir(void)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char *out = NULL;

    if (xdg && xdg[0] == '/')
        return asprintf(&out, "%s/cloudseal/archive", xdg) < 0 ? NULL : out;
    if (!home || home[0] != '/') {
        struct passwd *pw = getpwuid(geteuid());

        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return NULL;
    return asprintf(&out, "%s/.local/state/cloudseal/archive", home) < 0 ? NULL : out;
}

int cs_archive_get_status(const char *state_dir, cs_archive_status *out)
{
    _cleanup_close_ int fd = -1;
    cs_arch_state *st = NULL;
    cs_buf last = CS_BUF_INIT;
    int r;

    memset(out, 0, sizeof(*out));
    fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (faccessat(fd, "state", F_OK, 0) < 0)
        return 0;
    r = cs_arch_load_state(fd, state_dir, &st);
    if (r < 0)
        return r;
    out->initialised = true;
    sodium_bin2hex(out->device_id, sizeof(out->device_id), st->devs[0].id, CS_ARCH_DEV_BYTES);
    out->devices = st->ndevs;
    out->segments_written = st->devs[0].applied;
    for (size_t i = 0; i < st->ninst; i++) {
        const cs_arch_inst *in = st->inst[i];

        if (in->deleted) {
            out->deleted++;
            out->held += in->local_present && !in->local_stale;
        }
        else if (in->has_add) {
            out->messages++;
            out->local_messages += in->local_present;
        }
    }
    cs_arch_state_free(st);
    if (cs_read_file_at(fd, "last-sync", 64, &last) == 0 && cs_buf_append(&last, "", 1) == 0)
        out->last_sync = strtoll((const char *)last.data, NULL, 10);
    cs_buf_free(&last);
    return 0;
}

int cs_archive_list_devices(const char *state_dir, uint64_t keep_sec,
                            int (*cb)(const cs_archive_device *d, void *userdata), void *userdata)
{
    _cleanup_close_ int fd = -1;
    cs_arch_state *st = NULL;
    cs_arch_collect_stats cs;
    uint64_t *holding = NULL;
    int r;

    fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (faccessat(fd, "state", F_OK, 0) < 0)
        return 0;
    r = cs_arch_load_state(fd, state_dir, &st);
    if (r < 0)
        return r;
    holding = calloc(st->ndevs, sizeof(*holding));
    r = holding ? cs_arch_collect_tombstones(st, cs_hlc_wall_ms(), keep_sec * 1000, 0, true, &cs, holding)
                : -ENOMEM;
    for (size_t i = 0; r == 0 && i < st->ndevs; i++) {
        const cs_arch_dev *dv = &st->devs[i];
        cs_archive_device d = { .this_device = i == 0, .forgotten = dv->retired, .segments = dv->applied,
                                .holding = holding[i] };

        sodium_bin2hex(d.id, sizeof(d.id), dv->id, CS_ARCH_DEV_BYTES);
        if (dv->claimed && dv->lowest == dv->claim_seq)
            d.claimed_at = (int64_t)(dv->claim_t / 1000);
        r = cb(&d, userdata);
    }
    free(holding);
    cs_arch_state_free(st);
    return r;
}
