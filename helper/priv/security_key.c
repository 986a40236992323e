/* SPDX-License-Identifier: MIT */
/* Password logins of an account whose policy is "both" (docs/keybag.md,
 * "Security-key slots"): the password alone opens nothing, so the helper
 * asks the security key too, with a bounded wait for the touch.  Without
 * the key (none plugged in, not touched, a PIN needed that nobody can type
 * here) the unlock fails with the device's error: pam_cloudseal's piggyback
 * session then goes on locked and says why; the authoritative fleet login
 * fails closed.  Policy "any" (and no key) is the password path unchanged:
 * nothing is asked. */
#include <errno.h>

#include "helper.h"
#include "account/account.h"
#include "crypto/fido2.h"
#include "util/log.h"

#define KEY_TOUCH_TIMEOUT_MS 30000 /* the longest a login waits for a touch */

static void notify(void *userdata, const char *message)
{
    (void)userdata;
    log_info("%s", message); /* the journal; the conversation once the prompt wire exists */
}

static int get_secret(void *userdata, const char *rp_id, const cs_keybag_fido2 *slot, cs_secret **out)
{
    const cs_fido2_ui *ui = userdata;

    return cs_fido2_hmac_secret(rp_id, slot->cred_id, slot->cred_id_len, slot->salt, slot->flags, ui, out);
}

int helper_unlock_password(const cs_config *cfg, const char *user, const cs_secret *password, int flags,
                           const cs_account_expect *expect, cs_amk **amk)
{
    cs_fido2_ui ui = { .notify = notify, .timeout_ms = KEY_TOUCH_TIMEOUT_MS };
    cs_account_fido2 how = { .get = get_secret, .userdata = &ui, .password = password };
    int r;

    /* the cached copy decides (no second wait for storage at login) */
    if (cs_account_fido2_policy(cfg, user, flags, true) != CS_FIDO2_POLICY_BOTH)
        return cs_account_unlock_expect(cfg, user, password, flags, expect, amk);
    log_info("the keys of %s need the password and a security key: asking the key", user);
    r = cs_account_unlock_fido2(cfg, user, &how, flags, expect, amk);
    if (r == -ENOKEY) /* no key slot in the keybag that counts (changed elsewhere) */
        r = cs_account_unlock_expect(cfg, user, password, flags, expect, amk);
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
        log_error("the security key of %s needs its PIN, which this login cannot ask: run "
                  "'cloudseal unlock --fido2'", user);
        break;
    }
    return r;
}
