/* SPDX-License-Identifier: MIT */
/* Opening a keybag with a security key: each fido2 slot in turn is offered
 * to the device (through the caller's get(), so that this layer needs no
 * libfido2 and the helper can put its prompts in between); the first slot
 * whose credential a present key holds decides. */
#include "account/account.h"

#include <errno.h>

#include "util/log.h"

int cs_account_open_fido2(const cs_keybag *kb, const cs_account_fido2 *how, cs_amk **out)
{
    cs_keybag_fido2 slots[CS_KEYBAG_MAX_FIDO2_SLOTS];
    size_t n = cs_keybag_fido2_slots(kb, slots, CS_KEYBAG_MAX_FIDO2_SLOTS);
    char rp_id[sizeof(CS_FIDO2_RP_PREFIX) + CS_ACCOUNT_ID_HEX];
    int r = cs_keybag_fido2_rp_id(kb, rp_id, sizeof(rp_id));

    if (r < 0)
        return r;
    if (n > 0 && cs_keybag_fido2_policy(kb) == CS_FIDO2_POLICY_BOTH && !how->password)
        return -ENOPKG; /* ask for the password before the key is touched */
    r = -ENOKEY;
    for (size_t i = 0; i < n && i < CS_KEYBAG_MAX_FIDO2_SLOTS && r == -ENOKEY; i++) {
        cs_secret *hmac_secret = NULL;

        r = how->get(how->userdata, rp_id, &slots[i], &hmac_secret);
        if (r == 0)
            r = cs_keybag_unlock_fido2(kb, slots[i].id, hmac_secret, how->password, out);
        cs_secret_free(hmac_secret);
        if (r == -EACCES)
            log_debug("keybag: security-key slot %u does not open", slots[i].id);
    }
    return r;
}

cs_fido2_policy cs_account_fido2_policy(const cs_config *cfg, const char *user, int flags, bool cache_first)
{
    cs_keybag *kb = NULL;
    cs_fido2_policy p = CS_FIDO2_POLICY_NONE;

    if ((cache_first && cs_account_load_keybag(cfg, user, CS_UNLOCK_CACHE_ONLY, &kb, NULL) == 0) ||
        (!(flags & CS_UNLOCK_CACHE_ONLY) && cs_account_load_keybag(cfg, user, flags, &kb, NULL) == 0))
        p = cs_keybag_fido2_policy(kb);
    cs_keybag_free(kb);
    return p;
}
