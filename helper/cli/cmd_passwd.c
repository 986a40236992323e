/* SPDX-License-Identifier: MIT */
/* cloudseal passwd: change the password that protects your keys. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "unlock_common.h"
#include "account/account.h"
#include "util/log.h"
#include "util/macros.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal passwd [--password-stdin]\n\n"
               "Change the password of your keybag: asks the current password, then the\n"
               "new one twice.  Your keys stay the same; the keybag is rewrapped and\n"
               "uploaded (kept locally and uploaded later when storage is unreachable).\n"
               "Changing your login password through PAM (passwd(1)) does this for you.\n\n"
               "  --password-stdin  read the current and the new password as two lines of stdin\n"
               "  -h, --help        show this help\n");
}

int cmd_passwd(int argc, char **argv)
{
    static const struct option opts[] = {
        { "password-stdin", no_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        {}
    };
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *old = NULL;
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
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
