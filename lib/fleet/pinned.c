/* SPDX-License-Identifier: MIT */
/* The login-time question of fleet users: does the signed directory pin
 * exactly this account public key for this enabled user?
 *
 * Authoritative PAM login for a fleet user (no local password hash) is
 * granted only when the keybag unwraps with the password AND the account
 * key derived from the unwrapped AMK is the one pinned here.  Without the
 * second check anyone able to write to the bucket could plant a keybag
 * wrapped under a password of their choice.  Reads only the local cache, so
 * it works offline.
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "basic/dircache.h"
#include "crypto/keys.h"

int cs_fleet_pinned(const cs_config *cfg, const char *user, cs_fleet_pin *out)
{
    const struct cs_dc_user *u;
    cs_dircache dc;
    int idx, r;

    memset(out, 0, sizeof(*out));
    r = cs_dircache_map(cs_config_str(cfg, "fleet", "cache"), &dc, NULL);
    if (r < 0)
        return r;
    idx = cs_dircache_user_by_name(&dc, user);
    if (idx < 0)
        r = -ENOENT;
    else if (dc.h->expires <= (int64_t)time(NULL))
        r = -EKEYEXPIRED;
    else {
        u = &dc.users[idx];
        if (u->flags & CS_DC_USER_DISABLED)
            r = -EPERM;
        else if (!(u->flags & CS_DC_USER_HAS_KEY))
            r = -ENOKEY;
        else
            memcpy(out->key, u->pubkey, CS_FLEET_PK_BYTES);
        if (r == 0 && (u->flags & CS_DC_USER_HAS_KEYBAG)) {
            const uint32_t *kb = dc.u32s + u->keybag; /* range checked by cs_dircache_parse */
            out->keybag_generation = kb[0] | (uint64_t)kb[1] << 32;
            memcpy(out->keybag_sha256, kb + 2, sizeof(out->keybag_sha256));
        }
    }
    cs_dircache_unmap(&dc);
    return r;
}

int cs_fleet_check_pinned(const cs_config *cfg, const char *user, const uint8_t pk[CS_FLEET_PK_BYTES])
{
    cs_fleet_pin pin;
    int r = cs_fleet_pinned(cfg, user, &pin);

    if (r == 0 && sodium_memcmp(pin.key, pk, CS_FLEET_PK_BYTES) != 0)
        r = -EKEYREJECTED;
    return r;
}

int cs_fleet_check_amk(const cs_config *cfg, const char *user, const cs_amk *amk)
{
    uint8_t pk[CS_SIGN_PK_BYTES];
    int r = cs_amk_account_pubkey(amk, pk);

    if (r < 0)
        return r;
    return cs_fleet_check_pinned(cfg, user, pk);
}

int cs_fleet_escrow_key(const cs_config *cfg, uint8_t pk[CS_FLEET_ESCROW_PK_BYTES])
{
    static const uint8_t zero[CS_FLEET_ESCROW_PK_BYTES];
    cs_dircache dc;
    int r = cs_dircache_map(cs_config_str(cfg, "fleet", "cache"), &dc, NULL);

    if (r < 0)
        return r;
    if (memcmp(dc.h->escrow_pk, zero, sizeof(zero)) == 0) {
        r = -ENOENT;
    } else {
        memcpy(pk, dc.h->escrow_pk, CS_FLEET_ESCROW_PK_BYTES);
        r = 0;
    }
    cs_dircache_unmap(&dc);
    return r;
}
