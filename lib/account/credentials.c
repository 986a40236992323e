/* SPDX-License-Identifier: MIT */
/* A user's own storage credentials in their keybag payload: see
 * credentials.h for the format and the reasons. */
#include "account/credentials.h"

#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "account/account.h"
#include "storage/storage_s3.h"
#include "util/log.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEALED_MAX (NONCE_BYTES + CS_CRED_SECRET_MAX + TAG_BYTES)
#define SEALED_B64_MAX sodium_base64_ENCODED_LEN(SEALED_MAX, sodium_base64_VARIANT_ORIGINAL)
#define AD_PREFIX "cloudseal-credential-v1"

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
    if (!s || len < 1 || len > CS_CRED_SECRET_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

/* Associated data: the format and the access key the secret belongs to. */
static size_t make_ad(const char *access_key, uint8_t ad[sizeof(AD_PREFIX) + CS_CRED_ACCESS_MAX])
{
    size_t n = strlen(access_key);

    memcpy(ad, AD_PREFIX, sizeof(AD_PREFIX)); /* with its NUL: a separator */
    memcpy(ad + sizeof(AD_PREFIX), access_key, n);
    return sizeof(AD_PREFIX) + n;
}

static int derive(const cs_amk *amk, uint8_t **key)
{
    *key = cs_secure_alloc(CS_KEY_BYTES);
    if (!*key)
        return -ENOMEM;
    return cs_amk_derive(amk, CS_SUBKEY_CREDENTIAL, *key);
}

int cs_cred_from_payload(json_object *payload, const cs_amk *amk, char access_key[CS_CRED_ACCESS_MAX + 1],
                         cs_secret **secret)
{
    json_object *st, *ak, *sealed;
    uint8_t blob[SEALED_MAX], ad[sizeof(AD_PREFIX) + CS_CRED_ACCESS_MAX], *key = NULL;
    const char *b64, *id;
    size_t blen = 0, b64len, adlen;
    unsigned long long plen = 0;
    cs_secret *s = NULL;
    int r;

    *secret = NULL;
    if (!json_object_is_type(payload, json_type_object) || !json_object_object_get_ex(payload, "storage", &st))
        return -ENOENT;
    if (!json_object_is_type(st, json_type_object) || !json_object_object_get_ex(st, "access_key", &ak) ||
        !json_object_object_get_ex(st, "secret_key_sealed", &sealed) ||
        !json_object_is_type(ak, json_type_string) || !json_object_is_type(sealed, json_type_string))
        return -EBADMSG;
    id = json_object_get_string(ak);
    if (!cs_cred_access_key_valid(id) || strlen(id) != (size_t)json_object_get_string_len(ak))
        return -EBADMSG;
    b64 = json_object_get_string(sealed);
    b64len = (size_t)json_object_get_string_len(sealed);
    if (b64len >= SEALED_B64_MAX ||
        sodium_base642bin(blob, sizeof(blob), b64, b64len, NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen < NONCE_BYTES + 1 + TAG_BYTES)
        return -EBADMSG;
    adlen = make_ad(id, ad);
    r = derive(amk, &key);
    if (r == 0)
        r = cs_secret_new(&s);
    /* at most CS_CRED_SECRET_MAX bytes of plaintext: fits the secret's buffer */
    if (r == 0 && crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)s->data, &plen, NULL, blob + NONCE_BYTES,
                                                             blen - NONCE_BYTES, ad, adlen, blob, key) != 0)
        r = -EBADMSG;
    if (r == 0) {
        s->len = (size_t)plen;
        s->data[s->len] = '\0';
        if (!cs_cred_secret_valid(s->data, s->len))
            r = -EBADMSG;
    }
    cs_secure_free(key);
    if (r < 0) {
        cs_secret_free(s);
        return r;
    }
    memcpy(access_key, id, strlen(id) + 1);
    *secret = s;
    return 0;
}

int cs_cred_to_payload(json_object *payload, const cs_amk *amk, const char *access_key, const cs_secret *secret)
{
    uint8_t blob[SEALED_MAX], ad[sizeof(AD_PREFIX) + CS_CRED_ACCESS_MAX], *key = NULL;
    char b64[SEALED_B64_MAX];
    json_object *st;
    size_t blen;
    int r;

    if (!json_object_is_type(payload, json_type_object))
        return -EINVAL;
    if (!access_key) {
        json_object_object_del(payload, "storage");
        return 0;
    }
    if (!cs_cred_access_key_valid(access_key) || !secret || !cs_cred_secret_valid(secret->data, secret->len))
        return -EINVAL;
    r = derive(amk, &key);
    if (r == 0) {
        randombytes_buf(blob, NONCE_BYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(blob + NONCE_BYTES, NULL, (const uint8_t *)secret->data,
                                                   secret->len, ad, make_ad(access_key, ad), NULL, blob, key);
        blen = NONCE_BYTES + secret->len + TAG_BYTES;
        sodium_bin2base64(b64, sizeof(b64), blob, blen, sodium_base64_VARIANT_ORIGINAL);
        st = json_object_new_object();
        if (!st || json_object_object_add(st, "access_key", json_object_new_string(access_key)) < 0 ||
            json_object_object_add(st, "secret_key_sealed", json_object_new_string(b64)) < 0 ||
            json_object_object_add(payload, "storage", st) < 0) {
            json_object_put(st);
            r = -ENOMEM;
        }
    }
    cs_secure_free(key);
    return r;
}

int cs_account_cred_get(const cs_config *cfg, const char *user, const cs_amk *amk,
                        char access_key[CS_CRED_ACCESS_MAX + 1], cs_secret **secret)
{
    json_object *payload = NULL;
    int r = cs_account_payload_get(cfg, user, amk, CS_UNLOCK_CACHE_ONLY, &payload);

    if (r == -ENOENT) /* no local copy of the keybag here: storage's */
        r = cs_account_payload_get(cfg, user, amk, 0, &payload);
    if (r == 0)
        r = cs_cred_from_payload(payload, amk, access_key, secret);
    json_object_put(payload);
    return r;
}

typedef struct cred_arg {
    const char *access_key;
    const cs_secret *secret;
} cred_arg;

static int edit_cred(json_object *payload, const cs_amk *amk, const void *arg)
{
    const cred_arg *a = arg;
    return cs_cred_to_payload(payload, amk, a->access_key, a->secret);
}

int cs_account_cred_set(const cs_config *cfg, const char *user, const cs_amk *amk, const char *access_key,
                        const cs_secret *secret)
{
    cred_arg a = { access_key, secret };
    return cs_account_payload_edit(cfg, user, amk, edit_cred, &a);
}

int cs_storage_open_user(const cs_config *cfg, const char *user, const cs_amk *amk, cs_storage **out, bool *own)
{
    char access_key[CS_CRED_ACCESS_MAX + 1];
    cs_secret *secret = NULL;
    int r;

    if (own)
        *own = false;
    /* file:// (local, NFS) takes no credentials: no keybag read per command */
    if (!cs_storage_url_is_s3(cs_config_str(cfg, "storage", "url")))
        return cs_storage_open_config(cfg, NULL, out);
    r = cs_account_cred_get(cfg, user, amk, access_key, &secret);
    if (own)
        *own = r == 0;
    if (r == -ENOENT)
        return cs_storage_open_config(cfg, NULL, out);
    if (r < 0) {
        log_error("cannot read your storage credentials from your keybag: %s", strerror(-r));
        return r;
    }
    r = cs_storage_open_config_creds(cfg, NULL, access_key, secret->data, out);
    cs_secret_free(secret);
    return r;
}
