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

typedef struct escrow_json {
    cs_fleet_small head;
    char account_id[CS_ACCOUNT_ID_HEX + 1];
    uint8_t escrow_key[CS_FLEET_ESCROW_PK_BYTES];
    uint8_t sealed[SEALED_BYTES];
} escrow_json;

/* Other members are ignored, as they always were. */
static const cs_json_field escrow_fields[] = {
    CS_FLEET_SMALL_FIELDS(escrow_json),
    CS_JSON_STRBUF("account_id", escrow_json, account_id, CS_JSON_MANDATORY),
    CS_JSON_B64("escrow_key", escrow_json, escrow_key, CS_JSON_MANDATORY),
    CS_JSON_B64("sealed", escrow_json, sealed, CS_JSON_MANDATORY),
    {},
};

static int read_escrow(const void *data, size_t len, const char *expect_user, escrow_json *j, cs_fleet_err *err)
{
    int r = cs_fleet_small_read(data, len, CS_ESCROW_OBJECT_MAX, escrow_fields, 0, &j->head, j, expect_user, err);

    if (r == 0 && strlen(j->account_id) != CS_ACCOUNT_ID_HEX)
        r = FAIL("field 'account_id' is not %d characters", CS_ACCOUNT_ID_HEX);
    return r;
}

/* The key sealed inside, once it is known to be account_id's. */
static int open_sealed(const escrow_json *j, const uint8_t *escrow_sk, const uint8_t pk[CS_FLEET_ESCROW_PK_BYTES],
                       cs_amk **amk, cs_fleet_err *err)
{
    uint8_t *raw = cs_secure_alloc(CS_KEY_BYTES);
    char id[CS_ACCOUNT_ID_HEX + 1];
    cs_amk *out = NULL;
    int r;

    if (!raw)
        return -ENOMEM;
    r = crypto_box_seal_open(raw, j->sealed, sizeof(j->sealed), pk, escrow_sk) == 0 ? 0
                                                                                     : FAIL("the sealed key does not open");
    if (r == 0)
        r = cs_amk_from_bytes(raw, CS_KEY_BYTES, &out);
    cs_secure_free(raw);
    if (r == 0 && (r = cs_account_id_from_amk(out, id)) == 0 &&
        sodium_memcmp(id, j->account_id, CS_ACCOUNT_ID_HEX) != 0)
        r = FAIL("the key inside is not the one of account %.16s...: swapped or forged", j->account_id);
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
    uint8_t pk[CS_FLEET_ESCROW_PK_BYTES];
    escrow_json j = { 0 };
    int r = read_escrow(data, len, expect_user, &j, err);

    *amk = NULL;
    if (r < 0)
        return r;
    crypto_scalarmult_base(pk, escrow_sk);
    if (sodium_memcmp(pk, j.escrow_key, sizeof(pk)) != 0)
        return FAIL("sealed to another escrow key than this secret key's");
    return open_sealed(&j, escrow_sk, pk, amk, err);
}

int cs_escrow_matches(const void *data, size_t len, const char *user, const char *account_id,
                      const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES])
{
    escrow_json j = { 0 };
    int r = read_escrow(data, len, user, &j, NULL);

    if (r < 0)
        return r;
    return strcmp(j.account_id, account_id) == 0 && sodium_memcmp(j.escrow_key, escrow_pk, sizeof(j.escrow_key)) == 0
               ? 0
               : -EBADMSG;
}
