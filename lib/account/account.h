/* SPDX-License-Identifier: MIT */
/* A user's account: their keybag (local cache + storage copy) and the
 * operations the CLI and the privileged helper share.
 *
 * Where things are:
 *   storage:  users/<user>/keybag                (the authoritative copy)
 *   cache:    <state_dir>/keybags/<user>/keybag  (last good copy, used when
 *             storage is unreachable; the directory is owned by the user, 0700)
 *   pin:      <state_dir>/keybags/<user>/generation (highest generation seen;
 *             a keybag with a lower generation is refused: rollback)
 */
#ifndef CS_ACCOUNT_ACCOUNT_H
#define CS_ACCOUNT_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config/config.h"
#include "crypto/keybag.h"
#include "crypto/keys.h"
#include "util/secmem.h"

/* Flags for cs_account_unlock */
#define CS_UNLOCK_LOGIN     0x1 /* login path: storage with the short [storage] login_timeout,
                                   falling back to the cache on any storage error */
#define CS_UNLOCK_RECOVERY  0x2 /* the secret is a recovery key, not a password */
#define CS_UNLOCK_CACHE_ONLY 0x4 /* never contact storage */

/* Unwrap the AMK of `user` with a password (or recovery key).
 * Returns 0 and *out, or:
 *   -ENOENT   user not enrolled (no keybag in storage or cache)
 *   -EACCES   wrong password / recovery key
 *   -EBADMSG  keybag malformed, tampered, or its MAC does not verify
 *   -ESTALE   keybag generation lower than the pinned one (rollback)
 *   -E2BIG    keybag asks for KDF parameters beyond the allowed bounds
 *   other     -errno from storage or the file system
 * On success the cache and pin are updated when the fetched copy is newer. */
int cs_account_unlock(const cs_config *cfg, const char *user, const cs_secret *secret,
                      int flags, cs_amk **out);

/* What the caller knows about whose keybag this must be, so that nothing
 * from storage is unlocked, cached or pinned before it is proven to be the
 * user's (docs/keybag.md, "Which keybag is trusted").  NULL or zeroed:
 * nothing known, the account of the keybag cached on this machine is the
 * user's (trust on first use: with no cache, the first keybag that unlocks). */
typedef struct cs_account_expect {
    bool has_account_key;
    uint8_t account_key[32];   /* fleet: the account public key the signed directory pins */
    uint64_t floor;            /* fleet: the directory's keybag generation (0: none); a keybag
                                  below it, or at it with other bytes, is refused */
    bool has_floor_sha256;
    uint8_t floor_sha256[32];  /* SHA-256 of the keybag bytes at generation floor */
} cs_account_expect;

/* cs_account_unlock with expect.  A storage keybag of another account,
 * rolled back, below the floor, or that does not open with the secret
 * falls back to the cached one (tried with the same secret, checked the
 * same way).  Errors as cs_account_unlock, plus -EKEYREJECTED: the keybag
 * that could be used belongs to another account (planted); -ESTALE also
 * covers a keybag below the floor.  When storage's copy is refused and the
 * cached one does not open either, the refusal is returned. */
int cs_account_unlock_expect(const cs_config *cfg, const char *user, const cs_secret *secret, int flags,
                             const cs_account_expect *expect, cs_amk **out);

/* Replace the password slot with one for new_password (new salt, KDF cost
 * from config), bump the generation, re-MAC, write cache + pin, upload.
 * If the upload fails the new keybag stays in the cache marked for upload
 * (cs_account_sync_pending retries) and 0 is returned with a warning logged. */
int cs_account_set_password(const cs_config *cfg, const char *user, const cs_amk *amk,
                            const cs_secret *new_password);

/* The same after `cloudseal recover`: also drops the fido2 slots of policy
 * both (bound to the old password), which cs_account_set_password refuses
 * to do (-EBUSY): the recovery key is the way back when a key is lost. */
int cs_account_recover_password(const cs_config *cfg, const char *user, const cs_amk *amk,
                                const cs_secret *new_password);

