/* SPDX-License-Identifier: MIT */
/* cloudseal recover: set a new password with the recovery key. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "crypto/recovery.h"
#include "util/log.h"
#include "util/macros.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal recover [--password-stdin]\n\n"
               "Forgot the password of your keys (or your login password was reset by an\n"
               "administrator)?  Type the recovery key shown at enrollment, then choose a\n"
               "new password (use your current login password so that login unlocks them).\n"
               "Spaces, dashes and letter case in the recovery key do not matter.\n\n"
               "  --password-stdin  read the recovery key and the new password as two lines of stdin\n"
               "  -h, --help        show this help\n");
}

int cmd_recover(int argc, char **argv)
{
    static const struct option opts[] = {
        { "password-stdin", no_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        {}
    };
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *code = NULL;
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    uint8_t *key;
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': cli_password_stdin = true; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return CLI_USAGE;
    }
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
    r = cs_account_set_password(cli_config(), user, amk, pw);
    if (r < 0)
        return cli_report(r, "cannot set the new password");
    if (cli_unlock_sessions(amk, 0) < 0) {
        log_warning("new password set, but your keys are still locked: run 'cloudseal unlock'");
    } else if (!cli.quiet) {
        printf("New password set and your keys unlocked.  Your recovery key stays valid; keep it safe.\n");
    }
    return CLI_OK;
}
