/* SPDX-License-Identifier: MIT */
/* cloudseal admin: fleet administration.
 *
 *   keygen       fleet signing keypair (+ optional escrow keypair)
 *   init         a new directory source file (JSON, meant for git)
 *   add-user ... edit the source (admin_edit.c)
 *   approve      pin a user's account public key
 *   publish      sign (serial + 1, expiry) and upload to fleet/directory
 *   show         list users and groups (--json)
 *   verify       check a signed directory as a workstation would
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "util/log.h"

const char *admin_source_path;

static const struct admin_command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} admin_commands[] = {
    { "keygen", admin_keygen, "Create the fleet signing keypair (and --escrow keypair)" },
    { "init", admin_init, "Create a new directory source file" },
    { "add-user", admin_edit, "Add a user (uid allocated deterministically unless --uid)" },
    { "set-user", admin_edit, "Change a user's gecos, home, shell or primary gid" },
    { "remove-user", admin_edit, "Remove a user (and its private group)" },
    { "disable-user", admin_edit, "Keep the user's ids but refuse their logins" },
    { "enable-user", admin_edit, "Undo disable-user" },
    { "add-group", admin_edit, "Add a group" },
    { "remove-group", admin_edit, "Remove a group" },
    { "add-member", admin_edit, "Add users to a group: add-member GROUP USER..." },
    { "remove-member", admin_edit, "Remove users from a group: remove-member GROUP USER..." },
    { "approve", admin_approve, "Pin a user's account public key (from `cloudseal enroll`)" },
    { "enroll-user", admin_enroll_user, "First enrollment of a user with no account anywhere yet" },
    { "recover-user", admin_recover_user, "New one-time password from the fleet's key escrow" },
    { "publish", admin_publish, "Sign the directory and upload it to fleet/directory" },
    { "show", admin_show, "List the directory's users and groups" },
    { "report", admin_report, "Whose backups are stale: the fleet's health reports" },
    { "verify", admin_verify, "Check a signed directory file as a workstation would" },
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal admin [--source FILE] COMMAND [ARGS...]\n\n"
               "Administer a fleet: its signing key and the signed user directory.\n"
               "The directory source is a JSON file meant to be kept in git (--source,\n"
               "[fleet] source, or ./%s).\n\nCommands:\n", ADMIN_DEFAULT_SOURCE);
    for (size_t i = 0; i < sizeof(admin_commands) / sizeof(admin_commands[0]); i++)
        fprintf(f, "  %-14s %s\n", admin_commands[i].name, admin_commands[i].summary);
    fprintf(f, "\nRun 'cloudseal admin COMMAND --help' for its options; see cloudseal-admin(8).\n");
}

int cmd_admin(int argc, char **argv)
{
    static const struct option opts[] = {
        { "source", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        {}
    };
    int c;

    while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': admin_source_path = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < sizeof(admin_commands) / sizeof(admin_commands[0]); i++) {
        if (strcmp(argv[optind], admin_commands[i].name) == 0) {
            argv += optind;
            argc -= optind;
            optind = 0;
            return admin_commands[i].fn(argc, argv);
        }
    }
    log_error("unknown admin command '%s'; run 'cloudseal admin --help' for the list", argv[optind]);
    return CLI_USAGE;
}
