/* SPDX-License-Identifier: MIT */
/* The small JSON objects users file for admins (enrollment requests, key
 * escrow): one strict parser and the member readers both use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "fleet/fleet_internal.h"

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

int cs_fleet_small_json(const void *data, size_t len, size_t max, json_object **out, cs_fleet_err *err)
{
    json_tokener *tok;
    json_object *o;
    int r;

    *out = NULL;
    if (len > max)
        return cs_fleet_fail(err, "larger than %zu bytes", max), -EBADMSG;
    if (len == 0 || memchr(data, '\0', len))
        return cs_fleet_fail(err, "empty, or not text"), -EBADMSG;
    tok = json_tokener_new_ex(4); /* the formats are flat */
    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, data, (int)len);
    r = !o || json_tokener_get_error(tok) != json_tokener_success ? (cs_fleet_fail(err, "not valid JSON"), -EBADMSG)
                                                                   : 0;
    json_tokener_free(tok);
    if (r == 0 && !json_object_is_type(o, json_type_object))
        r = (cs_fleet_fail(err, "not a JSON object"), -EBADMSG);
    if (r < 0) {
        json_object_put(o);
        return r;
    }
    *out = o;
    return 0;
}

const char *cs_fleet_json_str(json_object *o, const char *name, size_t max)
{
    json_object *v;

    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string) ||
        (size_t)json_object_get_string_len(v) > max ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return NULL;
    return json_object_get_string(v);
}

int cs_fleet_json_b64(json_object *o, const char *name, uint8_t *out, size_t len)
{
    const char *s = cs_fleet_json_str(o, name, 2 * len + 8);
    size_t got = 0;

    if (!s || sodium_base642bin(out, len, s, strlen(s), NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != len)
        return -EBADMSG;
    return 0;
}

int cs_fleet_json_version(json_object *o, int64_t want)
{
    json_object *v;

    return json_object_object_get_ex(o, "version", &v) && json_object_is_type(v, json_type_int) &&
                   json_object_get_int64(v) == want
               ? 0
               : -EBADMSG;
}

const char *cs_fleet_small_user(json_object *o, const char *expect_user, cs_fleet_err *err)
{
    const char *user;

    if (cs_fleet_json_version(o, 1) < 0)
        return cs_fleet_fail(err, "unsupported version (this cloudseal reads version 1)"), NULL;
    user = cs_fleet_json_str(o, "user", CS_FLEET_NAME_MAX);
    if (!user || !cs_user_name_valid(user, CS_USER_NAME_FLEET))
        return cs_fleet_fail(err, "no valid \"user\""), NULL;
    if (expect_user && strcmp(user, expect_user) != 0)
        return cs_fleet_fail(err, "filed for user '%s', not '%s'", user, expect_user), NULL;
    return user;
}
