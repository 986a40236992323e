/* SPDX-License-Identifier: MIT */
/* cloudseal-helper directory-sync: fetch, verify, compile and install the
 * fleet directory cache.  Run as root by cloudseal-directory.service (timer
 * and boot); the work is in lib/fleet/directory_sync.c.  Every refusal leaves the
 * installed cache untouched and says why on stderr (the journal). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "fleet/fleet.h"
#include "util/log.h"

static int exit_code(int r)
{
    switch (r) {
    case 0: return CS_HELPER_OK;
    case -EKEYREJECTED: case -EKEYEXPIRED: case -EINVAL: case -EBADMSG: return CS_HELPER_CORRUPT;
    case -ESTALE: return CS_HELPER_ROLLBACK;
    case -ENOENT: return CS_HELPER_UNAVAILABLE;
    default: return helper_exit_code(r);
    }
}

/* A workstation outside any fleet has no fleet key: the timer the package
 * enables everywhere must then succeed quietly, not fail every 15 minutes. */
static bool fleet_configured(const cs_config *cfg)
{
    const char *inline_key = cs_config_str(cfg, "fleet", "public_key");
    const char *key_file = cs_config_str(cfg, "fleet", "public_key_file");

    if (inline_key && *inline_key)
        return true;
    return !key_file || access(key_file, F_OK) == 0 || errno != ENOENT;
}

int helper_directory_sync(int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' },
        {}
    };
    cs_fleet_sync_result res;
    bool force = false;
    int c, r;

    while ((c = cs_verb_getopt(argc, argv, "f", opts, NULL)) != -1) {
        switch (c) {
        case 'f': force = true; break;
        default: return helper_opt_exit(c);
        }
    }
    if (!fleet_configured(helper_config())) {
        printf("no fleet configured (no [fleet] public_key, no %s): nothing to sync\n",
               cs_config_str(helper_config(), "fleet", "public_key_file"));
        return CS_HELPER_OK;
    }
    r = cs_fleet_sync(helper_config(), NULL, force, &res);
    if (r < 0)
        return exit_code(r);
    if (res.changed)
        printf("installed fleet directory serial %llu: %zu users, %zu groups\n",
               (unsigned long long)res.serial, res.n_users, res.n_groups);
    else
        printf("fleet directory unchanged (serial %llu)\n", (unsigned long long)res.serial);
    return CS_HELPER_OK;
}
