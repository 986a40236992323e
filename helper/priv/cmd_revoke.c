/* SPDX-License-Identifier: MIT */
/* cloudseal-helper revoke: revoke the account key from the user's keyring,
 * acting as the user.  With --session (session close), only when the caller's
 * session was the user's last live one and lock = logout. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "util/log.h"

static int revoke_as_user(void *arg)
{
    return cs_keyring_revoke(arg);
}

int helper_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "session", no_argument, NULL, 'S' },
        { "lock", required_argument, NULL, 'l' },
        {}
    };
    const char *user = NULL, *lock = NULL;
    bool session = false;
    char id[CS_ACCOUNT_ID_MAX], pwbuf[4096];
    struct passwd pw;
    int c, r, code;

    while ((c = cs_verb_getopt(argc, argv, "u:Sl:", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 'S': session = true; break;
        case 'l': lock = optarg; break;
        default: return helper_opt_exit(c);
        }
    }
    if (!lock)
        lock = cs_config_str(helper_config(), "session", "lock");
    if (!lock || (strcmp(lock, "logout") && strcmp(lock, "reboot"))) {
        log_error("lock mode must be logout or reboot, not '%s'", lock ? lock : "");
        return CS_HELPER_USAGE;
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    /* CS_UNLOCK_CACHE_ONLY inside cs_account_id first: no storage round trip
     * at logout for an enrolled user. */
    r = cs_account_id(helper_config(), user, id);
    if (r < 0)
        return helper_exit_code(r); /* not enrolled: nothing to revoke, nothing to say */
    if (session) {
        r = helper_session_remove(helper_config(), user);
        if (r > 0) {
            log_debug("%s still has %d session(s): key kept", user, r);
            return CS_HELPER_OK;
        }
        if (r < 0 && r != -EPERM)
            log_warning("session bookkeeping of %s failed (%s); revoking anyway", user, strerror(-r));
        if (strcmp(lock, "reboot") == 0) {
            log_debug("lock = reboot: key of %s kept after the last session", user);
            return CS_HELPER_OK;
        }
    }
    r = helper_as_user(&pw, revoke_as_user, id);
    if (r == -ENOKEY)
        return session ? CS_HELPER_OK : CS_HELPER_NO_KEY;
    if (r < 0) {
        log_error_errno(r, "key of %s not revoked", user);
        return CS_HELPER_INTERNAL;
    }
    return CS_HELPER_OK;
}
