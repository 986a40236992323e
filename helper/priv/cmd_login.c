/* SPDX-License-Identifier: MIT */
/* cloudseal-helper login: the whole session-open step of a password login
 * in one process (one exec per login): unwrap the keybag with the login
 * password and store the key in the user's @u keyring.
 *
 * pam_cloudseal.so's auth step only keeps the password (no exec, so sudo,
 * polkit and screen lockers that authenticate without opening a session pay
 * nothing); session open runs this.  Password drift: when the login password
 * does not unwrap (exit 10), the module asks the user for the previous
 * password or the recovery key and runs `login --previous`: two frames, the
 * login password and that answer; the answer unwraps, the password slot is
 * re-wrapped to the login password (the stack accepted it), the key is
 * handed off. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "account/account.h"
#include "crypto/keybag.h"
#include "util/log.h"
#include "util/parse.h"

/* Does this unlock error mean that a keybag exists (so that the user is
 * enrolled and the session is worth recording)?  Decided from the error
 * rather than by loading the keybag again, which could wait for storage
 * a second time. */
static bool keybag_exists(int code)
{
    return code == CS_HELPER_WRONG_PASSWORD || code == CS_HELPER_CORRUPT || code == CS_HELPER_ROLLBACK;
}

typedef struct login_args {
    const char *user;
    bool session, previous;
    unsigned key_timeout;
} login_args;

static int parse(int argc, char **argv, login_args *a)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "session", no_argument, NULL, 'S' },
        { "previous", no_argument, NULL, 'p' },
        { "key-timeout", required_argument, NULL, 't' },
        {}
    };
    uint64_t t;
    int c;

    while ((c = cs_verb_getopt(argc, argv, "u:Spt:", opts, NULL)) != -1) {
        switch (c) {
        case 'u': a->user = optarg; break;
        case 'S': a->session = true; break;
        case 'p': a->previous = true; break;
        case 't':
            if (cs_parse_uint(optarg, 0, 10UL * 365 * 86400, &t) < 0) {
                log_error("--key-timeout wants a number of seconds");
                return CS_HELPER_USAGE;
            }
            a->key_timeout = (unsigned)t;
            break;
        case CS_VERB_HELP: return -1;
        default: return CS_HELPER_USAGE;
        }
    }
    return CS_HELPER_OK;
}

/* Drift repair: `previous` unwraps, then the slot is wrapped to `login`.
 * A failed re-wrap does not keep the key from the session: logged, and
 * reported by the exit code after the hand-off. */
static int unlock_previous(const struct passwd *pw, const char *user, const cs_secret *login,
                           const cs_secret *previous, cs_amk **amk, int *rewrap_code)
{
    int r = helper_unlock_kind(helper_config(), user, previous, "either", CS_UNLOCK_LOGIN, amk);

    if (r < 0)
        return r;
    r = helper_set_password(pw, user, *amk, login);
    if (r < 0) {
        *rewrap_code = helper_exit_code(r);
        if (*rewrap_code == CS_HELPER_OK || *rewrap_code == CS_HELPER_WRONG_PASSWORD)
            *rewrap_code = CS_HELPER_INTERNAL;
        log_error("password drift of %s not repaired: %s", user,
                  *rewrap_code == CS_HELPER_INTERNAL ? strerror(-r) : helper_exit_reason(*rewrap_code));
    }
    return 0;
}

int helper_login(int argc, char **argv)
{
    _cleanup_secret_ cs_secret *login = NULL;
    _cleanup_secret_ cs_secret *previous = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    login_args a = { 0 };
    char id[CS_ACCOUNT_ID_HEX + 1], pwbuf[4096];
    struct passwd pw;
    int r, code, rewrap_code = CS_HELPER_OK;

    code = parse(argc, argv, &a);
    if (code < 0)
        return CS_HELPER_OK; /* --help */
    if (code != CS_HELPER_OK)
        return code;
    code = helper_resolve_user(a.user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    /* a session opens: what the user's own `cloudseal enroll` needs */
    if (a.session)
        (void)helper_prepare_user(helper_config(), &pw, LOG_DEBUG);
    r = helper_read_secret(STDIN_FILENO, &login);
    if (r == 0 && a.previous)
        r = helper_read_secret(STDIN_FILENO, &previous);
    if (r < 0) {
        log_error_errno(r, "could not read the secrets from fd 0");
        return CS_HELPER_USAGE;
    }
    if (a.previous)
        r = unlock_previous(&pw, a.user, login, previous, &amk, &rewrap_code);
    else
        r = helper_unlock_password(helper_config(), a.user, login, CS_UNLOCK_LOGIN, NULL, &amk);
    code = helper_exit_code(r);
    /* the session is recorded for every enrolled user, so that a later
     * 'cloudseal unlock' is not revoked by another session's logout */
    if (a.session && (r == 0 || keybag_exists(code)))
        helper_record_session(a.user);
    if (r < 0) {
        log_error("keys of %s not unlocked: %s", a.user,
                  code == CS_HELPER_INTERNAL ? strerror(-r) : helper_exit_reason(code));
        return code;
    }
    r = cs_account_id_from_amk(amk, id);
    if (r == 0)
        r = helper_store_key(&pw, id, amk, a.key_timeout);
    if (r < 0) {
        log_error_errno(r, "key of %s not stored in the keyring", a.user);
        return CS_HELPER_INTERNAL;
    }
    return rewrap_code;
}
