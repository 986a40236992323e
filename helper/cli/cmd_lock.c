/* SPDX-License-Identifier: MIT */
/* cloudseal lock: revoke the unlocked key from the kernel keyring. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "agent_client.h"
#include "cli.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal lock\n\n"
               "Lock your keys now: revoke them from the kernel keyring of all your\n"
               "sessions.  Backups pause until the next login or 'cloudseal unlock'.\n\n"
               "  -h, --help  show this help\n");
}

int cmd_lock(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        {}
    };
    const char *user = cli_user();
    char id[CS_ACCOUNT_ID_MAX];
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (cli_account_id(user, id) < 0)
        return CLI_NOT_FOUND;
    r = cs_keyring_revoke(id);
    agent_notify_lock(); /* the agent holds its own copy: it must drop it too */
    if (r == -ENOKEY) {
        if (!cli.quiet)
            printf("Already locked.\n");
        return CLI_OK;
    }
    if (r < 0)
        return cli_report(r, "cannot lock");
    if (!cli.quiet)
        printf("Locked.\n");
    return CLI_OK;
}
