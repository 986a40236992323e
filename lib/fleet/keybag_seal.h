/* SPDX-License-Identifier: MIT */
/* The keybag seal: which keybag of a fleet user is the newest, in the
 * account key's own signature, for `cloudseal admin publish` to carry into
 * the signed directory (docs/directory.md "Keybag seals", docs/keybag.md
 * "Replay of an old keybag").
 *
 *   users/<user>/keybag-seal, JSON (at most 4 KiB):
 *   { "version": 1, "user": "alice", "generation": 3,
 *     "sha256": "<base64 of 32 bytes>", "time": 1790000000,
 *     "signature": "<base64, 64 bytes>" }
 *
 * signature = Ed25519 of the account key (derived from the AMK) over
 * "cloudseal-keybag-seal-v1\0" | user | "\0" | generation (8 bytes LE) |
 * sha256 | time (8 bytes LE).  The object names no key: it is verified with
 * the key the directory pins for the user, so only the account's holder can
 * make one that counts.  A bucket writer can delete or replay seals, which
 * only keeps the directory's floor where it was. */
#ifndef CS_FLEET_KEYBAG_SEAL_H
#define CS_FLEET_KEYBAG_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "fleet/fleet.h"

#define CS_KEYBAG_SEAL_MAX 4096
#define CS_KEYBAG_SHA256_BYTES 32
#define CS_KEYBAG_GENERATION_MAX (UINT64_C(1) << 53)

typedef struct cs_keybag_seal {
    char user[CS_FLEET_NAME_MAX + 1];
    uint64_t generation;
    uint8_t sha256[CS_KEYBAG_SHA256_BYTES];
    int64_t time;
} cs_keybag_seal;

/* The signed object for seal (user, generation, sha256, time); *json malloc'd. */
int cs_keybag_seal_make(const cs_keybag_seal *seal, const cs_amk *amk, char **json);
/* Parse and verify one with the pinned account key of expect_user.
 * -EBADMSG (why in err) for anything malformed, oversized, filed under
 * another name or not signed by account_key. */
int cs_keybag_seal_parse(const void *data, size_t len, const char *expect_user,
                         const uint8_t account_key[CS_FLEET_PK_BYTES], cs_keybag_seal *out, cs_fleet_err *err);
/* The seal of user's keybag bytes (generation gen, signed now): *json
 * malloc'd, for users/<user>/keybag-seal (account.c files it). */
int cs_keybag_seal_for(const char *user, const cs_amk *amk, uint64_t gen, const void *keybag, size_t len,
                       char **json);

#endif
