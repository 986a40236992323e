/* SPDX-License-Identifier: MIT */
/* Keybag v1: the account master key (AMK) wrapped under one or more slots,
 * plus an encrypted payload, a generation and a MAC.  Stored as JSON so
 * that people can audit it (`cloudseal keybag dump`), like a LUKS2 header.
 *
 * Format (every field required unless marked; no other field allowed):
 *
 *   {
 *     "version": 1,
 *     "user": "alice",                      login name, 1..64 bytes, no control chars
 *     "account_id": "<64 lowercase hex>",   hex(BLAKE2b-256("cloudseal-account-id-v1"
 *                                           || account Ed25519 public key)); public
 *     "generation": 7,                      1..2^53, bumped on every change; clients
 *                                           refuse one lower than they have seen
 *     "slots": [                            1..CS_KEYBAG_MAX_SLOTS entries, at most
 *                                           CS_KEYBAG_MAX_PASSWORD_SLOTS passwords
 *       { "type": "password", "id": 1,      id: 0..65535, unique in the bag
 *         "kdf": { "algorithm": "argon2id13", "ops": 3, "memory": 268435456,
 *                  "salt": "<base64 of 16 bytes>" },
 *         "nonce": "<base64 of 24 bytes>",
 *         "ciphertext": "<base64 of 48 bytes>" },
 *       { "type": "recovery", "id": 2,
 *         "nonce": "<base64 of 24 bytes>", "ciphertext": "<base64 of 48 bytes>" },
 *       { "type": "fido2", "id": 3, "name": "...", "created": <unix s>,
 *         "policy": "any"|"both", "credential": "<base64, 1..1023 bytes>",
 *         "salt": "<base64 of 32 bytes>", "options": { "up": b, "pin": b },
 *         "kdf": {...} (policy both only), "nonce": ..., "ciphertext": ... }
 *                                           docs/keybag.md, "Security-key slots"
 *     ],
 *     "payload": { "nonce": "<base64 of 24 bytes>",
 *                  "ciphertext": "<base64, 16..CS_KEYBAG_PAYLOAD_MAX+16 bytes>" },
 *     "mac": "<base64 of 32 bytes>"
 *   }
 *
 * Base64 is the standard alphabet with padding, and each field must decode
 * to exactly its length.  Slots: ciphertext = XChaCha20-Poly1305(KEK, nonce,
 * AMK, AD = slot header), where the slot header is the canonical encoding of
 * (version, account_id, type, id, and for password slots algorithm, ops,
 * memory, salt), so moving a ciphertext to another slot, another account or
 * other KDF parameters fails to decrypt.  KEK = Argon2id(password, salt, ops,
 * memory) for password slots, keyed BLAKE2b(recovery key,
 * "cloudseal-recovery-kek-v1") for recovery slots.  The payload is a JSON
 * object encrypted under the CS_SUBKEY_PAYLOAD subkey.  The MAC is
 * HMAC-SHA-512-256 (crypto_auth) under CS_SUBKEY_KEYBAG_MAC over a canonical
 * length-prefixed binary encoding of everything else (not the JSON text, so
 * whitespace and key order do not matter).  After a slot opens, the AMK must
 * reproduce account_id and the MAC, so a bag spliced together from parts of
 * others, or with reordered slots, is refused.
 *
 * Errors: -EBADMSG malformed or tampered, -EPROTONOSUPPORT a version other
 * than 1, -E2BIG KDF parameters outside CS_KDF_* bounds or input larger
 * than CS_KEYBAG_MAX_BYTES, -EACCES no slot opened with the secret.  Note a
 * modified slot (nonce, salt, ciphertext) is indistinguishable from a wrong
 * secret for THAT slot (-EACCES); any other slot then reports -EBADMSG
 * because the MAC no longer verifies.
 */
#ifndef CS_CRYPTO_KEYBAG_H
#define CS_CRYPTO_KEYBAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "basic/user_name.h"
#include "crypto/fido2.h"
#include "crypto/kdf.h"
#include "crypto/keys.h"
#include "crypto/recovery.h"
#include "util/secmem.h"

