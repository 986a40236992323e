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

#define DOMAIN "cloudseal-enrollment-request-v1"

/* A refusal with its reason in err (the caller's), as everywhere in fleet/. */
#define FAIL(...) (cs_fleet_fail(err, __VA_ARGS__), -EBADMSG)

/* The signed bytes: the domain and every field, each string NUL-ended so
 * that no two requests encode alike. */
static int signed_message(const char *user, const uint8_t key[CS_FLEET_PK_BYTES], const char *host, int64_t time,
                          cs_buf *m)
{
    if (cs_fleet_small_message(m, DOMAIN, user) < 0 || cs_buf_append(m, key, CS_FLEET_PK_BYTES) < 0 ||
        cs_buf_append(m, host, strlen(host) + 1) < 0 || cs_put_le64(m, (uint64_t)time) < 0)
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
    uint8_t pk[CS_SIGN_PK_BYTES];
    char pk64[sodium_base64_ENCODED_LEN(CS_SIGN_PK_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char sig64[CS_FLEET_SIG64_BYTES];
    json_object *o;
    int r = !cs_user_name_valid(user, CS_USER_NAME_FLEET) || !host_valid(host) || time < 0
                ? -EINVAL
                : cs_amk_account_pubkey(amk, pk);

    *json = NULL;
    if (r == 0)
        r = signed_message(user, pk, host, time, &m);
    if (r == 0)
        r = cs_fleet_small_sign(&m, amk, sig64);
    if (r < 0)
        return r;
    sodium_bin2base64(pk64, sizeof(pk64), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
    o = cs_fleet_small_new(user);
    json_object_object_add(o, "account_key", json_object_new_string(pk64));
    json_object_object_add(o, "host", json_object_new_string(host));
    json_object_object_add(o, "time", json_object_new_int64(time));
    json_object_object_add(o, "signature", json_object_new_string(sig64));
    return cs_fleet_small_finish(o, json);
}

typedef struct request_json {
    cs_fleet_small head;
    cs_enroll_request req;
    uint8_t sig[crypto_sign_BYTES];
} request_json;

/* Other members are ignored, as they always were: the signature covers
 * only these. */
static const cs_json_field request_fields[] = {
    CS_FLEET_SMALL_FIELDS(request_json),
    CS_JSON_STRBUF("host", request_json, req.host, CS_JSON_MANDATORY),
    CS_JSON_I64("time", request_json, req.time, 0, INT64_MAX - 1, CS_JSON_MANDATORY),
    CS_JSON_B64("account_key", request_json, req.account_key, CS_JSON_MANDATORY),
    CS_JSON_B64("signature", request_json, sig, CS_JSON_MANDATORY),
    {},
};

int cs_enroll_request_parse(const void *data, size_t len, const char *expect_user, cs_enroll_request *out,
                            cs_fleet_err *err)
{
    _cleanup_buf_ cs_buf m = CS_BUF_INIT;
    request_json j = { 0 };
    int r = cs_fleet_small_read(data, len, CS_ENROLL_REQUEST_MAX, request_fields, 0, &j.head, &j, expect_user, err);

    memset(out, 0, sizeof(*out));
    if (r < 0)
        return r;
    if (!host_valid(j.req.host))
        return FAIL("field 'host' is not a host name");
    memcpy(j.req.user, j.head.user, sizeof(j.req.user));
    if (signed_message(j.req.user, j.req.account_key, j.req.host, j.req.time, &m) < 0)
        return -ENOMEM;
    if (crypto_sign_verify_detached(j.sig, m.data, m.len, j.req.account_key) != 0)
        return FAIL("the signature does not verify with the account key it names (changed, or forged)");
    *out = j.req;
    return 0;
}
