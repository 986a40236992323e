/* SPDX-License-Identifier: MIT */
/* A user's own storage credentials in their keybag payload: see
 * credentials.h for the format and the reasons. */
#include "account/credentials.h"

#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "account/account.h"
#include "storage/s3_creds.h"
#include "storage/storage_s3.h"
#include "util/macros.h"
#include "util/log.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEALED_MAX (NONCE_BYTES + CS_CRED_TOKEN_MAX + TAG_BYTES)
#define SEALED_B64_MAX sodium_base64_ENCODED_LEN(SEALED_MAX, sodium_base64_VARIANT_ORIGINAL)
#define AD_PREFIX "cloudseal-credential-v1"
#define AD_TOKEN_PREFIX "cloudseal-credential-token-v1"
#define AD_MAX (sizeof(AD_TOKEN_PREFIX) + CS_CRED_ACCESS_MAX)

/* Access keys go into the SigV4 Credential field ("AK/date/region/s3/
 * aws4_request, SignedHeaders=...") : no separators, no spaces. */
bool cs_cred_access_key_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n < 1 || n > CS_CRED_ACCESS_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || strchr("/,=", s[i]))
            return false;
    return true;
}

bool cs_cred_secret_valid(const char *s, size_t len)
{
    return cs_s3_secret_valid(s, len, CS_CRED_SECRET_MAX);
}

/* Associated data: the format (secret key or token) and the access key the
 * secret belongs to. */
static size_t make_ad(const char *prefix, const char *access_key, uint8_t ad[AD_MAX])
{
    size_t n = strlen(access_key), p = strlen(prefix) + 1; /* with its NUL: a separator */

    memcpy(ad, prefix, p);
    memcpy(ad + p, access_key, n);
    return p + n;
}

static int derive(const cs_amk *amk, uint8_t **key)
{
    *key = cs_secure_alloc(CS_KEY_BYTES);
    if (!*key)
        return -ENOMEM;
    return cs_amk_derive(amk, CS_SUBKEY_CREDENTIAL, *key);
}

/* Open a sealed base64 string (at most max bytes of plaintext) into a new
 * secret: -EBADMSG for anything that does not open. */
static int open_sealed(json_object *sealed, const cs_amk *amk, const char *prefix, const char *access_key,
                       size_t max, cs_secret **out)
{
    _cleanup_free_ uint8_t *blob = malloc(SEALED_MAX); /* ciphertext: not secret */
    uint8_t ad[AD_MAX], *key = NULL;
    const char *b64 = json_object_get_string(sealed);
    size_t blen = 0, b64len = (size_t)json_object_get_string_len(sealed);
    unsigned long long plen = 0;
    cs_secret *s = NULL;
    int r;

    *out = NULL;
    if (!blob)
        return -ENOMEM;
    if (!json_object_is_type(sealed, json_type_string) || b64len >= SEALED_B64_MAX ||
        sodium_base642bin(blob, SEALED_MAX, b64, b64len, NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen < NONCE_BYTES + 1 + TAG_BYTES || blen > NONCE_BYTES + max + TAG_BYTES)
        return -EBADMSG;
    r = derive(amk, &key);
    if (r == 0)
        r = cs_secret_new(&s);
    /* at most max <= CS_SECRET_MAX bytes of plaintext: fits the secret's buffer */
    if (r == 0 && crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)s->data, &plen, NULL, blob + NONCE_BYTES,
                                                             blen - NONCE_BYTES, ad,
                                                             make_ad(prefix, access_key, ad), blob, key) != 0)
        r = -EBADMSG;
    if (r == 0) {
        s->len = (size_t)plen;
        s->data[s->len] = '\0';
        if (!cs_s3_secret_valid(s->data, s->len, max))
            r = -EBADMSG;
    }
    cs_secure_free(key);
    if (r < 0)
        cs_secret_free(s);
    else
        *out = s;
    return r;
}

