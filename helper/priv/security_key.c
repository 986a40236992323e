/* SPDX-License-Identifier: MIT */
/* Password logins of an account whose policy is "both" (docs/keybag.md,
 * "Security-key slots"): the password alone opens nothing, so the helper
 * asks the security key too, with a bounded wait for the touch; "Touch
 * your security key." and the key's PIN go through pam_cloudseal's
 * conversation (the prompt wire, ui.h).  Without the key (none plugged in,
 * not touched, no PIN given) the unlock fails with the device's error:
 * pam_cloudseal's piggyback session then goes on locked and says why; the
 * authoritative fleet login fails closed.  Policy "any" (and no key) is the
 * password path unchanged: nothing is asked. */
#include <errno.h>

#include "helper.h"
#include "ui.h"
#include "account/account.h"
#include "crypto/fido2.h"
#include "util/log.h"

#define KEY_TOUCH_TIMEOUT_MS 30000 /* the longest a login waits for a touch */

typedef struct key_ctx {
    cs_fido2_ui ui;
    int device_err; /* what the device said, when it failed */
} key_ctx;

static int get_secret(void *userdata, const char *rp_id, const cs_keybag_fido2 *slot, cs_secret **out)
{
    key_ctx *k = userdata;
    int r = cs_fido2_hmac_secret(rp_id, slot->cred_id, slot->cred_id_len, slot->salt, slot->flags, &k->ui, out);

    if (r < 0 && r != -ENOKEY)
        k->device_err = r; /* -ENOKEY: the next slot is tried */
    return r;
}

/* Say what the device's error means; -ENODEV for every one of them, so that
 * a wrong PIN is never taken for a wrong password (which pam_cloudseal
 * answers by asking for the previous one) nor a blocked PIN for a denied
 * caller: the line on stderr says which it was. */
static int device_failed(const char *user, int r)
{
    switch (r) {
    case -ENODEV:
        log_error("the keys of %s need a security key and none is plugged in: plug it in, then run "
                  "'cloudseal unlock --fido2'", user);
        break;
    case -ETIMEDOUT:
        log_error("the security key of %s was not touched within %d s: run 'cloudseal unlock --fido2'",
                  user, KEY_TOUCH_TIMEOUT_MS / 1000);
        break;
    case -ENOPKG:
    case -ECANCELED:
        log_error("the security key of %s needs its PIN and none was given: run 'cloudseal unlock --fido2'",
                  user);
        break;
    case -EACCES:
        log_error("wrong PIN for the security key of %s: run 'cloudseal unlock --fido2'", user);
        break;
    case -EPERM:
        log_error("the security key of %s refused (PIN blocked after too many wrong ones): the recovery key "
                  "is the way back ('cloudseal recover')", user);
        break;
    default:
        log_error_errno(r, "the security key of %s failed", user);
    }
    return -ENODEV;
}

int helper_unlock_password(const cs_config *cfg, const char *user, const cs_secret *password, int flags,
                           const cs_account_expect *expect, cs_amk **amk)
{
    key_ctx k = { .device_err = 0 };
    cs_account_fido2 how = { .get = get_secret, .userdata = &k, .password = password };
    int r;

    /* the cached copy decides (no second wait for storage at login) */
    if (cs_account_fido2_policy(cfg, user, flags, true) != CS_FIDO2_POLICY_BOTH)
        return cs_account_unlock_expect(cfg, user, password, flags, expect, amk);
    log_info("the keys of %s need the password and a security key: asking the key", user);
    helper_fido2_ui(&k.ui, KEY_TOUCH_TIMEOUT_MS);
    r = cs_account_unlock_fido2(cfg, user, &how, flags, expect, amk);
    if (r == -ENOKEY && !k.device_err) /* no key slot that counts (the keybag changed elsewhere) */
        r = cs_account_unlock_expect(cfg, user, password, flags, expect, amk);
    if (r < 0 && r == k.device_err)
        return device_failed(user, r);
    return r;
}
