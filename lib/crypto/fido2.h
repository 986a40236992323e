/* SPDX-License-Identifier: MIT */
/* Security keys (FIDO2 / CTAP2 authenticators) through libfido2.
 *
 * CONTRACT (the interface the keybag slot, the CLI and the helper build on;
 * implemented in lib/crypto/fido2.c).  A keybag fido2 slot stores a
 * credential id and a random salt; its wrapping secret is the
 * authenticator's hmac-secret output for that salt, which only the
 * authenticator holding the credential can compute.
 *
 * Relying party id: "cloudseal:" followed by the account id (64 hex), so a
 * credential made for one account is useless for another (docs/keybag.md).
 *
 * Every function returns 0 or a negative errno:
 *   -ENODEV     no security key found (none plugged in, or none answers)
 *   -ENOKEY     no key present holds this credential (another authenticator)
 *   -ENOTSUP    the key does not support hmac-secret (or a required option)
 *   -EACCES     wrong PIN
 *   -EPERM      PIN blocked (too many wrong PINs) or user verification refused
 *   -ENOPKG     a PIN is required and ui->ask_pin gave none
 *   -ETIMEDOUT  the user did not touch the key within ui->timeout_ms
 *   -ECANCELED  the user cancelled (ask_pin returned it)
 *   -EPROTO     the device answered something malformed
 *   -EINVAL     bad arguments (a bug in the caller)
 * Secrets (the PIN, the hmac-secret output) live only in cs_secret memory.
 */
#ifndef CS_CRYPTO_FIDO2_H
#define CS_CRYPTO_FIDO2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/secmem.h"

#define CS_FIDO2_SALT_BYTES 32     /* hmac-secret salt (one per slot) */
#define CS_FIDO2_SECRET_BYTES 32   /* hmac-secret output */
#define CS_FIDO2_CRED_ID_MAX 1023  /* a credential id longer than this is refused */
#define CS_FIDO2_RP_PREFIX "cloudseal:"

/* How the library talks to the person at the key.  Both callbacks are
 * optional (NULL: never asked / nothing shown). */
typedef struct cs_fido2_ui {
    /* Asked for the key's PIN when the authenticator has one set and the
     * operation needs it.  Returns 0 with *pin set (cs_secret, caller of the
     * callback frees it), or a negative errno (-ECANCELED). */
    int (*ask_pin)(void *userdata, cs_secret **pin);
    /* Shown before the library waits for a touch: "Touch your security key." */
    void (*notify)(void *userdata, const char *message);
    void *userdata;
    int timeout_ms;                /* wait for a touch at most this long; 0: 30 000 */
} cs_fido2_ui;

/* What an authenticator made: a credential with hmac-secret enabled. */
typedef struct cs_fido2_credential {
    uint8_t id[CS_FIDO2_CRED_ID_MAX];
    size_t id_len;
    bool pin_set;                  /* the key had a PIN when enrolled (clientPin) */
    bool uv;                       /* user verification was performed */
} cs_fido2_credential;

/* Options for getting the secret back. */
/* Options for getting the secret back.  Store the flags a slot was enrolled
 * with and pass the same ones at every unlock: a CTAP 2.1 authenticator
 * keeps two hmac-secret keys per credential, one for assertions with user
 * verification (the PIN) and one without, so the same salt gives another
 * secret when CS_FIDO2_PIN differs. */
typedef enum cs_fido2_flags {
    CS_FIDO2_UP = 1 << 0,          /* require user presence (a touch) */
    CS_FIDO2_PIN = 1 << 1,         /* require the PIN (user verification);
                                    * -ENOTSUP when the key has no PIN set */
} cs_fido2_flags;

/* Make a resident-less credential with the hmac-secret extension on the
 * first key that supports it (the one the user touches when several are
 * plugged in).  rp_id: CS_FIDO2_RP_PREFIX + account id; user_name is shown by
 * some keys; user_id is 32 bytes (the account id's first 32 bytes). */
int cs_fido2_make_credential(const char *rp_id, const char *user_name, const uint8_t user_id[32],
                             const cs_fido2_ui *ui, cs_fido2_credential *out);

/* Ask whichever plugged-in key holds the credential for its hmac-secret
 * output over salt.  *out is a CS_FIDO2_SECRET_BYTES cs_secret. */
int cs_fido2_hmac_secret(const char *rp_id, const uint8_t *cred_id, size_t cred_id_len,
                         const uint8_t salt[CS_FIDO2_SALT_BYTES], unsigned flags,
                         const cs_fido2_ui *ui, cs_secret **out);

/* True when at least one security key is plugged in (no touch needed). */
bool cs_fido2_present(void);

/* TEST SEAM.  Where devices come from: NULL (every production binary)
 * means libfido2's own discovery (hidraw).  Only test builds link
 * tests/fido2/soft_transport.c, which sets this from a constructor so that
 * the real libfido2 code talks CTAPHID to the software authenticator
 * through its io hooks (fido_dev_set_io_functions); the production
 * binaries contain no such code (tests/integration/fido2/test_build.py). */
struct fido_dev_info;
struct fido_dev_io;
typedef struct cs_fido2_devsource {
    /* like fido_dev_info_manifest(): fills devlist with at most ilen paths */
    int (*manifest)(struct fido_dev_info *devlist, size_t ilen, size_t *olen);
    const struct fido_dev_io *io; /* the io functions every device is opened with */
} cs_fido2_devsource;
extern const cs_fido2_devsource *cs_fido2_devsource_override;

#endif