/* Seal secret under amk into a new base64 JSON string. */
static int seal(const cs_amk *amk, const char *prefix, const char *access_key, const cs_secret *secret,
                json_object **out)
{
    _cleanup_free_ uint8_t *blob = malloc(SEALED_MAX); /* ciphertext: not secret */
    _cleanup_free_ char *b64 = malloc(SEALED_B64_MAX);
    uint8_t ad[AD_MAX], *key = NULL;
    int r = blob && b64 ? derive(amk, &key) : -ENOMEM;

    *out = NULL;
    if (r == 0) {
        randombytes_buf(blob, NONCE_BYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(blob + NONCE_BYTES, NULL, (const uint8_t *)secret->data,
                                                   secret->len, ad, make_ad(prefix, access_key, ad), NULL, blob,
                                                   key);
        sodium_bin2base64(b64, SEALED_B64_MAX, blob, NONCE_BYTES + secret->len + TAG_BYTES,
                          sodium_base64_VARIANT_ORIGINAL);
        *out = json_object_new_string(b64);
        r = *out ? 0 : -ENOMEM;
    }
    cs_secure_free(key);
    return r;
}

int cs_cred_from_payload(json_object *payload, const cs_amk *amk, char access_key[CS_CRED_ACCESS_MAX + 1],
                         cs_secret **secret)
{
    json_object *st, *ak, *sealed;
    const char *id;
    int r;

    *secret = NULL;
    if (!json_object_is_type(payload, json_type_object) || !json_object_object_get_ex(payload, "storage", &st))
        return -ENOENT;
    if (!json_object_is_type(st, json_type_object) || !json_object_object_get_ex(st, "access_key", &ak) ||
        !json_object_object_get_ex(st, "secret_key_sealed", &sealed) || !json_object_is_type(ak, json_type_string))
        return -EBADMSG;
    id = json_object_get_string(ak);
    if (!cs_cred_access_key_valid(id) || strlen(id) != (size_t)json_object_get_string_len(ak))
        return -EBADMSG;
    r = open_sealed(sealed, amk, AD_PREFIX, id, CS_CRED_SECRET_MAX, secret);
    if (r == 0)
        memcpy(access_key, id, strlen(id) + 1);
    return r;
}

int cs_cred_token_from_payload(json_object *payload, const cs_amk *amk, const char *access_key,
                               cs_secret **token, int64_t *expires)
{
    json_object *st, *sealed, *exp;

    *token = NULL;
    *expires = 0;
    if (!json_object_object_get_ex(payload, "storage", &st) || !json_object_is_type(st, json_type_object) ||
        !json_object_object_get_ex(st, "session_token_sealed", &sealed))
        return -ENOENT;
    if (json_object_object_get_ex(st, "expires", &exp)) {
        if (!json_object_is_type(exp, json_type_int) || json_object_get_int64(exp) <= 0 ||
            json_object_get_int64(exp) == INT64_MAX)
            return -EBADMSG;
        *expires = json_object_get_int64(exp);
    }
    return open_sealed(sealed, amk, AD_TOKEN_PREFIX, access_key, CS_CRED_TOKEN_MAX, token);
}

int cs_cred_to_payload(json_object *payload, const cs_amk *amk, const char *access_key, const cs_secret *secret)
{
    json_object *st = NULL, *sealed = NULL;
    int r;

    if (!json_object_is_type(payload, json_type_object))
        return -EINVAL;
    if (!access_key) {
        json_object_object_del(payload, "storage");
        return 0;
    }
    if (!cs_cred_access_key_valid(access_key) || !secret || !cs_cred_secret_valid(secret->data, secret->len))
        return -EINVAL;
    r = seal(amk, AD_PREFIX, access_key, secret, &sealed);
    if (r == 0) {
        st = json_object_new_object();
        if (!st || json_object_object_add(st, "access_key", json_object_new_string(access_key)) < 0 ||
            json_object_object_add(st, "secret_key_sealed", CS_TAKE_PTR(sealed)) < 0 ||
            json_object_object_add(payload, "storage", st) < 0) {
            json_object_put(st);
            r = -ENOMEM;
        }
    }
    json_object_put(sealed);
    return r;
}

int cs_cred_token_to_payload(json_object *payload, const cs_amk *amk, const char *access_key,
                             const cs_secret *token, int64_t expires)
{
    json_object *st, *sealed = NULL;
    int r;

    if (!json_object_object_get_ex(payload, "storage", &st) || !json_object_is_type(st, json_type_object))
        return -EINVAL;
    json_object_object_del(st, "session_token_sealed");
    json_object_object_del(st, "expires");
    if (!token)
        return 0;
    if (!cs_s3_secret_valid(token->data, token->len, CS_CRED_TOKEN_MAX) || expires < 0)
        return -EINVAL;
    r = seal(amk, AD_TOKEN_PREFIX, access_key, token, &sealed);
    if (r == 0 && json_object_object_add(st, "session_token_sealed", CS_TAKE_PTR(sealed)) < 0)
        r = -ENOMEM;
    if (r == 0 && expires > 0 && json_object_object_add(st, "expires", json_object_new_int64(expires)) < 0)
        r = -ENOMEM;
    json_object_put(sealed);
    return r;
}

int cs_account_cred_get(const cs_config *cfg, const char *user, const cs_amk *amk, cs_user_cred *out)
{
    json_object *payload = NULL;
    int r = cs_account_payload_get(cfg, user, amk, CS_UNLOCK_CACHE_ONLY, &payload);

    memset(out, 0, sizeof(*out));
    if (r == -ENOENT) /* no local copy of the keybag here: storage's */
        r = cs_account_payload_get(cfg, user, amk, 0, &payload);
    if (r == 0)
        r = cs_cred_from_payload(payload, amk, out->access_key, &out->secret);
    if (r == 0) {
        r = cs_cred_token_from_payload(payload, amk, out->access_key, &out->token, &out->expires);
        if (r == -ENOENT)
            r = 0;
    }
    json_object_put(payload);
    if (r < 0)
        cs_user_cred_clear(out);
    return r;
}

void cs_user_cred_clear(cs_user_cred *c)
{
    cs_secret_free(c->secret);
    cs_secret_free(c->token);
    memset(c, 0, sizeof(*c));
}

static int edit_cred(json_object *payload, const cs_amk *amk, const void *arg)
{
    const cs_user_cred *a = arg;
    int r = cs_cred_to_payload(payload, amk, a->access_key[0] ? a->access_key : NULL, a->secret);

    if (r == 0 && a->access_key[0] && a->token)
        r = cs_cred_token_to_payload(payload, amk, a->access_key, a->token, a->expires);
    return r;
}

int cs_account_cred_set(const cs_config *cfg, const char *user, const cs_amk *amk, const cs_user_cred *cred)
{
    static const cs_user_cred none;
    return cs_account_payload_edit(cfg, user, amk, edit_cred, cred ? cred : &none);
}

int cs_storage_open_user(const cs_config *cfg, const char *user, const cs_amk *amk, cs_storage **out, bool *own)
{
    cs_user_cred cred;
    cs_storage_opts o = { .cred_source = "your keybag (cloudseal storage credentials)" };
    int r;

    if (own)
        *own = false;
    /* file:// (local, NFS) takes no credentials: no keybag read per command */
    if (!cs_storage_url_is_s3(cs_config_str(cfg, "storage", "url")))
        return cs_storage_open_config(cfg, NULL, out);
    r = cs_account_cred_get(cfg, user, amk, &cred);
    if (own)
        *own = r == 0;
    if (r == -ENOENT)
        return cs_storage_open_config(cfg, NULL, out);
    if (r < 0)
        return log_error_errno(r, "cannot read your storage credentials from your keybag");
    o.access_key = cred.access_key;
    o.secret_key = cred.secret->data;
    o.session_token = cred.token ? cred.token->data : NULL;
    o.token_expires = cred.expires;
    r = cs_storage_open_config_creds(cfg, NULL, &o, out);
    cs_user_cred_clear(&cred);
    return r;
}
