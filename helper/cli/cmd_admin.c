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
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/verbs.h"

const char *admin_source_path;

#define ANY CS_VERB_ANY
static const cs_verb admin_commands[] = {
    { "keygen", ANY, ANY, 0, admin_keygen, "Create the fleet signing keypair (and --escrow keypair)", NULL },
    { "init", ANY, ANY, 0, admin_init, "Create a new directory source file", NULL },
    { "add-user", ANY, ANY, 0, admin_edit, "Add a user (uid allocated deterministically unless --uid)", NULL },
    { "set-user", ANY, ANY, 0, admin_edit, "Change a user's gecos, home, shell or primary gid", NULL },
    { "remove-user", ANY, ANY, 0, admin_edit, "Remove a user (and its private group)", NULL },
    { "disable-user", ANY, ANY, 0, admin_edit, "Keep the user's ids but refuse their logins", NULL },
    { "enable-user", ANY, ANY, 0, admin_edit, "Undo disable-user", NULL },
    { "add-group", ANY, ANY, 0, admin_edit, "Add a group", NULL },
    { "remove-group", ANY, ANY, 0, admin_edit, "Remove a group", NULL },
    { "add-member", ANY, ANY, 0, admin_edit, "Add users to a group: add-member GROUP USER...", NULL },
    { "remove-member", ANY, ANY, 0, admin_edit, "Remove users from a group: remove-member GROUP USER...", NULL },
    { "approve", ANY, ANY, 0, admin_approve, "Pin a user's account public key (from `cloudseal enroll`)", NULL },
    { "enroll-user", ANY, ANY, 0, admin_enroll_user, "First enrollment of a user with no account anywhere yet", NULL },
    { "recover-user", ANY, ANY, 0, admin_recover_user, "New one-time password from the fleet's key escrow", NULL },
    { "publish", ANY, ANY, 0, admin_publish, "Sign the directory and upload it to fleet/directory", NULL },
    { "show", ANY, ANY, 0, admin_show, "List the directory's users and groups", NULL },
    { "report", ANY, ANY, 0, admin_report, "Whose backups are stale: the fleet's health reports", NULL },
    { "verify", ANY, ANY, 0, admin_verify, "Check a signed directory file as a workstation would", NULL },
};
#undef ANY

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal admin [--source FILE] COMMAND [ARGS...]\n\n"
               "Administer a fleet: its signing key and the signed user directory.\n"
               "The directory source is a JSON file meant to be kept in git (--source,\n"
               "[fleet] source, or ./%s).\n\nCommands:\n", ADMIN_DEFAULT_SOURCE);
    cs_verbs_print(f, admin_commands, CS_ARRAY_SIZE(admin_commands), 14);
    fprintf(f, "\nRun 'cloudseal admin COMMAND --help' for its options; see cloudseal-admin(8).\n");
}

int cmd_admin(int argc, char **argv)
{
    static const struct option opts[] = {
        { "source", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        {}
    };
    int c, r, ex;

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
    r = cs_verb_dispatch(admin_commands, CS_ARRAY_SIZE(admin_commands), argc, argv, &ex);
    if (r == -ENOENT)
        log_error("unknown admin command '%s'; run 'cloudseal admin --help' for the list", argv[optind]);
    return r < 0 ? CLI_USAGE : ex;
}
