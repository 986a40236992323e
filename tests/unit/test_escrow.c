/* SPDX-License-Identifier: MIT */
/* Key escrow objects: sealed and opened, and refused when changed, swapped
 * between accounts, sealed to another escrow key, truncated or oversized. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "crypto/keybag.h"
#include "fleet/escrow.h"
#include "util/secmem.h"

static cs_amk *amk, *other;
static uint8_t epk[32], esk[32], epk2[32], esk2[32];

static int setup(void **state)
{
    assert_int_equal(cs_crypto_init(), 0);
    assert_int_equal(cs_amk_generate(&amk), 0);
    assert_int_equal(cs_amk_generate(&other), 0);
    crypto_box_keypair(epk, esk);
    crypto_box_keypair(epk2, esk2);
    return 0;
}

static int teardown(void **state)
{
    cs_amk_free(amk);
    cs_amk_free(other);
    return 0;
}

static char *make(const char *user, const cs_amk *a, const uint8_t *pk)
{
    char *json = NULL;
    assert_int_equal(cs_escrow_make(user, a, pk, &json), 0);
    return json;
}

static int open_text(const char *text, const char *user, const uint8_t *sk, cs_fleet_err *err)
{
    cs_amk *got = NULL;
    int r = cs_escrow_open(text, strlen(text), user, sk, &got, err);

    assert_true((r == 0) == (got != NULL));
    cs_amk_free(got);
    return r;
}

static void test_round_trip(void **state)
{
    char *json = make("alice", amk, epk);
    cs_amk *got = NULL;
    cs_fleet_err err = { "" };
    char key[128];

    assert_int_equal(cs_escrow_open(json, strlen(json), "alice", esk, &got, &err), 0);
    assert_memory_equal(got->key, amk->key, CS_KEY_BYTES);
    cs_amk_free(got);
    assert_null(strstr(json, "\"key\"")); /* nothing but the sealed form */
    assert_int_equal(cs_fleet_user_object("alice", "escrow", key, sizeof(key)), 0);
    assert_string_equal(key, "users/alice/escrow");
    free(json);
}

static void test_wrong_key_user_or_account(void **state)
{
    char *json = make("alice", amk, epk), *json_other = make("alice", other, epk);
    cs_fleet_err err = { "" };
    json_object *o, *p;
    const char *text;

    assert_int_equal(open_text(json, "alice", esk2, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "another escrow key"));
    assert_int_equal(open_text(json, "bob", esk, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "filed for user 'alice'"));
    /* another account's sealed key under this account's id: opens, but the
     * key inside does not reproduce the id */
    o = json_tokener_parse(json);
    p = json_tokener_parse(json_other);
    json_object_object_add(o, "sealed", json_object_get(json_object_object_get(p, "sealed")));
    text = json_object_to_json_string(o);
    assert_int_equal(open_text(text, "alice", esk, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "swapped or forged"));
    /* sealed to epk2 but claiming epk: does not open */
    json_object_put(o);
    json_object_put(p);
    free(json_other);
    json_other = make("alice", amk, epk2);
    o = json_tokener_parse(json_other);
    {
        char pk64[48];
        cs_fleet_encode_key(epk, pk64);
        json_object_object_add(o, "escrow_key", json_object_new_string(pk64));
    }
    text = json_object_to_json_string(o);
    assert_int_equal(open_text(text, "alice", esk, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "does not open"));
    json_object_put(o);
    free(json_other);
    free(json);
}

static void test_every_character_and_truncation(void **state)
{
    char *json = make("alice", amk, epk);
    size_t n = strlen(json);
    cs_fleet_err err;
    cs_amk *got = NULL;

    for (size_t len = 0; len < n; len++)
        assert_int_equal(cs_escrow_open(json, len, "alice", esk, &got, &err), -EBADMSG);
    for (size_t i = 0; i < n; i++) {
        char *t;
        int r;
        if (strchr("{}\":, \n\\", json[i]) || json[i] == '=')
            continue; /* structure: covered by the truncations */
        t = strdup(json);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        r = cs_escrow_open(t, n, "alice", esk, &got, &err);
        /* a changed letter of a member name or the user is refused too; a digit of
         * the version as well; nothing changed may open to a key */
        assert_int_equal(r, -EBADMSG);
        assert_null(got);
        free(t);
    }
    free(json);
}

/* A malformed member is refused by name, before any key is tried. */
static void test_names_the_field(void **state)
{
    static const struct {
        const char *member, *value, *msg;
    } cases[] = {
        { "sealed", "c2hvcnQ=", "field 'sealed' is not base64 of 80 bytes" },
        { "escrow_key", "c2hvcnQ=", "field 'escrow_key' is not base64 of 32 bytes" },
        { "account_id", "abc", "field 'account_id' is not 64 characters" },
        { "sealed", NULL, "field 'sealed' missing" },
    };
    char *json = make("alice", amk, epk);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *o = json_tokener_parse(json);
        cs_fleet_err err = { "" };
        cs_amk *got = NULL;

        if (cases[i].value)
            json_object_object_add(o, cases[i].member, json_object_new_string(cases[i].value));
        else
            json_object_object_del(o, cases[i].member);
        assert_int_equal(open_text(json_object_to_json_string(o), "alice", esk, &err), -EBADMSG);
        assert_string_equal(err.msg, cases[i].msg);
        assert_null(got);
        json_object_put(o);
    }
    free(json);
}

static void test_oversized(void **state)
{
    char *big = malloc(CS_ESCROW_OBJECT_MAX + 2);
    cs_fleet_err err = { "" };
    cs_amk *got = NULL;

    memset(big, ' ', CS_ESCROW_OBJECT_MAX + 1);
    big[CS_ESCROW_OBJECT_MAX + 1] = '\0';
    assert_int_equal(cs_escrow_open(big, CS_ESCROW_OBJECT_MAX + 1, "alice", esk, &got, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "larger than"));
    assert_int_equal(cs_escrow_open("", 0, "alice", esk, &got, &err), -EBADMSG);
    free(big);
}

static void test_matches(void **state)
{
    char *json = make("alice", amk, epk);
    char id[CS_ACCOUNT_ID_HEX + 1], other_id[CS_ACCOUNT_ID_HEX + 1];

    assert_int_equal(cs_account_id_from_amk(amk, id), 0);
    assert_int_equal(cs_account_id_from_amk(other, other_id), 0);
    assert_int_equal(cs_escrow_matches(json, strlen(json), "alice", id, epk), 0);
    assert_int_equal(cs_escrow_matches(json, strlen(json), "bob", id, epk), -EBADMSG);
    assert_int_equal(cs_escrow_matches(json, strlen(json), "alice", other_id, epk), -EBADMSG);
    assert_int_equal(cs_escrow_matches(json, strlen(json), "alice", id, epk2), -EBADMSG);
    assert_int_equal(cs_escrow_matches(json, strlen(json) - 2, "alice", id, epk), -EBADMSG);
    assert_int_equal(cs_escrow_matches("{}", 2, "alice", id, epk), -EBADMSG);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_key_user_or_account),
        cmocka_unit_test(test_every_character_and_truncation),
        cmocka_unit_test(test_names_the_field),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_matches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
