/* SPDX-License-Identifier: MIT */
/* Editing the directory source: users, groups, memberships.
 *
 * Every edit loads the source, changes it, checks the result with the rules
 * workstations apply (ids in the directory's range, never 0, no duplicates,
 * references resolve) and saves it atomically; a refused edit leaves the file
 * as it was.  New ids are allocated deterministically from the name
 * (cs_directory_allocate_id) and then written into the file, so they never
 * change and are the same on every workstation.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cli_opts.h"
#include "util/log.h"
#include "util/parse.h"

typedef struct edit_opts {
    const char *uid, *gid, *gecos, *home, *shell, *groups, *members, *key;
    bool no_user_group;
} edit_opts;

static int parse_id(const char *s, uint32_t *out)
{
    uint64_t v;
    int r = cs_parse_uint(s, 1, UINT32_MAX - 1, &v);

    if (r == 0)
        *out = (uint32_t)v;
    return r;
}

static int set_str(char **field, const char *value)
{
    char *c = strdup(value);

    if (!c)
        return -ENOMEM;
    free(*field);
    *field = c;
    return 0;
}

static int apply_user_fields(cs_fleet_user *u, const edit_opts *o)
{
    int r = 0;

    if (o->gecos) r = set_str(&u->gecos, o->gecos);
    if (!r && o->home) r = set_str(&u->home, o->home);
    if (!r && o->shell) r = set_str(&u->shell, o->shell);
    if (!r && o->groups) r = admin_add_list(&u->groups, &u->n_groups, o->groups);
    if (!r && o->gid) {
        if (parse_id(o->gid, &u->gid) < 0) {
            log_error("--gid wants a number above 0");
            return -EINVAL;
        }
        u->private_group = false; /* an explicit primary group replaces the private one */
    }
    if (!r && o->key) {
        uint8_t key[CS_FLEET_PK_BYTES];

        if (cs_fleet_decode_key(o->key, key) < 0) {
            log_error("--key wants the account public key `cloudseal enroll` printed (base64 or hex)");
            return -EINVAL;
        }
        admin_pin_key(u, key);
    }
    return r;
}

static int add_user(cs_directory *d, const char *name, const edit_opts *o)
{
    cs_fleet_user *u;
    uint32_t uid;
    int r;

    if (!cs_user_name_valid(name, CS_USER_NAME_FLEET)) {
        log_error("'%s' is not a valid user name (lowercase letters, digits, '_', '-', '.')", name);
        return -EINVAL;
    }
    if (o->uid ? parse_id(o->uid, &uid) < 0 : cs_directory_allocate_id(d, name, &uid) < 0) {
        log_error(o->uid ? "--uid wants a number above 0" : "no free id left in the directory's id range");
        return -EINVAL;
    }
    r = cs_directory_add_user(d, name, &u);
    if (r == -EEXIST)
        log_error("user '%s' already exists; use set-user to change it", name);
    if (r < 0)
        return r;
    u->uid = uid;
    u->gid = uid;
    if (asprintf(&u->home, "/home/%s", name) < 0 || !(u->shell = strdup("/bin/bash")) ||
        !(u->gecos = strdup("")))
        return -ENOMEM;
    if (!o->gid && o->no_user_group) {
        log_error("--no-user-group needs --gid: the user's primary group");
        return -EINVAL;
    }
    /* the Debian default: a private group of the same name and number,
     * implicit in the directory (no "gid" in the source) */
    u->private_group = !o->gid;
    return apply_user_fields(u, o);
}

static int remove_user(cs_directory *d, const char *name)
{
    cs_fleet_user *u = cs_directory_find_user(d, name);
    cs_fleet_group *g = cs_directory_find_group(d, name);
    uint32_t gid;

    if (!u) {
        log_error("no user '%s' in the directory", name);
        return -ENOENT;
    }
    gid = u->gid;
    cs_directory_remove_user(d, name);
    /* its private group goes with it when nobody else is in it */
    if (g && g->gid == gid && g->n_members == 0) {
        bool used = false;

        for (size_t i = 0; i < d->n_users && !used; i++)
            used = d->users[i].gid == gid;
        if (!used)
            cs_directory_remove_group(d, name);
    }
    return 0;
}

