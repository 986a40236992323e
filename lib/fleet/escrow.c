/* SPDX-License-Identifier: MIT */
/* Key escrow objects: see escrow.h for the format and why it needs no
 * signature of its own. */
#include "fleet/escrow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "crypto/keybag.h"
#include "fleet/fleet_internal.h"
#include "util/secmem.h"

#define SEALED_BYTES (crypto_box_SEALBYTES + CS_KEY_BYTES)
#define FAIL(...) (cs_fleet_fail(err, __VA_ARGS__), -EBADMSG)

int cs_escrow_make(const char *user, const cs_amk *amk, const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES],
                   char **json)
{
    uint8_t sealed[SEALED_BYTES];
    char id[CS_ACCOUNT_ID_HEX + 1], pk64[48], sealed64[sodium_base64_ENCODED_LEN(SEALED_BYTES,
                                                                                 sodium_base64_VARIANT_ORIGINAL)];
    json_object *o;
    int r;

    *json = NULL;
    if (!cs_user_name_valid(user, CS_USER_NAME_FLEET))
        return -EINVAL;
    r = cs_account_id_from_amk(amk, id);
    if (r < 0)
        return r;
    if (crypto_box_seal(sealed, amk->key, CS_KEY_BYTES, escrow_pk) != 0)
        return -EINVAL; /* not a usable X25519 public key */
    cs_fleet_encode_key(escrow_pk, pk64);
    sodium_bin2base64(sealed64, sizeof(sealed64), sealed, sizeof(sealed), sodium_base64_VARIANT_ORIGINAL);
    o = cs_fleet_small_new(user);
    json_object_object_add(o, "account_id", json_object_new_string(id));
    json_object_object_add(o, "escrow_key", json_object_new_string(pk64));
    json_object_object_add(o, "sealed", json_object_new_string(sealed64));
    return cs_fleet_small_finish(o, json);
}

int cs_escrow_file(cs_storage *st, const char *user, const cs_amk *amk,
                   const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES])
{
    char key[128], *json = NULL;
    int r = cs_fleet_user_object(user, "escrow", key, sizeof(key));

    if (r == 0)
        r = cs_escrow_make(user, amk, escrow_pk, &json);
    if (r == 0)
        r = cs_storage_put(st, key, json, strlen(json), CS_PUT_REPLACE);
    free(json);
    return r;
}

static int open_object(json_object *o, const char *expect_user, const uint8_t *escrow_sk, cs_amk **amk,
                       cs_fleet_err *err)
{
    uint8_t sealed[SEALED_BYTES], pk[CS_FLEET_ESCROW_PK_BYTES], named_pk[CS_FLEET_ESCROW_PK_BYTES];
    uint8_t *raw = NULL;
    char id[CS_ACCOUNT_ID_HEX + 1];
    const char *user, *named_id;
    cs_amk *out = NULL;
    int r;

    user = cs_fleet_small_user(o, expect_user, err);
    if (!user)
        return -EBADMSG;
    named_id = cs_fleet_json_str(o, "account_id", CS_ACCOUNT_ID_HEX);
    if (!named_id || strlen(named_id) != CS_ACCOUNT_ID_HEX)
        return FAIL("no valid \"account_id\"");
    if (cs_fleet_json_b64(o, "escrow_key", named_pk, sizeof(named_pk)) < 0 ||
        cs_fleet_json_b64(o, "sealed", sealed, sizeof(sealed)) < 0)
        return FAIL("\"escrow_key\" or \"sealed\" is not base64 of the right length");
    crypto_scalarmult_base(pk, escrow_sk);
    if (sodium_memcmp(pk, named_pk, sizeof(pk)) != 0)
        return FAIL("sealed to another escrow key than this secret key's");
    raw = cs_secure_alloc(CS_KEY_BYTES);
    if (!raw)
        return -ENOMEM;
    r = crypto_box_seal_open(raw, sealed, sizeof(sealed), pk, escrow_sk) == 0 ? 0 : FAIL("the sealed key does not open");
    if (r == 0)
        r = cs_amk_from_bytes(raw, CS_KEY_BYTES, &out);
    cs_secure_free(raw);
    if (r == 0 && (r = cs_account_id_from_amk(out, id)) == 0 && sodium_memcmp(id, named_id, CS_ACCOUNT_ID_HEX) != 0)
        r = FAIL("the key inside is not the one of account %.16s...: swapped or forged", named_id);
    if (r < 0) {
        cs_amk_free(out);
        return r;
    }
    *amk = out;
    return 0;
}

int cs_escrow_open(const void *data, size_t len, const char *expect_user, const uint8_t *escrow_sk,
                   cs_amk **amk, cs_fleet_err *err)
{
    json_object *o;
    int r = cs_fleet_small_json(data, len, CS_ESCROW_OBJECT_MAX, &o, err);

    *amk = NULL;
    if (r == 0)
        r = open_object(o, expect_user, escrow_sk, amk, err);
    json_object_put(o);
    return r;
}

int cs_escrow_matches(const void *data, size_t len, const char *user, const char *account_id,
                      const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES])
{
    uint8_t named_pk[CS_FLEET_ESCROW_PK_BYTES], sealed[SEALED_BYTES];
    const char *id;
    json_object *o;
    int r = cs_fleet_small_json(data, len, CS_ESCROW_OBJECT_MAX, &o, NULL);

    if (r < 0)
        return r;
    id = cs_fleet_small_user(o, user, NULL) ? cs_fleet_json_str(o, "account_id", CS_ACCOUNT_ID_HEX) : NULL;
    r = id && strcmp(id, account_id) == 0 && cs_fleet_json_b64(o, "escrow_key", named_pk, sizeof(named_pk)) == 0 &&
                cs_fleet_json_b64(o, "sealed", sealed, sizeof(sealed)) == 0 &&
                sodium_memcmp(named_pk, escrow_pk, sizeof(named_pk)) == 0
            ? 0
            : -EBADMSG;
    json_object_put(o);
    return r;
}
