/* SPDX-License-Identifier: MIT */
/* The keybag seal: see keybag_seal.h for the format and what it proves. */
#include "fleet/keybag_seal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <sodium.h>

#include "fleet/fleet_internal.h"
#include "util/buf.h"
#include "util/macros.h"

#define DOMAIN "cloudseal-keybag-seal-v1"

#define FAIL(...) (cs_fleet_fail(err, __VA_ARGS__), -EBADMSG)

/* The signed bytes: the domain and every field, fixed widths after the
 * NUL-ended user, so that no two seals encode alike. */
static int signed_message(const cs_keybag_seal *s, cs_buf *m)
{
    if (cs_fleet_small_message(m, DOMAIN, s->user) < 0 || cs_put_le64(m, s->generation) < 0 ||
        cs_buf_append(m, s->sha256, sizeof(s->sha256)) < 0 || cs_put_le64(m, (uint64_t)s->time) < 0)
        return -ENOMEM;
    return 0;
}

static bool fields_valid(const cs_keybag_seal *s)
{
    return cs_user_name_valid(s->user, CS_USER_NAME_FLEET) && s->generation >= 1 &&
           s->generation <= CS_KEYBAG_GENERATION_MAX && s->time >= 0 && s->time != INT64_MAX;
}

int cs_keybag_seal_make(const cs_keybag_seal *seal, const cs_amk *amk, char **json)
{
    _cleanup_buf_ cs_buf m = CS_BUF_INIT;
    char sha64[sodium_base64_ENCODED_LEN(CS_KEYBAG_SHA256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char sig64[CS_FLEET_SIG64_BYTES];
    json_object *o;
    int r = fields_valid(seal) ? signed_message(seal, &m) : -EINVAL;

    *json = NULL;
    if (r == 0)
        r = cs_fleet_small_sign(&m, amk, sig64);
    if (r < 0)
        return r;
    sodium_bin2base64(sha64, sizeof(sha64), seal->sha256, sizeof(seal->sha256), sodium_base64_VARIANT_ORIGINAL);
    o = cs_fleet_small_new(seal->user);
    json_object_object_add(o, "generation", json_object_new_int64((int64_t)seal->generation));
    json_object_object_add(o, "sha256", json_object_new_string(sha64));
    json_object_object_add(o, "time", json_object_new_int64(seal->time));
    json_object_object_add(o, "signature", json_object_new_string(sig64));
    return cs_fleet_small_finish(o, json);
}

typedef struct seal_json {
    cs_fleet_small head;
    cs_keybag_seal seal;
    uint8_t sig[crypto_sign_BYTES];
} seal_json;

/* Nothing but these members: a seal is signed whole. */
static const cs_json_field seal_fields[] = {
    CS_FLEET_SMALL_FIELDS(seal_json),
    CS_JSON_U64("generation", seal_json, seal.generation, 1, CS_KEYBAG_GENERATION_MAX, CS_JSON_MANDATORY),
    CS_JSON_B64("sha256", seal_json, seal.sha256, CS_JSON_MANDATORY),
    CS_JSON_I64("time", seal_json, seal.time, 0, INT64_MAX - 1, CS_JSON_MANDATORY),
    CS_JSON_B64("signature", seal_json, sig, CS_JSON_MANDATORY),
    {},
};

int cs_keybag_seal_parse(const void *data, size_t len, const char *expect_user,
                         const uint8_t account_key[CS_FLEET_PK_BYTES], cs_keybag_seal *out, cs_fleet_err *err)
{
    _cleanup_buf_ cs_buf m = CS_BUF_INIT;
    seal_json j = { 0 };
    int r = cs_fleet_small_read(data, len, CS_KEYBAG_SEAL_MAX, seal_fields, CS_JSON_REFUSE_UNKNOWN, &j.head, &j,
                                expect_user, err);

    memset(out, 0, sizeof(*out));
    if (r < 0)
        return r;
    memcpy(j.seal.user, j.head.user, sizeof(j.seal.user));
    if (signed_message(&j.seal, &m) < 0)
        return -ENOMEM;
    if (crypto_sign_verify_detached(j.sig, m.data, m.len, account_key) != 0)
        return FAIL("the signature does not verify with the account key the directory pins (changed, forged, "
                    "or made by another account)");
    *out = j.seal;
    return 0;
}

int cs_keybag_seal_for(const char *user, const cs_amk *amk, uint64_t gen, const void *keybag, size_t len,
                       char **json)
{
    cs_keybag_seal seal = { .generation = gen, .time = (int64_t)time(NULL) };

    *json = NULL;
    if (snprintf(seal.user, sizeof(seal.user), "%s", user) >= (int)sizeof(seal.user))
        return -EINVAL;
    crypto_hash_sha256(seal.sha256, keybag, len);
    return cs_keybag_seal_make(&seal, amk, json);
}