static int add_group(cs_directory *d, const char *name, const edit_opts *o)
{
    cs_fleet_group *g;
    uint32_t gid;
    int r;

    if (!cs_user_name_valid(name, CS_USER_NAME_FLEET)) {
        log_error("'%s' is not a valid group name", name);
        return -EINVAL;
    }
    if (o->gid ? parse_id(o->gid, &gid) < 0 : cs_directory_allocate_id(d, name, &gid) < 0) {
        log_error(o->gid ? "--gid wants a number above 0" : "no free id left in the directory's id range");
        return -EINVAL;
    }
    r = cs_directory_add_group(d, name, &g);
    if (r == -EEXIST)
        log_error("group '%s' already exists", name);
    if (r < 0)
        return r;
    g->gid = gid;
    return o->members ? admin_add_list(&g->members, &g->n_members, o->members) : 0;
}

static int members(cs_directory *d, bool add, int argc, char **argv)
{
    cs_fleet_group *g;

    g = cs_directory_find_group(d, argv[0]);
    if (!g) {
        log_error("no group '%s' in the directory", argv[0]);
        return -ENOENT;
    }
    for (int i = 1; i < argc; i++) {
        int r = add ? cs_fleet_strv_add(&g->members, &g->n_members, argv[i])
                    : cs_fleet_strv_remove(&g->members, &g->n_members, argv[i]);

        if (r == -ENOENT)
            log_warning("'%s' was not a member of '%s'", argv[i], argv[0]);
        else if (r < 0)
            return r;
    }
    return 0;
}

static int apply(cs_directory *d, const char *cmd, int argc, char **argv, const edit_opts *o)
{
    cs_fleet_user *u;

    if (strcmp(cmd, "add-member") == 0 || strcmp(cmd, "remove-member") == 0)
        return members(d, cmd[0] == 'a', argc, argv);
    /* the other edits take one name (admin_commands.def) */
    if (strcmp(cmd, "add-user") == 0)
        return add_user(d, argv[0], o);
    if (strcmp(cmd, "remove-user") == 0)
        return remove_user(d, argv[0]);
    if (strcmp(cmd, "add-group") == 0)
        return add_group(d, argv[0], o);
    if (strcmp(cmd, "remove-group") == 0) {
        if (cs_directory_remove_group(d, argv[0]) < 0) {
            log_error("no group '%s' in the directory", argv[0]);
            return -ENOENT;
        }
        return 0;
    }
    u = cs_directory_find_user(d, argv[0]);
    if (!u) {
        log_error("no user '%s' in the directory", argv[0]);
        return -ENOENT;
    }
    if (strcmp(cmd, "disable-user") == 0)
        u->disabled = true;
    else if (strcmp(cmd, "enable-user") == 0)
        u->disabled = false;
    else
        return apply_user_fields(u, o); /* set-user */
    return 0;
}

int admin_edit(int argc, char **argv)
{
    static const struct option opts[] = {
        { "uid", required_argument, NULL, 'u' },
        { "gid", required_argument, NULL, 'g' },
        { "gecos", required_argument, NULL, 'c' },
        { "home", required_argument, NULL, 'd' },
        { "shell", required_argument, NULL, 's' },
        { "groups", required_argument, NULL, 'G' },
        { "members", required_argument, NULL, 'm' },
        { "key", required_argument, NULL, 'k' },
        { "no-user-group", no_argument, NULL, 'N' },
        {}
    };
    _cleanup_directory_ cs_directory *d = NULL;
    const char *cmd = argv[0];
    edit_opts o = { 0 };
    int c, r;

    while ((c = cli_getopt(argc, argv, "u:g:c:d:s:G:m:k:N", opts)) != -1) {
        switch (c) {
        case 'u': o.uid = optarg; break;
        case 'g': o.gid = optarg; break;
        case 'c': o.gecos = optarg; break;
        case 'd': o.home = optarg; break;
        case 's': o.shell = optarg; break;
        case 'G': o.groups = optarg; break;
        case 'm': o.members = optarg; break;
        case 'k': o.key = optarg; break;
        case 'N': o.no_user_group = true; break;
        default: return cli_opt_exit(c);
        }
    }
    r = admin_load(&d);
    if (r != CLI_OK)
        return r;
    r = apply(d, cmd, argc - optind, argv + optind, &o);
    if (r == -EINVAL)
        return CLI_USAGE;
    if (r == -ENOENT)
        return CLI_NOT_FOUND;
    if (r < 0) {
        log_error_errno(r, "%s failed", cmd);
        return CLI_FAILED;
    }
    r = admin_check(d);
    if (r != CLI_OK)
        return r;
    r = admin_save(d);
    if (r == CLI_OK && !cli.quiet)
        printf("%s %s: done; run 'cloudseal admin publish' to sign and upload\n", cmd, argv[optind]);
    return r;
}
