/* SPDX-License-Identifier: MIT */
/* Keybag seals: made and verified with the pinned key, and refused when
 * truncated at any length, oversized, changed in any field, signed by
 * another account, or filed for another user. */
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

#include "fleet/keybag_seal.h"
#include "util/secmem.h"

static cs_amk *amk;
static uint8_t pk[CS_SIGN_PK_BYTES];
static const char keybag[] = "{\"the\": \"exact keybag bytes\"}";

static int setup(void **state)
{
    assert_int_equal(cs_crypto_init(), 0);
    assert_int_equal(cs_amk_generate(&amk), 0);
    assert_int_equal(cs_amk_account_pubkey(amk, pk), 0);
    return 0;
}

static int teardown(void **state)
{
    cs_amk_free(amk);
    return 0;
}

static char *make(const char *user, uint64_t gen)
{
    char *json = NULL;
    assert_int_equal(cs_keybag_seal_for(user, amk, gen, keybag, strlen(keybag), &json), 0);
    return json;
}

static void test_round_trip(void **state)
{
    char *json = make("alice", 7);
    uint8_t sha[32];
    cs_keybag_seal s;
    cs_fleet_err err = { "" };

    assert_int_equal(cs_keybag_seal_parse(json, strlen(json), "alice", pk, &s, &err), 0);
    crypto_hash_sha256(sha, (const uint8_t *)keybag, strlen(keybag));
    assert_memory_equal(s.sha256, sha, sizeof(sha));
    assert_string_equal(s.user, "alice");
    assert_int_equal(s.generation, 7);
    assert_true(s.time > 1700000000);
    assert_int_equal(cs_keybag_seal_parse(json, strlen(json), "bob", pk, &s, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "filed for user 'alice'"));
    free(json);
    /* the largest generation a keybag may have */
    json = make("alice", CS_KEYBAG_GENERATION_MAX);
    assert_int_equal(cs_keybag_seal_parse(json, strlen(json), "alice", pk, &s, &err), 0);
    assert_true(s.generation == CS_KEYBAG_GENERATION_MAX);
    free(json);
}

static void test_refuses_bad_input_to_make(void **state)
{
    cs_keybag_seal s = { .user = "alice", .generation = 0, .time = 1 };
    char *json = NULL;

    assert_int_equal(cs_keybag_seal_make(&s, amk, &json), -EINVAL);
    s.generation = CS_KEYBAG_GENERATION_MAX + 1;
    assert_int_equal(cs_keybag_seal_make(&s, amk, &json), -EINVAL);
    s.generation = 1;
    s.time = -1;
    assert_int_equal(cs_keybag_seal_make(&s, amk, &json), -EINVAL);
    assert_int_equal(cs_keybag_seal_for("no/slash", amk, 1, "x", 1, &json), -EINVAL);
    assert_null(json);
}

static void test_every_truncation(void **state)
{
    char *json = make("alice", 3);
    size_t n = strlen(json);
    cs_keybag_seal s;

    assert_int_equal(json[n - 1], '}');
    for (size_t len = 0; len < n; len++)
        assert_int_equal(cs_keybag_seal_parse(json, len, "alice", pk, &s, NULL), -EBADMSG);
    assert_int_equal(cs_keybag_seal_parse(json, n, "alice", pk, &s, NULL), 0);
    free(json);
}

/* Replace member `name` by `value` (JSON text; NULL deletes it) and expect a refusal. */
static void expect_refused(const char *json, const char *name, const char *value, const char *why)
{
    json_object *o = json_tokener_parse(json);
    cs_keybag_seal s;
    cs_fleet_err err = { "" };
    const char *text;

    assert_non_null(o);
    if (value)
        json_object_object_add(o, name, json_tokener_parse(value));
    else
        json_object_object_del(o, name);
    text = json_object_to_json_string(o);
    assert_int_equal(cs_keybag_seal_parse(text, strlen(text), "alice", pk, &s, &err), -EBADMSG);
    if (!strstr(err.msg, why))
        fail_msg("%s=%s: '%s' does not say '%s'", name, value ? value : "(deleted)", err.msg, why);
    for (size_t i = 0; i < sizeof(s); i++) /* nothing half-filled is left behind */
        assert_int_equal(((const uint8_t *)&s)[i], 0);
    json_object_put(o);
}

static void test_every_field_changed(void **state)
{
    char *json = make("alice", 3), *other = NULL;
    cs_amk *amk2 = NULL;
    json_object *o;

    expect_refused(json, "generation", "4", "does not verify");
    expect_refused(json, "generation", "2", "does not verify");
    expect_refused(json, "time", "1790000001", "does not verify");
    expect_refused(json, "sha256", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"", "does not verify");
    expect_refused(json, "signature",
                   "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"",
                   "does not verify");
    expect_refused(json, "version", "2", "unsupported version");
    expect_refused(json, "version", NULL, "unsupported version");
    expect_refused(json, "user", "\"bob\"", "filed for user 'bob'");
    expect_refused(json, "user", "7", "no valid \"user\"");
    expect_refused(json, "generation", "0", "field 'generation' is out of range");
    expect_refused(json, "generation", "9007199254740993", "field 'generation' is out of range");
    expect_refused(json, "generation", "\"3\"", "field 'generation' is not an integer");
    expect_refused(json, "generation", NULL, "field 'generation' missing");
    expect_refused(json, "time", "-5", "field 'time' is out of range");
    expect_refused(json, "sha256", "\"c2hvcnQ=\"", "field 'sha256' is not base64 of 32 bytes");
    expect_refused(json, "signature", NULL, "field 'signature' missing");
    expect_refused(json, "signature", "\"c2hvcnQ=\"", "field 'signature' is not base64 of 64 bytes");
    expect_refused(json, "extra", "1", "unknown field 'extra'");
    /* a genuine seal of another account (a planted keybag's) is not this one's */
    assert_int_equal(cs_amk_generate(&amk2), 0);
    assert_int_equal(cs_keybag_seal_for("alice", amk2, 3, keybag, strlen(keybag), &other), 0);
    {
        cs_keybag_seal s;
        cs_fleet_err err = { "" };
        assert_int_equal(cs_keybag_seal_parse(other, strlen(other), "alice", pk, &s, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "does not verify"));
    }
    o = json_tokener_parse(other);
    expect_refused(json, "signature", json_object_to_json_string(json_object_object_get(o, "signature")),
                   "does not verify");
    json_object_put(o);
    cs_amk_free(amk2);
    free(other);
    free(json);
}

static void test_oversized_and_not_text(void **state)
{
    char *big = malloc(CS_KEYBAG_SEAL_MAX + 2);
    cs_keybag_seal s;
    cs_fleet_err err = { "" };

    memset(big, ' ', CS_KEYBAG_SEAL_MAX + 1);
    big[CS_KEYBAG_SEAL_MAX + 1] = '\0';
    assert_int_equal(cs_keybag_seal_parse(big, CS_KEYBAG_SEAL_MAX + 1, "alice", pk, &s, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "larger than"));
    assert_int_equal(cs_keybag_seal_parse("{\"a\":\0}", 7, "alice", pk, &s, &err), -EBADMSG);
    assert_int_equal(cs_keybag_seal_parse("", 0, "alice", pk, &s, &err), -EBADMSG);
    assert_int_equal(cs_keybag_seal_parse("[1,2]", 5, "alice", pk, &s, &err), -EBADMSG);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refuses_bad_input_to_make),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_field_changed),
        cmocka_unit_test(test_oversized_and_not_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
