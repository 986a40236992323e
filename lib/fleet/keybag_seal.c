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
#include "util/secmem.h"

#define DOMAIN "cloudseal-keybag-seal-v1"
#define MEMBERS 6 /* version, user, generation, sha256, time, signature */

#define FAIL(...) (cs_fleet_fail(err, __VA_ARGS__), -EBADMSG)

static void le64(uint64_t v, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

/* The signed bytes: the domain and every field, fixed widths after the
 * NUL-ended user, so that no two seals encode alike. */
static int signed_message(const cs_keybag_seal *s, cs_buf *m)
{
    uint8_t g[8], t[8];

    le64(s->generation, g);
    le64((uint64_t)s->time, t);
    if (cs_buf_append(m, DOMAIN, sizeof(DOMAIN)) < 0 || cs_buf_append(m, s->user, strlen(s->user) + 1) < 0 ||
        cs_buf_append(m, g, sizeof(g)) < 0 || cs_buf_append(m, s->sha256, sizeof(s->sha256)) < 0 ||
        cs_buf_append(m, t, sizeof(t)) < 0)
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
    uint8_t pk[CS_SIGN_PK_BYTES], sig[crypto_sign_BYTES];
    uint8_t *sk = cs_secure_alloc(CS_SIGN_SK_BYTES);
    char sha64[sodium_base64_ENCODED_LEN(CS_KEYBAG_SHA256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    json_object *o;
    int r;

    *json = NULL;
    if (!sk)
        return -ENOMEM;
    r = fields_valid(seal) ? cs_amk_sign_keypair(amk, pk, sk) : -EINVAL;
    if (r == 0)
        r = signed_message(seal, &m);
    if (r == 0)
        crypto_sign_detached(sig, NULL, m.data, m.len, sk);
    cs_secure_free(sk);
    if (r < 0)
        return r;
    sodium_bin2base64(sha64, sizeof(sha64), seal->sha256, sizeof(seal->sha256), sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    o = cs_fleet_small_new(seal->user);
    json_object_object_add(o, "generation", json_object_new_int64((int64_t)seal->generation));
    json_object_object_add(o, "sha256", json_object_new_string(sha64));
    json_object_object_add(o, "time", json_object_new_int64(seal->time));
    json_object_object_add(o, "signature", json_object_new_string(sig64));
    return cs_fleet_small_finish(o, json);
}

static int get_int(json_object *o, const char *name, int64_t min, int64_t max, int64_t *out)
{
    json_object *v;

    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
        return -EBADMSG;
    errno = 0;
    *out = json_object_get_int64(v);
    return errno == 0 && *out >= min && *out <= max ? 0 : -EBADMSG;
}

static int check(json_object *o, const char *expect_user, const uint8_t key[CS_FLEET_PK_BYTES],
                 cs_keybag_seal *out, cs_fleet_err *err)
{
    _cleanup_buf_ cs_buf m = CS_BUF_INIT;
    uint8_t sig[crypto_sign_BYTES];
    const char *user = cs_fleet_small_user(o, expect_user, err);
    int64_t gen, t;

    if (!user)
        return -EBADMSG;
    if (json_object_object_length(o) != MEMBERS)
        return FAIL("members other than version, user, generation, sha256, time and signature");
    if (get_int(o, "generation", 1, (int64_t)CS_KEYBAG_GENERATION_MAX, &gen) < 0)
        return FAIL("no valid \"generation\" (1..2^53)");
    if (get_int(o, "time", 0, INT64_MAX - 1, &t) < 0)
        return FAIL("no valid \"time\"");
    if (cs_fleet_json_b64(o, "sha256", out->sha256, CS_KEYBAG_SHA256_BYTES) < 0)
        return FAIL("\"sha256\" is not base64 of 32 bytes");
    if (cs_fleet_json_b64(o, "signature", sig, sizeof(sig)) < 0)
        return FAIL("\"signature\" is not base64 of 64 bytes");
    snprintf(out->user, sizeof(out->user), "%s", user);
    out->generation = (uint64_t)gen;
    out->time = t;
    if (signed_message(out, &m) < 0)
        return -ENOMEM;
    if (crypto_sign_verify_detached(sig, m.data, m.len, key) != 0)
        return FAIL("the signature does not verify with the account key the directory pins (changed, forged, "
                    "or made by another account)");
    return 0;
}

int cs_keybag_seal_parse(const void *data, size_t len, const char *expect_user,
                         const uint8_t account_key[CS_FLEET_PK_BYTES], cs_keybag_seal *out, cs_fleet_err *err)
{
    json_object *o;
    int r = cs_fleet_small_json(data, len, CS_KEYBAG_SEAL_MAX, &o, err);

    memset(out, 0, sizeof(*out));
    if (r == 0)
        r = check(o, expect_user, account_key, out, err);
    json_object_put(o);
    if (r < 0)
        memset(out, 0, sizeof(*out));
    return r;
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
