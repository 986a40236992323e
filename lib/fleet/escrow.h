/* SPDX-License-Identifier: MIT */
/* Key escrow for a fleet: the account master key sealed to the fleet's
 * escrow public key, so that an administrator holding the escrow secret key
 * (kept offline) can give a user who lost both their password and their
 * recovery key a new password (`cloudseal admin recover-user`).
 *
 *   users/<user>/escrow, JSON (at most 4 KiB):
 *   { "version": 1, "user": "alice", "account_id": "<64 hex>",
 *     "escrow_key": "<base64 X25519 pk it is sealed to>",
 *     "sealed": "<base64 crypto_box_seal(AMK), 80 bytes>" }
 *
 * A separate object, not a keybag slot, so that workstations of older
 * versions keep reading keybags.  It needs no signature: what opens must be
 * an AMK whose account id is the one named (and the admin then checks the
 * key pinned in the directory), so a changed or swapped object can only
 * fail to open, never hand over another key.  Filed when the fleet's signed
 * directory names an escrow key (the policy), by `cloudseal enroll` and
 * `cloudseal admin enroll-user`. */
#ifndef CS_FLEET_ESCROW_H
#define CS_FLEET_ESCROW_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "fleet/fleet.h"

#define CS_ESCROW_OBJECT_MAX 4096

/* The object for user's account sealed to escrow_pk; *json malloc'd. */
int cs_escrow_make(const char *user, const cs_amk *amk, const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES],
                   char **json);
/* Make it and put it at users/<user>/escrow in st (replacing any). */
int cs_escrow_file(cs_storage *st, const char *user, const cs_amk *amk,
                   const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES]);
/* Open one with the escrow secret key: the AMK (secure memory), after
 * checking the user name, that it was sealed to this escrow key and that
 * the AMK reproduces the account id.  -EBADMSG (why in err) otherwise. */
int cs_escrow_open(const void *data, size_t len, const char *expect_user, const uint8_t *escrow_sk,
                   cs_amk **amk, cs_fleet_err *err);

/* Whether a stored escrow object is the one this account should have:
 * user, account_id and escrow key as expected (0), else -EBADMSG.  The
 * sealed key itself only the escrow secret key can check. */
int cs_escrow_matches(const void *data, size_t len, const char *user, const char *account_id,
                      const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES]);

#endif