/* Security keys (docs/keybag.md, "Security-key slots").
 *
 * How an unlock reaches the device: get() is asked for the hmac-secret
 * output of one fido2 slot (rp_id, slot->cred_id, slot->salt, slot->flags;
 * a CS_FIDO2_SECRET_BYTES cs_secret the caller frees), one slot after the
 * other.  It returns -ENOKEY when no key present holds the credential (the
 * next slot is tried); any other error (-ENODEV no key, -ETIMEDOUT, -EACCES
 * wrong PIN...) ends the unlock with it.  password: for policy both (NULL
 * for any: a both slot then fails with -ENOPKG before the device is asked). */
typedef int (*cs_account_fido2_fn)(void *userdata, const char *rp_id, const cs_keybag_fido2 *slot,
                                   cs_secret **hmac_secret);
typedef struct cs_account_fido2 {
    cs_account_fido2_fn get;
    void *userdata;
    const cs_secret *password;
} cs_account_fido2;

/* Open kb with a security key: 0 and *out; -ENOKEY no fido2 slot, or none
 * whose credential a present key holds; -EACCES a slot did not open (wrong
 * password with policy both, another key's secret, a tampered slot);
 * -ENOPKG policy both without a password; get()'s error. */
int cs_account_open_fido2(const cs_keybag *kb, const cs_account_fido2 *how, cs_amk **out);
/* cs_account_unlock_expect with a security key instead of a secret
 * (CS_UNLOCK_RECOVERY is ignored).  Errors as there and as above. */
int cs_account_unlock_fido2(const cs_config *cfg, const char *user, const cs_account_fido2 *how, int flags,
                            const cs_account_expect *expect, cs_amk **out);
/* The fido2 policy of user's keybag (CS_FIDO2_POLICY_NONE without keys, or
 * when no keybag can be read: the unlock then reports why).  cache_first:
 * the cached copy when there is one (no wait for storage: logins), else
 * what cs_account_load_keybag(flags) reads. */
cs_fido2_policy cs_account_fido2_policy(const cs_config *cfg, const char *user, int flags, bool cache_first);
/* Add a fido2 slot (cs_keybag_add_fido2; the KDF cost of policy both from
 * config) as a keybag change: generation + 1, cache, pin, upload. */
int cs_account_add_fido2(const cs_config *cfg, const char *user, const cs_amk *amk, cs_keybag_fido2 *slot,
                         const cs_secret *hmac_secret, const cs_secret *password);
/* Remove slot id (cs_keybag_remove_slot: -ENOENT, -EPERM, -EBUSY) likewise. */
int cs_account_remove_slot(const cs_config *cfg, const char *user, const cs_amk *amk, uint32_t id);

/* Upload a cached keybag that is newer than storage's (after offline changes). */
int cs_account_sync_pending(const cs_config *cfg, const char *user);

/* The public account id of user's keybag (from the cache, else storage),
 * as a NUL-terminated lowercase hex string (at most 64 chars).  Used to name
 * the kernel-keyring key; needs no secret. */
#define CS_ACCOUNT_ID_MAX 65
int cs_account_id(const cs_config *cfg, const char *user, char id[CS_ACCOUNT_ID_MAX]);


/* `cloudseal enroll`: new AMK, a password slot with the calibrated [kdf]
 * cost, a recovery slot; uploads the keybag, then writes cache + pin.
 * -EEXIST when user already has a keybag (storage or cache) and !force.
 * Returns the recovery code to show once (*recovery_code, a cs_secret)
 * and the AMK.  A failure to create the cache directory is returned before
 * anything is uploaded (see cs_account_cache_dir for the message). */
int cs_account_enroll(const cs_config *cfg, const char *user, const cs_secret *password,
                      bool force, cs_secret **recovery_code, cs_amk **amk_out);
/* Which keybag an administrator's change made: what the directory's keybag
 * floor for the user becomes (docs/keybag.md, "Replay of an old keybag"). */
typedef struct cs_keybag_made {
    uint64_t generation;
    uint8_t sha256[32];       /* of the exact bytes uploaded */
} cs_keybag_made;
/* An administrator enrolls someone else (a fleet user who cannot log in
 * anywhere before their key is pinned): the same keybag, uploaded only if
 * the user has none (-EEXIST), no local cache (not their machine).  The
 * password is marked expired: the first login asks for a new one.  Both
 * admin calls also file the keybag seal and fill *made (may be NULL). */
int cs_account_enroll_for(const cs_config *cfg, const char *user, const cs_secret *password,
                          cs_secret **recovery_code, cs_amk **amk_out, cs_keybag_made *made);
