/* SPDX-License-Identifier: MIT */
/* cloudseal unlock: unlock your keys into the kernel keyring, for sessions
 * that started without a password (SSH keys, autologin); with --fido2 by
 * a security key (policy any: the key alone; both: the password, then the
 * key -- which a plain unlock of a both account asks for as well). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "util/log.h"
#include "util/macros.h"

static bool already_unlocked(const char *id)
{
    _cleanup_amk_ cs_amk *amk = NULL;

    return cs_keyring_load(id, &amk) == 0;
}

int cmd_unlock(int argc, char **argv)
{
    static const struct option opts[] = {
        { "timeout", required_argument, NULL, 't' },
        { "fido2", no_argument, NULL, 'f' },
        {}
    };
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    char id[CS_ACCOUNT_ID_MAX];
    int64_t timeout = 0;
    bool fido2 = false;
    cs_fido2_policy policy;
    int c, r;

    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 't':
            if (cs_parse_duration(optarg, &timeout) < 0 || timeout > UINT32_MAX) {
                log_error("--timeout: '%s' is not a duration like 30min or 8h", optarg);
                return CLI_USAGE;
            }
            break;
        case 'f':
            fido2 = true;
            break;
        default: return cli_opt_exit(c);
        }
    }
    if (cli_account_id(user, id) < 0)
        return CLI_NOT_FOUND;
    /* --fido2 asked: storage's word (keys may have been added elsewhere) */
    policy = cs_account_fido2_policy(cli_config(), user, 0, !fido2);
    /* Unlocked already (by the login): nothing to ask.  A password given on
     * stdin is still checked and unlocks again (a refreshed keybag). */
    if (!timeout && already_unlocked(id)) {
        if (cli_password_stdin && cs_secret_read_fd(STDIN_FILENO, &pw) == 0 && pw->len > 0)
            goto unlock;
        if (!cli.quiet)
            printf("Already unlocked: nothing to do ('cloudseal lock' locks).\n");
        return CLI_OK;
    }
    if (fido2 && policy == CS_FIDO2_POLICY_NONE) {
        log_error("no security key is enrolled for your keys: add one with 'cloudseal key add-fido2'");
        return CLI_NOT_FOUND;
    }
    if ((!fido2 || policy == CS_FIDO2_POLICY_BOTH) && cli_read_secret("Cloudseal password: ", &pw) < 0)
        return CLI_USAGE;
unlock:
    if (fido2 || policy == CS_FIDO2_POLICY_BOTH) {
        if ((r = cli_unlock_fido2(user, pw, "cloudseal unlock --fido2", &amk)) != CLI_OK)
            return r;
    } else if ((r = cs_account_unlock(cli_config(), user, pw, 0, &amk)) < 0) {
        return cli_report(r, "cannot unlock");
    }
    if ((r = cli_unlock_sessions(amk, (unsigned)timeout)) < 0)
        return cli_report(r, "cannot put the key in your keyring");
    if (!cli.quiet)
        printf("Unlocked.\n");
    if (cs_account_password_expired(cli_config(), user, amk) > 0)
        log_warning("your password was set by an administrator: choose your own with 'cloudseal passwd'");
    return CLI_OK;
}
