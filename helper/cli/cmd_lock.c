/* SPDX-License-Identifier: MIT */
/* cloudseal lock: revoke the unlocked key from the kernel keyring. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "agent_client.h"
#include "cli.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "util/log.h"

int cmd_lock(int argc, char **argv)
{
    const char *user = cli_user();
    char id[CS_ACCOUNT_ID_MAX];
    int c, r;

    if ((c = cli_getopt(argc, argv, "", NULL)) != -1)
        return cli_opt_exit(c);
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
