/* SPDX-License-Identifier: MIT */
/* cloudseal admin: fleet administration.  Its sub-verbs are a verb table of
 * their own (admin_commands.def), dispatched as the tool's are, each in an
 * admin_*.c file:
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

#include "admin.h"
#include "cli_opts.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/verbs.h"

const char *admin_source_path;

static const cs_verb admin_commands[] = {
#define ADMIN_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "admin_commands.def"
#undef ADMIN_COMMAND
};

/* after admin's usage (commands.def): the sub-verbs */
static void list_commands(FILE *f)
{
    fprintf(f, "\nCommands:\n");
    cs_verbs_print(f, admin_commands, CS_ARRAY_SIZE(admin_commands), 14);
    fprintf(f, "\nRun 'cloudseal admin COMMAND --help' for its options; see cloudseal-admin(8).\n");
}

int cmd_admin(int argc, char **argv)
{
    static const struct option opts[] = {
        { "source", required_argument, NULL, 's' },
        {}
    };
    int c, r, ex;

    /* '+': stop at the sub-verb, whose options are its own */
    while ((c = cli_getopt(argc, argv, "+s:", opts)) != -1) {
        if (c != 's') {
            if (c == CLI_OPT_HELP)
                list_commands(stdout);
            return cli_opt_exit(c);
        }
        admin_source_path = optarg;
    }
    r = cs_verb_dispatch(admin_commands, CS_ARRAY_SIZE(admin_commands), argc, argv, &ex);
    if (r == -ENOENT)
        log_error("unknown admin command '%s'; run 'cloudseal admin --help' for the list", argv[optind]);
    return r < 0 ? CLI_USAGE : ex;
}
