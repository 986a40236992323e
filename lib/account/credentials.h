/* SPDX-License-Identifier: MIT */
/* A user's own storage credentials, kept in their keybag payload.
 *
 * On a shared workstation or in a fleet the machine's credential
 * ([storage] access_key + secret_key_file) can be limited to fetching
 * keybags, while each user's S3 key pair reaches only that user's data and
 * lives encrypted under their account key.  Commands that touch the user's
 * data (backup, restore, archive sync...) open the storage with it when the
 * payload has one; the keybag itself is still fetched with the machine's.
 *
 * Payload member (docs/keybag.md):
 *   "storage": { "access_key": "<1-128 printable ASCII, no '/', ',', '='>",
 *                "secret_key_sealed": "<base64: nonce 24 | XChaCha20-Poly1305 ct | tag 16>",
 *                "session_token_sealed": "<the same, optional: temporary credentials>",
 *                "expires": <optional: Unix time the token expires> }
 * The secret is sealed a second time, under its own subkey
 * (CS_SUBKEY_CREDENTIAL) with "cloudseal-credential-v1" | access_key as
 * associated data, so that its plaintext never passes through json-c's heap
 * (which frees without wiping): only secure memory ever holds it.  A session
 * token is sealed the same way with "cloudseal-credential-token-v1" as the
 * prefix of its associated data, so neither blob can stand in for the other. */
#ifndef CS_ACCOUNT_CREDENTIALS_H
#define CS_ACCOUNT_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "config/config.h"
#include "crypto/keys.h"
#include "storage/storage.h"
#include "util/secmem.h"

#define CS_CRED_ACCESS_MAX 128
#define CS_CRED_SECRET_MAX 256
#define CS_CRED_TOKEN_MAX 4096

/* A user's own credentials as the keybag holds them. */
typedef struct cs_user_cred {
    char access_key[CS_CRED_ACCESS_MAX + 1];
    cs_secret *secret;
    cs_secret *token;      /* NULL: no session token */
    int64_t expires;       /* Unix time the token expires, 0: not known */
} cs_user_cred;

void cs_user_cred_clear(cs_user_cred *c);

bool cs_cred_access_key_valid(const char *s);
bool cs_cred_secret_valid(const char *s, size_t len);

/* From a payload object: -ENOENT when it has no "storage" member, -EBADMSG
 * when the member is malformed or its secret does not open with amk. */
int cs_cred_from_payload(json_object *payload, const cs_amk *amk, char access_key[CS_CRED_ACCESS_MAX + 1],
                         cs_secret **secret);
/* Into a payload object (replacing any, token included); access_key NULL
 * removes it. */
int cs_cred_to_payload(json_object *payload, const cs_amk *amk, const char *access_key, const cs_secret *secret);

/* The optional session token of the member (for access_key): -ENOENT none,
 * -EBADMSG malformed or not opening. */
int cs_cred_token_from_payload(json_object *payload, const cs_amk *amk, const char *access_key,
                               cs_secret **token, int64_t *expires);
/* Add (token NULL: remove) the token of the member cs_cred_to_payload
 * wrote; expires 0 when not known.  -EINVAL without a member. */
int cs_cred_token_to_payload(json_object *payload, const cs_amk *amk, const char *access_key,
                             const cs_secret *token, int64_t expires);

/* The user's credentials from their keybag: the local copy first (no
 * round trip per command), storage's when there is none.  -ENOENT: none. */
int cs_account_cred_get(const cs_config *cfg, const char *user, const cs_amk *amk, cs_user_cred *out);
/* Store them in the keybag (generation bump, upload); NULL clears. */
int cs_account_cred_set(const cs_config *cfg, const char *user, const cs_amk *amk, const cs_user_cred *cred);

/* The storage of the user's data: [storage] url, with the user's own
 * credentials when the keybag has them (*own = true; own may be NULL), else
 * the machine's.  Only S3 URLs look at the keybag; one that cannot be read
 * is then an error, not a silent fallback. */
int cs_storage_open_user(const cs_config *cfg, const char *user, const cs_amk *amk, cs_storage **out, bool *own);

#endif