#define CS_KEYBAG_VERSION 1
#define CS_KEYBAG_MAX_BYTES (64 * 1024)
#define CS_KEYBAG_MAX_SLOTS 8
#define CS_KEYBAG_MAX_PASSWORD_SLOTS 2 /* unlock may run the KDF once per password slot */
#define CS_KEYBAG_MAX_KDF_SLOTS 2      /* password + fido2 "both" slots: each may run the KDF */
#define CS_KEYBAG_MAX_FIDO2_SLOTS 4
#define CS_KEYBAG_NAME_MAX 64          /* a fido2 slot's name: printable ASCII */
#define CS_KEYBAG_CREATED_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define CS_KEYBAG_USER_MAX CS_USER_NAME_MAX
#define CS_KEYBAG_PAYLOAD_MAX (32 * 1024) /* plaintext bytes */
#define CS_ACCOUNT_ID_HEX 64

typedef enum cs_slot_type {
    CS_SLOT_PASSWORD = 1,
    CS_SLOT_RECOVERY = 2,
    CS_SLOT_FIDO2 = 3,             /* a security key: cs_keybag_unlock_fido2 */
} cs_slot_type;

/* A fido2 slot's policy (the account's: every fido2 slot of a bag has the
 * same).  ANY: the key alone opens it.  BOTH: the password and the key. */
typedef enum cs_fido2_policy {
    CS_FIDO2_POLICY_NONE = 0,      /* cs_keybag_fido2_policy(): no fido2 slot */
    CS_FIDO2_POLICY_ANY = 1,
    CS_FIDO2_POLICY_BOTH = 2,
} cs_fido2_policy;

/* The public fields of a fido2 slot: what the device needs (rp id, credential,
 * salt, flags) and what `key list` shows.  Never a secret. */
typedef struct cs_keybag_fido2 {
    uint32_t id;                   /* slot id (set by cs_keybag_add_fido2) */
    char name[CS_KEYBAG_NAME_MAX + 1];
    int64_t created;               /* Unix seconds */
    cs_fido2_policy policy;
    uint8_t cred_id[CS_FIDO2_CRED_ID_MAX];
    size_t cred_id_len;
    uint8_t salt[CS_FIDO2_SALT_BYTES]; /* the hmac-secret salt */
    unsigned flags;                /* CS_FIDO2_UP | CS_FIDO2_PIN */
} cs_keybag_fido2;

typedef struct cs_keybag cs_keybag;

/* Parse and structurally validate (no secret needed; nothing is trusted
 * until cs_keybag_unlock/cs_keybag_verify succeeds). */
int cs_keybag_parse(const void *data, size_t len, cs_keybag **out);

/* New bag for user and amk: generation 1, no slots, empty payload {}. */
int cs_keybag_new(const char *user, const cs_amk *amk, cs_keybag **out);
void cs_keybag_free(cs_keybag *kb);
static inline void cs_keybag_freep(cs_keybag **kb) { if (*kb) cs_keybag_free(*kb); }
#define _cleanup_keybag_ __attribute__((cleanup(cs_keybag_freep)))

/* Open a slot: with a password (type CS_SLOT_PASSWORD) or a recovery code
 * as typed (CS_SLOT_RECOVERY; -EINVAL/-EILSEQ for a mistyped code, see
 * recovery.h).  Then checks account_id and the MAC.  0 and *out, -EACCES,
 * -EBADMSG, -E2BIG, -ENOMEM. */
int cs_keybag_unlock(const cs_keybag *kb, cs_slot_type type, const cs_secret *secret, cs_amk **out);
/* Check that amk is this bag's key and the MAC verifies: 0 or -EBADMSG. */
int cs_keybag_verify(const cs_keybag *kb, const cs_amk *amk);

/* Replace every password slot by one for password (fresh salt and nonce).
 * Clears an expiry mark: the password is now one somebody chose.  Also
 * drops the fido2 slots of policy BOTH (bound to the old password): only
 * the recovery path may do that, so callers changing a password check
 * cs_keybag_fido2_policy() first (cs_account_set_password: -EBUSY). */
int cs_keybag_set_password(cs_keybag *kb, const cs_amk *amk, const cs_secret *password,
                           const cs_kdf_params *params);
/* A password an administrator set (admin enroll-user, admin recover-user)
 * is marked expired: payload member "password_expired": true, under the
 * payload's AEAD and the MAC.  The fleet login then asks for a new one
 * (pam_cloudseal returns PAM_NEW_AUTHTOK_REQD). */
