/* SPDX-License-Identifier: MIT */
/* cloudseal-helper fleet-check: is this user a fleet user who may log in?
 * What pam_cloudseal.so's account hook (option authoritative) asks when the
 * auth step of the same handle did not already answer it (e.g. an SSH key
 * login).  Also the directory half of `unlock --fleet` (cmd_unlock.c).
 * Reads only the local directory cache ([fleet] cache), never storage: a
 * fleet user logs in offline from the cache the directory timer keeps. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"
#include "account/account.h"
#include "crypto/keys.h"
#include "fleet/fleet.h"
#include "util/log.h"

/* Map what lib/fleet says about a user to an exit code, with the reason. */
static int fleet_code(const char *user, int r)
{
    switch (r) {
    case 0:
        return CS_HELPER_OK;
    case -ENOENT:
        log_debug("%s is not in the installed fleet directory", user);
        return CS_HELPER_NOT_IN_FLEET;
    case -EPERM:
        log_error("%s is disabled in the fleet directory", user);
        return CS_HELPER_FLEET_DENIED;
    case -EKEYEXPIRED:
        log_error("the installed fleet directory has expired: fleet users cannot log in until "
                  "'systemctl start cloudseal-directory.service' installs a current one");
        return CS_HELPER_FLEET_DENIED;
    case -ENOKEY:
        log_error("no account key is pinned for %s yet: the administrator runs "
                  "'cloudseal admin approve %s --key KEY' and publishes", user, user);
        return CS_HELPER_FLEET_DENIED;
    case -EKEYREJECTED:
        log_error("the keybag of %s opened, but its account key is not the one the fleet directory "
                  "pins: someone may have planted a keybag; refused", user);
        return CS_HELPER_NOT_PINNED;
    default:
        log_error_errno(r, "cannot read the fleet directory cache");
        return CS_HELPER_INTERNAL;
    }
}

/* login(1), sshd and everything after the PAM stack ask NSS who the user
 * is, not our cache: when a local /etc/passwd line (or any NSS source listed
 * before cloudseal) has the fleet user's name with other ids, a fleet login
 * would hand the fleet user's password and key a session of that uid. */
int helper_fleet_nss_check(const char *user)
{
    struct passwd pw, *res = NULL;
    uint32_t uid, gid;
    char buf[4096];
    int r = cs_fleet_user_ids(helper_config(), user, &uid, &gid);

    if (r < 0)
        return fleet_code(user, r);
    r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
    if (r != 0 || !res) {
        log_error("NSS does not resolve %s (%s): check the cloudseal entry of nsswitch.conf", user,
                  r ? strerror(r) : "no entry");
        return CS_HELPER_FLEET_DENIED;
    }
    if (pw.pw_uid != uid || pw.pw_gid != gid) {
        log_error("%s resolves to uid %u gid %u, but the fleet directory says uid %u gid %u: a local "
                  "account (/etc/passwd or an NSS source before cloudseal) shadows the fleet user; "
                  "refused until the administrator removes or renames it", user, (unsigned)pw.pw_uid,
                  (unsigned)pw.pw_gid, uid, gid);
        return CS_HELPER_FLEET_DENIED;
    }
    return CS_HELPER_OK;
}

int helper_fleet_status(const char *user)
{
    /* lib/fleet answers "is exactly this key pinned?"; asked with a key no
     * keypair has (all zeros), an enabled user with a pinned key comes back
     * -EKEYREJECTED, which here means "in the directory and enabled".  A
     * user without an approved key cannot log in with a password (-ENOKEY),
     * but the account itself exists: fine for the account hook. */
    static const uint8_t none[CS_FLEET_PK_BYTES];
    int r = cs_fleet_check_pinned(helper_config(), user, none);

    int code;

    if (r == -EKEYREJECTED || r == -ENOKEY)
        r = 0;
    code = fleet_code(user, r);
    return code == CS_HELPER_OK ? helper_fleet_nss_check(user) : code;
}

int helper_fleet_expect(const char *user, cs_account_expect *e)
{
    cs_fleet_pin pin;
    int r = cs_fleet_pinned(helper_config(), user, &pin);

    memset(e, 0, sizeof(*e));
    if (r == 0) {
        e->has_account_key = true;
        memcpy(e->account_key, pin.key, sizeof(e->account_key));
        e->floor = pin.keybag_generation;
        e->has_floor_sha256 = pin.keybag_generation != 0;
        memcpy(e->floor_sha256, pin.keybag_sha256, sizeof(e->floor_sha256));
    }
    return fleet_code(user, r);
}

int helper_fleet_check_amk(const char *user, const cs_amk *amk)
{
    return fleet_code(user, cs_fleet_check_amk(helper_config(), user, amk));
}

int helper_fleet_check(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        {}
    };
    const char *user = NULL;
    struct passwd pw;
    char pwbuf[4096];
    int c, code;

    while ((c = cs_verb_getopt(argc, argv, "u:", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        default: return helper_opt_exit(c);
        }
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (code == CS_HELPER_NOT_ENROLLED)
        return CS_HELPER_NOT_IN_FLEET; /* not even known to NSS */
    if (code != CS_HELPER_OK)
        return code;
    return helper_fleet_status(user);
}