/* An administrator who recovered user's AMK (fleet key escrow) gives them
 * a new password: storage's keybag, verified with amk, its password slot
 * replaced and marked expired, generation bumped above its own and floor
 * (the directory's "keybag" generation), uploaded.  Recovery slot
 * and the rest of the payload stay. */
int cs_account_reset_password(const cs_config *cfg, const char *user, const cs_amk *amk,
                              const cs_secret *password, uint64_t floor, cs_keybag_made *made);

/* The keybag unlock would use, without a secret (nothing verified: for
 * `keybag dump` and `status`).  flags: CS_UNLOCK_LOGIN / CS_UNLOCK_CACHE_ONLY.
 * *from_cache tells where it came from (may be NULL). */
int cs_account_load_keybag(const cs_config *cfg, const char *user, int flags,
                           cs_keybag **out, bool *from_cache);
/* The same, and why storage's copy was not used (*storage_err: 0 when it
 * was, -ENOENT none there, -EBADMSG/-E2BIG/-EPROTONOSUPPORT damaged or out
 * of bounds, other -errno unreachable), for messages that tell the truth. */
int cs_account_load_keybag_why(const cs_config *cfg, const char *user, int flags,
                               cs_keybag **out, bool *from_cache, int *storage_err);

/* The keybag's encrypted payload (a JSON object: storage credentials,
 * repository locations...).  get: *out is a new reference; verifies the
 * keybag with amk first (-EBADMSG); flags as for cs_account_load_keybag.  set: replaces the payload, bumps the
 * generation, writes cache + pin and uploads (kept pending when offline,
 * like cs_account_set_password). */
int cs_account_payload_get(const cs_config *cfg, const char *user, const cs_amk *amk, int flags,
                           json_object **out);
int cs_account_payload_set(const cs_config *cfg, const char *user, const cs_amk *amk,
                           json_object *payload);
/* Read-modify-write of the payload within one keybag change: edit gets the
 * current payload object (never NULL) and changes it in place. */
typedef int (*cs_payload_edit)(json_object *payload, const cs_amk *amk, const void *arg);
int cs_account_payload_edit(const cs_config *cfg, const char *user, const cs_amk *amk, cs_payload_edit edit,
                            const void *arg);

/* Is user's password one an administrator set (cs_keybag_expire_password)?
 * Read from the cached copy an unlock just verified, else from storage.
 * 1 yes, 0 no, or -errno when it cannot be told. */
int cs_account_password_expired(const cs_config *cfg, const char *user, const cs_amk *amk);

/* Fleet workstations: make sure storage holds a keybag seal of the keybag
 * cached here (verified with amk) or of a newer one: users enrolled before
 * seals existed, a seal deleted or replaced by an older one.  A valid seal
 * of a newer generation is never replaced.  1 filed, 0 nothing to do (not a
 * fleet workstation, or in place), -errno (-ENOENT: nothing cached). */
int cs_account_reseal(const cs_config *cfg, const char *user, const cs_amk *amk);

/* `cloudseal repair keybag`: put the keybag cached here (verified with
 * amk) back into storage, as it is (generation and slots kept; its seal
 * filed on fleet workstations, as a change does), when storage's copy is
 * missing (*storage_state -ENOENT), damaged, another account's or fails
 * the MAC (-EBADMSG), or is older (-ESTALE).  A copy that verifies at the
 * same or a newer generation is never replaced (0).  1 uploaded, 0 nothing
 * to do, -errno (-ENOENT: nothing cached; -EBADMSG: the cached copy does
 * not verify). */
int cs_account_repair_storage(const cs_config *cfg, const char *user, const cs_amk *amk, int *storage_state);

/* <state_dir>/keybags/<user>, for messages. */
int cs_account_cache_dir(const cs_config *cfg, const char *user, char *buf, size_t len);
/* Root: create <state_dir>/keybags/<user> for the user (0700, the user's),
 * with the checks every other use makes (no symlink, owner, mode), so that
 * `cloudseal enroll` run by the user can write its cache (cloudseal-helper
 * prepare).  0 when it exists as it must; -EPERM when it belongs to someone
 * else or is writable by others (logged). */
int cs_account_prepare_cache(const cs_config *cfg, const char *user);

#endif
