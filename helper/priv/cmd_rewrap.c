/* SPDX-License-Identifier: MIT */
/* cloudseal-helper rewrap: replace the password slot of the user's keybag.
 * The old secret (password, recovery key, or the account key itself with
 * --old key) and the new password arrive as two frames on fd 0.  Used by
 * pam_cloudseal.so for a password change (PAM chauthtok) and for password
 * drift repair (the login password was changed outside PAM). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "account/account.h"
#include "util/log.h"

struct set_password_args {
    const char *user;
    const cs_amk *amk;
    const cs_secret *password;
};

static int set_password(void *arg)
{
    const struct set_password_args *a = arg;

    return cs_account_set_password(helper_config(), a->user, a->amk, a->password);
}

int helper_set_password(const struct passwd *pw, const char *user, const cs_amk *amk,
                        const cs_secret *password)
{
    return helper_as_user(pw, set_password, &(struct set_password_args){ user, amk, password });
}

int helper_rewrap(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "old", required_argument, NULL, 'o' },
        { "output-key", no_argument, NULL, 'k' },
        {}
    };
    _cleanup_secret_ cs_secret *old = NULL;
    _cleanup_secret_ cs_secret *new_password = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    const char *user = NULL, *kind = "password";
    bool output_key = false;
    char pwbuf[4096];
    struct passwd pw;
    int c, r, code;

    while ((c = cs_verb_getopt(argc, argv, "u:o:k", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 'o': kind = optarg; break;
        case 'k': output_key = true; break;
        default: return helper_opt_exit(c);
        }
    }
    if (strcmp(kind, "password") && strcmp(kind, "recovery") && strcmp(kind, "either") && strcmp(kind, "key")) {
        log_error("--old wants password, recovery, either or key");
        return CS_HELPER_USAGE;
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    r = strcmp(kind, "key") == 0 ? helper_read_amk(STDIN_FILENO, &amk)
                                 : helper_read_secret(STDIN_FILENO, &old);
    if (r == 0)
        r = helper_read_secret(STDIN_FILENO, &new_password);
    if (r < 0) {
        log_error_errno(r, "could not read the secrets from fd 0");
        return CS_HELPER_USAGE;
    }
    if (new_password->len == 0) {
        log_error("refusing an empty new password");
        return CS_HELPER_USAGE;
    }
    if (!amk) {
        /* a fleet user's old secret opens only a keybag the directory allows
         * (the pinned account, not superseded), as at login */
        cs_account_expect expect;
        bool in_fleet = helper_fleet_expect(user, &expect) == CS_HELPER_OK;

        r = helper_unlock_expect(helper_config(), user, old, kind, CS_UNLOCK_LOGIN, in_fleet ? &expect : NULL,
                                 &amk);
        if (r < 0) {
            code = helper_exit_code(r);
            log_error("keys of %s not re-wrapped: the old secret did not unlock them (%s)", user,
                      code == CS_HELPER_INTERNAL ? strerror(-r) : helper_exit_reason(code));
            return code;
        }
    }
    /* Written as the user, like `cloudseal enroll` wrote it: the new keybag
     * in storage and the cache stay the user's own files, readable by their
     * CLI and agent (a root-owned object in file:// storage would not be). */
    r = helper_set_password(&pw, user, amk, new_password);
    if (r < 0) {
        code = helper_exit_code(r);
        log_error("keys of %s not re-wrapped to the new password: %s", user,
                  code == CS_HELPER_INTERNAL ? strerror(-r) : helper_exit_reason(code));
        return code;
    }
    if (output_key && helper_write_frame(STDOUT_FILENO, amk->key, CS_KEY_BYTES) < 0) {
        log_error("could not hand the key back on fd 1");
        return CS_HELPER_INTERNAL;
    }
    return CS_HELPER_OK;
}
