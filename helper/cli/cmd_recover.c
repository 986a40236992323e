/* SPDX-License-Identifier: MIT */
/* cloudseal recover: set a new password with the recovery key. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "crypto/recovery.h"
#include "util/log.h"
#include "util/macros.h"

int cmd_recover(int argc, char **argv)
{
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *code = NULL;
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    uint8_t *key;
    int c, r;

    if ((c = cli_getopt(argc, argv, "", NULL)) != -1)
        return cli_opt_exit(c);
    if (cli_read_secret("Recovery key: ", &code) < 0)
        return CLI_USAGE;
    /* check the typing first, so that a typo is reported as one */
    key = cs_secure_alloc(CS_RECOVERY_KEY_BYTES);
    if (!key)
        return cli_report(-ENOMEM, "recovery");
    r = cs_recovery_parse(code->data, code->len, key);
    cs_secure_free(key);
    if (r == -EINVAL) {
        log_error("that is not a recovery key: it has %d groups of 4 letters and digits",
                  CS_RECOVERY_CODE_CHARS / 4);
        return CLI_USAGE;
    }
    if (r < 0)
        return cli_report(r, "recovery");
    r = cs_account_unlock(cli_config(), user, code, CS_UNLOCK_RECOVERY, &amk);
    if (r < 0)
        return cli_report(r, "recovery");
    if (cli_read_new_password(NULL, &pw) < 0)
        return CLI_USAGE;
    r = cs_account_recover_password(cli_config(), user, amk, pw);
    if (r < 0)
        return cli_report(r, "cannot set the new password");
    if (cli_unlock_sessions(amk, 0) < 0) {
        log_warning("new password set, but your keys are still locked: run 'cloudseal unlock'");
    } else if (!cli.quiet) {
        printf("New password set and your keys unlocked.  Your recovery key stays valid; keep it safe.\n");
    }
    return CLI_OK;
}
