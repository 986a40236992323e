/* SPDX-License-Identifier: MIT */
/* cloudseal admin: fleet administration.  Its sub-verbs are a verb table of
 * their own (admin_commands.def), run by cli_sub_run() as every verb's
 * sub-verbs are, each in an admin_*.c file:
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

#include "admin.h"
#include "cli_opts.h"
#include "util/macros.h"
#include "util/verbs.h"

const char *admin_source_path;

static const cs_verb admin_commands[] = {
#define ADMIN_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "admin_commands.def"
#undef ADMIN_COMMAND
};

static int admin_option(int c, const char *arg)
{
    (void)c; /* 's', the only one */
    admin_source_path = arg;
    return 0;
}

int cmd_admin(int argc, char **argv)
{
    static const struct option opts[] = {
        { "source", required_argument, NULL, 's' },
        {}
    };
    static const cli_sub admin = {
        .verbs = admin_commands, .n = CS_ARRAY_SIZE(admin_commands),
        .shortopts = "+s:", .opts = opts, .opt = admin_option,
        .footer = "See cloudseal-admin(8).\n",
    };

    return cli_sub_run(&admin, argc, argv);
}
