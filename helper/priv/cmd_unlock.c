/* SPDX-License-Identifier: MIT */
/* cloudseal-helper unlock: password (or recovery key) in on fd 0, AMK out on
 * fd 1.  The login path: storage with the short login timeout, falling back
 * to the local cache. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include <sodium.h>

#include "account/account.h"
#include "crypto/recovery.h"
#include "util/log.h"

/* Unlock with a secret that may be a recovery code or a password (drift
 * repair).  Whether the text has the form of a recovery code is decided here,
 * without I/O, so that storage is fetched once: a call per guess would fetch
 * the keybag twice and could make a login wait twice the login timeout when
 * storage is down.  Only a password that happens to have the exact form of a
 * recovery code (56 base32 characters) is tried both ways. */
static int helper_unlock_either(const cs_config *cfg, const char *user, const cs_secret *secret,
                                int flags, const cs_account_expect *e, cs_amk **amk)
{
    uint8_t key[CS_RECOVERY_KEY_BYTES];
    bool is_code = cs_recovery_parse(secret->data, secret->len, key) == 0;
    int r;

    sodium_memzero(key, sizeof(key));
    if (!is_code)
        return helper_unlock_password(cfg, user, secret, flags, e, amk);
    r = cs_account_unlock_expect(cfg, user, secret, flags | CS_UNLOCK_RECOVERY, e, amk);
    if (r == -EACCES)
        r = helper_unlock_password(cfg, user, secret, flags, e, amk);
    return r;
}

int helper_unlock_expect(const cs_config *cfg, const char *user, const cs_secret *secret, const char *kind,
                         int flags, const cs_account_expect *e, cs_amk **amk)
{
    int lock = helper_serialise_user(cfg, user); /* one derivation per user at a time */

    if (lock < 0)
        return lock;
    if (!kind || strcmp(kind, "password") == 0)
        return helper_unlock_password(cfg, user, secret, flags, e, amk);
    if (strcmp(kind, "recovery") == 0) {
        int r = cs_account_unlock_expect(cfg, user, secret, flags | CS_UNLOCK_RECOVERY, e, amk);
        return r == -EINVAL || r == -EILSEQ ? -EACCES : r; /* a mistyped code is a wrong secret */
    }
    return helper_unlock_either(cfg, user, secret, flags, e, amk);
}

int helper_unlock_kind(const cs_config *cfg, const char *user, const cs_secret *secret,
                       const char *kind, int flags, cs_amk **amk)
{
    return helper_unlock_expect(cfg, user, secret, kind, flags, NULL, amk);
}

/* Was the password set by an administrator (cs_keybag_expire_password)?
 * When the mark cannot be read the login goes on (the password was verified). */
static bool password_expired(const char *user, const cs_amk *amk)
{
    int r = cs_account_password_expired(helper_config(), user, amk);

    if (r < 0)
        log_warning_errno(r, "could not tell whether the password of %s must be changed", user);
    return r > 0;
}

int helper_unlock(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "secret", required_argument, NULL, 's' },
        { "cache-only", no_argument, NULL, 'C' },
        { "fleet", no_argument, NULL, 'F' },
        {}
    };
    _cleanup_secret_ cs_secret *secret = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    const char *user = NULL, *kind = "password";
    int flags = CS_UNLOCK_LOGIN, c, r, code;
    cs_account_expect expect = { 0 };
    bool fleet = false;
    struct passwd pw;
    char pwbuf[4096];

    while ((c = cs_verb_getopt(argc, argv, "u:s:CF", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 's': kind = optarg; break;
        case 'C': flags |= CS_UNLOCK_CACHE_ONLY; break;
        case 'F': fleet = true; break;
        default: return helper_opt_exit(c);
        }
    }
    if (strcmp(kind, "password") && strcmp(kind, "recovery") && strcmp(kind, "either")) {
        log_error("--secret wants password, recovery or either");
        return CS_HELPER_USAGE;
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (fleet && code == CS_HELPER_NOT_ENROLLED)
        return CS_HELPER_NOT_IN_FLEET; /* unknown to NSS: let the stack try other modules */
    if (code != CS_HELPER_OK)
        return code;
    /* A user the directory refuses (or does not know, or has no key for)
     * costs no KDF run and no storage fetch.  The pinned key is read first:
     * a keybag from storage is not trusted for who the user is (anyone who
     * can write the bucket could plant one wrapped under a password of their
     * choice), so it is opened, cached and pinned only if it is the pinned
     * account's, and not older than the directory's keybag generation. */
    if (fleet && ((code = helper_fleet_expect(user, &expect)) != CS_HELPER_OK ||
                  (code = helper_fleet_nss_check(user)) != CS_HELPER_OK))
        return code;
    r = helper_read_secret(STDIN_FILENO, &secret);
    if (r < 0) {
        log_error_errno(r, "could not read the secret from fd 0");
        return CS_HELPER_USAGE;
    }
    r = helper_unlock_expect(helper_config(), user, secret, kind, flags, fleet ? &expect : NULL, &amk);
    if (r < 0) {
        code = helper_exit_code(r);
        log_error("keys of %s not unlocked: %s", user,
                  code == CS_HELPER_INTERNAL ? strerror(-r) : helper_exit_reason(code));
        return code;
    }
    /* unlock proved it already; the directory may have changed meanwhile */
    if (fleet && (code = helper_fleet_check_amk(user, amk)) != CS_HELPER_OK)
        return code;
    r = helper_write_frame(STDOUT_FILENO, amk->key, CS_KEY_BYTES);
    if (r < 0) {
        log_error_errno(r, "could not hand the key back on fd 1");
        return CS_HELPER_INTERNAL;
    }
    return fleet && password_expired(user, amk) ? CS_HELPER_PASSWORD_EXPIRED : CS_HELPER_OK;
}
