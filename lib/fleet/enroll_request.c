/* SPDX-License-Identifier: MIT */
/* The enrollment request: see enroll_request.h for the format and what the
 * signature does and does not prove. */
#include "fleet/enroll_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "fleet/fleet_internal.h"
#include "util/buf.h"
#include "util/secmem.h"

#define DOMAIN "cloudseal-enrollment-request-v1"

/* A refusal with its reason in err (the caller's), as everywhere in fleet/. */
#define FAIL(...) (cs_fleet_fail(err, __VA_ARGS__), -EBADMSG)

/* The signed bytes: the domain and every field, each string NUL-ended so
 * that no two requests encode alike. */
static int signed_message(const char *user, const uint8_t key[CS_FLEET_PK_BYTES], const char *host, int64_t time,
                          cs_buf *m)
{
    uint8_t t[8];

    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)((uint64_t)time >> (8 * i));
    if (cs_buf_append(m, DOMAIN, sizeof(DOMAIN)) < 0 || cs_buf_append(m, user, strlen(user) + 1) < 0 ||
        cs_buf_append(m, key, CS_FLEET_PK_BYTES) < 0 || cs_buf_append(m, host, strlen(host) + 1) < 0 ||
        cs_buf_append(m, t, sizeof(t)) < 0)
        return -ENOMEM;
    return 0;
}

static bool host_valid(const char *h)
{
    size_t n = strlen(h);

    if (n < 1 || n > CS_ENROLL_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h[i] <= ' ' || h[i] > '~')
            return false;
    return true;
}

int cs_enroll_request_make(const char *user, const char *host, int64_t time, const cs_amk *amk, char **json)
{
    _cleanup_buf_ cs_buf m = CS_BUF_INIT;
    uint8_t pk[CS_SIGN_PK_BYTES], sig[crypto_sign_BYTES];
    uint8_t *sk = cs_secure_alloc(CS_SIGN_SK_BYTES);
    char pk64[sodium_base64_ENCODED_LEN(CS_SIGN_PK_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    json_object *o;
    int r;

    *json = NULL;
    if (!sk)
        return -ENOMEM;
    r = !cs_user_name_valid(user, CS_USER_NAME_FLEET) || !host_valid(host) || time < 0
            ? -EINVAL
            : cs_amk_sign_keypair(amk, pk, sk);
    if (r == 0)
        r = signed_message(user, pk, host, time, &m);
    if (r == 0)
        crypto_sign_detached(sig, NULL, m.data, m.len, sk);
    cs_secure_free(sk);
    if (r < 0)
        return r;
    sodium_bin2base64(pk64, sizeof(pk64), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    o = cs_fleet_small_new(user);
    json_object_object_add(o, "account_key", json_object_new_string(pk64));
    json_object_object_add(o, "host", json_object_new_string(host));
    json_object_object_add(o, "time", json_object_new_int64(time));
    json_object_object_add(o, "signature", json_object_new_string(sig64));
    return cs_fleet_small_finish(o, json);
}

static int check(json_object *o, const char *expect_user, cs_enroll_request *out, cs_fleet_err *err)
{
    _cleanup_buf_ cs_buf m = CS_BUF_INIT;
    uint8_t sig[crypto_sign_BYTES];
    json_object *v;
    const char *user, *host;

    user = cs_fleet_small_user(o, expect_user, err);
    if (!user)
        return -EBADMSG;
    host = cs_fleet_json_str(o, "host", CS_ENROLL_HOST_MAX);
    if (!host || !host_valid(host))
        return FAIL("no valid \"host\"");
    if (!json_object_object_get_ex(o, "time", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0 || json_object_get_int64(v) == INT64_MAX)
        return FAIL("no valid \"time\"");
    if (cs_fleet_json_b64(o, "account_key", out->account_key, CS_FLEET_PK_BYTES) < 0)
        return FAIL("\"account_key\" is not base64 of 32 bytes");
    if (cs_fleet_json_b64(o, "signature", sig, sizeof(sig)) < 0)
        return FAIL("\"signature\" is not base64 of 64 bytes");
    out->time = json_object_get_int64(v);
    if (signed_message(user, out->account_key, host, out->time, &m) < 0)
        return -ENOMEM;
    if (crypto_sign_verify_detached(sig, m.data, m.len, out->account_key) != 0)
        return FAIL("the signature does not verify with the account key it names (changed, or forged)");
    snprintf(out->user, sizeof(out->user), "%s", user);
    snprintf(out->host, sizeof(out->host), "%s", host);
    return 0;
}

int cs_enroll_request_parse(const void *data, size_t len, const char *expect_user, cs_enroll_request *out,
                            cs_fleet_err *err)
{
    json_object *o;
    int r = cs_fleet_small_json(data, len, CS_ENROLL_REQUEST_MAX, &o, err);

    memset(out, 0, sizeof(*out));
    if (r == 0)
        r = check(o, expect_user, out, err);
    json_object_put(o);
    if (r < 0)
        memset(out, 0, sizeof(*out));
    return r;
}
