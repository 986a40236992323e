/* SPDX-License-Identifier: MIT */
/* The small JSON objects users file for admins (keybag seals, enrollment
 * requests, key escrow): how they are read, signed and written, once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "fleet/fleet_internal.h"
#include "util/secmem.h"

_Static_assert(CS_FLEET_SIG64_BYTES == sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL),
               "signature text size");

int cs_fleet_user_object(const char *user, const char *name, char *out, size_t len)
{
    int n;

    if (!cs_user_name_valid(user, CS_USER_NAME_FLEET))
        return -EINVAL;
    n = snprintf(out, len, "users/%s/%s", user, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

json_object *cs_fleet_small_new(const char *user)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "user", json_object_new_string(user));
    return o;
}

int cs_fleet_small_finish(json_object *o, char **json)
{
    *json = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
    return *json ? 0 : -ENOMEM;
}

static int parse(const void *data, size_t len, size_t max, json_object **o, cs_fleet_err *err)
{
    const char *why = NULL;
    int r = cs_json_parse_object(data, len, max, 4 /* the formats are flat */, o, &why);

    if (r == -E2BIG)
        return cs_fleet_fail(err, "larger than %zu bytes", max), -EBADMSG;
    if (r == -EBADMSG && len > 0 && !memchr(data, '\0', len))
        cs_fleet_fail(err, "%s", strcmp(why, "not a JSON object") == 0 ? why : "not valid JSON");
    else if (r == -EBADMSG)
        cs_fleet_fail(err, "empty, or not text");
    return r;
}

/* Version first, so that a later version is told as such rather than by
 * the first member it changed. */
static int read_head(json_object *o, cs_fleet_small *head, const char *expect_user, cs_fleet_err *err)
{
    static const cs_json_field version[] = {
        CS_JSON_I64("version", cs_fleet_small, version, 0, 0, CS_JSON_MANDATORY),
        {},
    };
    static const cs_json_field user[] = {
        CS_JSON_STRBUF("user", cs_fleet_small, user, CS_JSON_MANDATORY),
        {},
    };
    cs_json_error jerr;

    if (cs_json_dispatch(o, version, 0, head, &jerr) < 0 || head->version != 1)
        return cs_fleet_fail(err, "unsupported version (this cloudseal reads version 1)"), -EBADMSG;
    if (cs_json_dispatch(o, user, 0, head, &jerr) < 0 || !cs_user_name_valid(head->user, CS_USER_NAME_FLEET))
        return cs_fleet_fail(err, "no valid \"user\""), -EBADMSG;
    if (expect_user && strcmp(head->user, expect_user) != 0)
        return cs_fleet_fail(err, "filed for user '%s', not '%s'", head->user, expect_user), -EBADMSG;
    return 0;
}

int cs_fleet_small_read(const void *data, size_t len, size_t max, const cs_json_field *fields, unsigned flags,
                        cs_fleet_small *head, void *base, const char *expect_user, cs_fleet_err *err)
{
    _cleanup_json_ json_object *o = NULL;
    cs_json_error jerr;
    int r = parse(data, len, max, &o, err);

    if (r == 0)
        r = read_head(o, head, expect_user, err);
    if (r == 0 && (r = cs_json_dispatch(o, fields, flags, base, &jerr)) == -EBADMSG)
        cs_fleet_fail(err, "%s", jerr.msg);
    return r;
}

int cs_fleet_small_message(cs_buf *m, const char *domain, const char *user)
{
    if (cs_buf_append(m, domain, strlen(domain) + 1) < 0 || cs_buf_append(m, user, strlen(user) + 1) < 0)
        return -ENOMEM;
    return 0;
}

int cs_fleet_small_sign(const cs_buf *m, const cs_amk *amk, char sig64[CS_FLEET_SIG64_BYTES])
{
    uint8_t pub[CS_SIGN_PK_BYTES], sig[crypto_sign_BYTES];
    uint8_t *sk = cs_secure_alloc(CS_SIGN_SK_BYTES);
    int r = sk ? cs_amk_sign_keypair(amk, pub, sk) : -ENOMEM;

    if (r == 0) {
        crypto_sign_detached(sig, NULL, m->data, m->len, sk);
        sodium_bin2base64(sig64, CS_FLEET_SIG64_BYTES, sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    }
    cs_secure_free(sk);
    return r;
}