int cs_keybag_expire_password(cs_keybag *kb, const cs_amk *amk);
/* Is the mark in this (already decrypted) payload? */
bool cs_keybag_payload_password_expired(json_object *payload);
/* Replace every recovery slot by one for the 32-byte recovery key. */
int cs_keybag_set_recovery(cs_keybag *kb, const cs_amk *amk, const uint8_t key[CS_RECOVERY_KEY_BYTES]);

/* Security keys (docs/keybag.md, "Security-key slots").
 *
 * The relying party id of this bag's credentials: CS_FIDO2_RP_PREFIX + account id. */
int cs_keybag_fido2_rp_id(const cs_keybag *kb, char *buf, size_t len);
/* The policy of the bag's fido2 slots, CS_FIDO2_POLICY_NONE without any. */
cs_fido2_policy cs_keybag_fido2_policy(const cs_keybag *kb);
/* Copy the public fields of up to max fido2 slots into out, in slot order;
 * returns how many the bag has (may be more than max). */
size_t cs_keybag_fido2_slots(const cs_keybag *kb, cs_keybag_fido2 *out, size_t max);
/* Add a fido2 slot: slot's name, created, policy, credential, salt and flags
 * (the id is chosen and written back), hmac_secret the key's output for
 * slot->salt (CS_FIDO2_SECRET_BYTES).  Policy BOTH also needs password and
 * params (a fresh KDF salt), and removes every password slot.  -EINVAL bad
 * fields, -EEXIST fido2 slots of the other policy (or the credential is
 * enrolled already), -ENOSPC no room (slots, fido2 slots or KDF slots). */
int cs_keybag_add_fido2(cs_keybag *kb, const cs_amk *amk, cs_keybag_fido2 *slot, const cs_secret *hmac_secret,
                        const cs_secret *password, const cs_kdf_params *params);
/* Open fido2 slot id with the key's hmac-secret output for its salt (and the
 * password for policy BOTH, NULL for ANY), then check account_id and the MAC.
 * 0 and *out, -ENOENT no such fido2 slot, -EACCES it does not open (wrong
 * key, wrong password or a tampered slot), -EBADMSG, -E2BIG, -ENOMEM. */
int cs_keybag_unlock_fido2(const cs_keybag *kb, uint32_t id, const cs_secret *hmac_secret,
                           const cs_secret *password, cs_amk **out);
/* Remove slot id.  -ENOENT none, -EPERM the recovery slot (the way back),
 * -EBUSY it is the last way in (password or fido2 slot). */
int cs_keybag_remove_slot(cs_keybag *kb, uint32_t id);

/* Payload: a JSON object (storage credentials, repository locations...).
 * get returns a new reference the caller puts; set takes none of obj's. */
int cs_keybag_payload_get(const cs_keybag *kb, const cs_amk *amk, json_object **out);
int cs_keybag_payload_set(cs_keybag *kb, const cs_amk *amk, json_object *obj);

/* Serialize (recomputing the MAC with amk); *out is malloc'd, NUL-terminated. */
int cs_keybag_serialize(cs_keybag *kb, const cs_amk *amk, char **out, size_t *out_len);

uint64_t cs_keybag_generation(const cs_keybag *kb);
void cs_keybag_set_generation(cs_keybag *kb, uint64_t generation);
const char *cs_keybag_user(const cs_keybag *kb);
const char *cs_keybag_account_id(const cs_keybag *kb);
/* Number of slots of a type. */
size_t cs_keybag_count_slots(const cs_keybag *kb, cs_slot_type type);

/* Structure only (never a key, ciphertext, salt or nonce): for `keybag dump`. */
int cs_keybag_describe(const cs_keybag *kb, json_object **out);

/* hex(BLAKE2b-256("cloudseal-account-id-v1" || account public key)). */
int cs_account_id_from_amk(const cs_amk *amk, char out[CS_ACCOUNT_ID_HEX + 1]);
/* The same from the account public key (a fleet directory pins it): the id
 * a keybag of that account carries, known before any KDF runs. */
int cs_account_id_from_pubkey(const uint8_t pk[CS_SIGN_PK_BYTES], char out[CS_ACCOUNT_ID_HEX + 1]);

#endif
