/* SPDX-License-Identifier: MIT */
/* cloudseal-helper handoff: the account key in on fd 0, stored in the user's
 * kernel keyring (@u) by a child that has dropped to the user's uid, once it
 * is proven to be that user's: the account id it derives must be the one
 * of the user's keybag (`sudo -u B` run by A must not put A's key into B's
 * keyring, whatever the PAM application did with PAM_USER).  With
 * --session the calling PAM application's session is also recorded, so that
 * `revoke --session` can tell the user's last session (sessions.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "account/account.h"
#include "crypto/keybag.h"
#include "crypto/keyring.h"
#include "util/log.h"
#include "util/parse.h"

struct store_args {
    const char *account_id;
    const cs_amk *amk;
    unsigned timeout;
};

static int store_as_user(void *arg)
{
    const struct store_args *a = arg;

    return cs_keyring_store(a->account_id, a->amk, a->timeout);
}

int helper_store_key(const struct passwd *pw, const char *account_id, const cs_amk *amk,
                     unsigned key_timeout)
{
    return helper_as_user(pw, store_as_user, &(struct store_args){ account_id, amk, key_timeout });
}

void helper_record_session(const char *user)
{
    int r = helper_session_add(helper_config(), user);

    if (r < 0 && r != -EPERM) /* not root: no session bookkeeping, not an error */
        log_warning_errno(r, "could not record the session of %s", user);
    else if (r >= 0)
        log_debug("%s has %d open session(s)", user, r);
}

/* Is amk the key of the account named id (the user's keybag)?  The id is
 * BLAKE2b of the account public key the AMK derives (docs/keybag.md). */
static bool key_is_accounts(const cs_amk *amk, const char *id)
{
    char derived[CS_ACCOUNT_ID_HEX + 1];

    return cs_account_id_from_amk(amk, derived) == 0 && strcmp(derived, id) == 0;
}

static int key_present_as_user(void *arg)
{
    _cleanup_amk_ cs_amk *amk = NULL;

    return cs_keyring_load(arg, &amk);
}

int helper_give_key(const struct passwd *pw, const char *user, const cs_amk *amk, bool session,
                    unsigned timeout, bool tell_locked)
{
    char id[CS_ACCOUNT_ID_MAX];
    int r, code;

    /* The account id names the keyring key; it also tells whether the user
     * is enrolled at all (only enrolled users' sessions are recorded). */
    r = cs_account_id(helper_config(), user, id);
    if (r < 0) {
        code = helper_exit_code(r);
        if (code != CS_HELPER_NOT_ENROLLED || amk)
            log_error("key of %s not handed to the keyring: %s", user, helper_exit_reason(code));
        return code;
    }
    if (amk && !key_is_accounts(amk, id)) {
        log_error("key not handed to the keyring of %s: it is not the key of %s's account "
                  "(another user's key: sudo -u or su after authenticating someone else?)", user, user);
        return CS_HELPER_WRONG_ACCOUNT;
    }
    if (session)
        helper_record_session(user);
    if (!amk) /* a login without a password: are the keys locked? (the hint of key logins) */
        return tell_locked && helper_as_user(pw, key_present_as_user, id) == -ENOKEY ? CS_HELPER_NO_KEY
                                                                                       : CS_HELPER_OK;
    r = helper_store_key(pw, id, amk, timeout);
    if (r < 0) {
        log_error_errno(r, "key of %s not stored in the keyring", user);
        return CS_HELPER_INTERNAL;
    }
    return CS_HELPER_OK;
}

int helper_handoff(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "session", no_argument, NULL, 'S' },
        { "no-key", no_argument, NULL, 'n' },
        { "key-timeout", required_argument, NULL, 't' },
        { "tell-locked", no_argument, NULL, 'L' },
        {}
    };
    _cleanup_amk_ cs_amk *amk = NULL;
    const char *user = NULL;
    bool session = false, no_key = false, tell_locked = false;
    uint64_t timeout = 0;
    char pwbuf[4096];
    struct passwd pw;
    int c, r, code;

    while ((c = cs_verb_getopt(argc, argv, "u:Snt:L", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 'S': session = true; break;
        case 'n': no_key = true; break;
        case 'L': tell_locked = true; break;
        case 't':
            if (cs_parse_uint(optarg, 0, 10UL * 365 * 86400, &timeout) < 0) {
                log_error("--key-timeout wants a number of seconds");
                return CS_HELPER_USAGE;
            }
            break;
        default: return helper_opt_exit(c);
        }
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    /* a session opens: what the user's own `cloudseal enroll` needs */
    if (session)
        (void)helper_prepare_user(helper_config(), &pw, LOG_DEBUG);
    if (!no_key) {
        r = helper_read_amk(STDIN_FILENO, &amk);
        if (r < 0) {
            log_error_errno(r, "could not read the key from fd 0");
            return CS_HELPER_USAGE;
        }
    }
    return helper_give_key(&pw, user, no_key ? NULL : amk, session, (unsigned)timeout, tell_locked);
}
