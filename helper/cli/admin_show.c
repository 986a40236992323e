/* SPDX-License-Identifier: MIT */
/* cloudseal admin show [--json] [--installed]: the directory source, or the
 * cache installed on this workstation. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "admin.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "basic/dircache.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"

static void print_text(const cs_directory *d)
{
    printf("fleet %s, serial %llu, ids %u-%u%s%s\n\n", d->fleet ? d->fleet : "", (unsigned long long)d->serial,
           d->id_min, d->id_max, d->has_escrow ? ", escrow key set" : "", d->has_report ? ", report key set" : "");
    printf("%-20s %10s %10s  %-8s %-8s %s\n", "USER", "UID", "GID", "KEY", "STATE", "HOME");
    for (size_t i = 0; i < d->n_users; i++) {
        const cs_fleet_user *u = &d->users[i];

        printf("%-20s %10u %10u  %-8s %-8s %s\n", u->name, u->uid, u->gid, u->has_key ? "pinned" : "-",
               u->disabled ? "disabled" : "enabled", u->home ? u->home : "");
    }
    printf("\n%-20s %10s  %s\n", "GROUP", "GID", "MEMBERS");
    for (size_t i = 0; i < d->n_groups; i++) {
        const cs_fleet_group *g = &d->groups[i];

        printf("%-20s %10u  ", g->name, g->gid);
        for (size_t m = 0; m < g->n_members; m++)
            printf("%s%s", m ? "," : "", g->members[m]);
        printf("\n");
    }
}

/* The failure of the last directory sync, if any: a warning line (the
 * journal's words), or a member of the JSON (null when it worked). */
static void last_sync(struct json_object *o)
{
    cs_fleet_sync_status st;
    char line[CS_FLEET_REASON_MAX + 160];

    if (cs_fleet_sync_status_read(cli_config(), &st) < 0)
        st.failed_at = 0;
    if (o)
        json_object_object_add(o, "last_sync_failure", cs_fleet_sync_failure_json(&st));
    else if (cs_fleet_sync_warning(cli_config(), &st, line, sizeof(line)))
        printf("warning: %s; see 'journalctl -u cloudseal-directory.service'\n", line);
}

/* o (taken) with every string valid UTF-8 (cli_json.h): names from the
 * directory, a sync failure's reason quoting them. */
static int print_json(struct json_object *o)
{
    int r = o ? cli_json_utf8(o) : -ENOMEM;

    if (r == 0)
        return cli_print_json(o, JSON_C_TO_STRING_PRETTY);
    json_object_put(o);
    return log_error_errno(r, "admin show"), CLI_FAILED;
}

static int show_installed(void)
{
    const char *path = cs_config_str(cli_config(), "fleet", "cache");
    struct json_object *o, *users;
    cs_dircache dc;
    int r = cs_dircache_map(path, &dc, NULL);

    if (r < 0)
        last_sync(NULL); /* why there is none, maybe */
    if (r < 0) {
        log_error("no usable directory cache at %s (%s): run 'cloudseal-helper directory-sync' as root",
                  path, strerror(-r));
        return r == -ENOENT ? CLI_NOT_FOUND : CLI_DATA_ERROR;
    }
    if (!cli.json) {
        char when[32];

        printf("installed directory: serial %llu, expires %s, %u users, %u groups\n",
               (unsigned long long)dc.h->serial, cs_fleet_time_str(dc.h->expires, when), dc.h->n_users,
               dc.h->n_groups);
        last_sync(NULL);
        for (uint32_t i = 0; i < dc.h->n_users; i++)
            printf("  %-20s %10u %10u %s%s\n", cs_dircache_str(&dc, dc.users[i].name), dc.users[i].uid,
                   dc.users[i].gid, dc.users[i].flags & CS_DC_USER_HAS_KEY ? "pinned" : "-",
                   dc.users[i].flags & CS_DC_USER_DISABLED ? " disabled" : "");
        cs_dircache_unmap(&dc);
        return CLI_OK;
    }
    o = json_object_new_object();
    users = json_object_new_array();
    json_object_object_add(o, "serial", json_object_new_int64((int64_t)dc.h->serial));
    json_object_object_add(o, "expires", json_object_new_int64(dc.h->expires));
    json_object_object_add(o, "groups", json_object_new_int64(dc.h->n_groups));
    last_sync(o);
    for (uint32_t i = 0; i < dc.h->n_users; i++) {
        struct json_object *u = json_object_new_object();

        json_object_object_add(u, "name", json_object_new_string(cs_dircache_str(&dc, dc.users[i].name)));
        json_object_object_add(u, "uid", json_object_new_int64(dc.users[i].uid));
        json_object_object_add(u, "gid", json_object_new_int64(dc.users[i].gid));
        json_object_object_add(u, "pinned", json_object_new_boolean(dc.users[i].flags & CS_DC_USER_HAS_KEY));
        json_object_object_add(u, "disabled", json_object_new_boolean(dc.users[i].flags & CS_DC_USER_DISABLED));
        json_object_array_add(users, u);
    }
    json_object_object_add(o, "users", users);
    cs_dircache_unmap(&dc);
    return print_json(o);
}

int admin_show(int argc, char **argv)
{
    static const struct option opts[] = {
        { "installed", no_argument, NULL, 'i' },
        {}
    };
    _cleanup_directory_ cs_directory *d = NULL;
    _cleanup_free_ char *json = NULL;
    bool installed = false;
    int c, r;

    while ((c = cli_getopt(argc, argv, "ji", opts)) != -1) {
        switch (c) {
        case 'j': cli.json = true; break; /* -j: --json's short form */
        case 'i': installed = true; break;
        default: return cli_opt_exit(c);
        }
    }
    if (installed)
        return show_installed();
    r = admin_load(&d);
    if (r != CLI_OK)
        return r;
    if (!cli.json) {
        print_text(d);
        return CLI_OK;
    }
    if (cs_directory_to_json(d, CS_DIR_SOURCE, &json, NULL) < 0)
        return CLI_FAILED;
    if (cs_utf8_valid(json, strlen(json))) { /* the source as it is written */
        fputs(json, stdout);
        return CLI_OK;
    }
    return print_json(json_tokener_parse(json)); /* a gecos or home in Latin-1, say */
}
