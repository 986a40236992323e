/* SPDX-License-Identifier: MIT */
/* cloudseal passwd: change the password that protects your keys. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "account/account.h"
#include "util/log.h"
#include "util/macros.h"

int cmd_passwd(int argc, char **argv)
{
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *old = NULL;
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    int c, r;

    if ((c = cli_getopt(argc, argv, "", NULL)) != -1)
        return cli_opt_exit(c);
    /* policy both: the password alone opens nothing, and a new one would
     * drop the keys (their slots are bound to this password) */
    if (cs_account_fido2_policy(cli_config(), user, 0, false) == CS_FIDO2_POLICY_BOTH) {
        log_error("your keys need your password and your security key: changing the password would remove "
                  "the keys; use 'cloudseal recover' (recovery key), then 'cloudseal key add-fido2 --policy "
                  "both' again");
        return CLI_FAILED;
    }
    if (cli_read_secret("Current cloudseal password: ", &old) < 0)
        return CLI_USAGE;
    r = cs_account_unlock(cli_config(), user, old, 0, &amk);
    if (r < 0)
        return cli_report(r, "cannot change the password");
    if (cli_read_new_password(NULL, &pw) < 0)
        return CLI_USAGE;
    r = cs_account_set_password(cli_config(), user, amk, pw);
    if (r < 0)
        return cli_report(r, "cannot change the password");
    if (!cli.quiet)
        printf("Password changed.  Use the new one from now on; your recovery key still works.\n");
    return CLI_OK;
}
