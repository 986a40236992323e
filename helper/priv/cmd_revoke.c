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

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal-helper [--config FILE] revoke --user NAME [--session] [--lock logout|reboot]\n\n"
               "Revoke the user's account key from their kernel keyring.\n\n"
               "  --user NAME      whose key (non-root callers: only their own)\n"
               "  --session        a session closes: forget it, and revoke only when it was\n"
               "                   the user's last open session and the lock mode is logout\n"
               "  --lock MODE      logout or reboot (default: [session] lock in the config)\n");
}

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
        { "help", no_argument, NULL, 'h' },
        {}
    };
    const char *user = NULL, *lock = NULL;
    bool session = false;
    char id[CS_ACCOUNT_ID_MAX], pwbuf[4096];
    struct passwd pw;
    int c, r, code;

    while ((c = getopt_long(argc, argv, "u:Sl:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 'S': session = true; break;
        case 'l': lock = optarg; break;
        case 'h': usage(stdout); return CS_HELPER_OK;
        default: usage(stderr); return CS_HELPER_USAGE;
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
