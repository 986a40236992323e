/* SPDX-License-Identifier: MIT */
/* Enrollment requests: made and verified, and refused when truncated at
 * any length, oversized, changed in any field, or filed for another user. */
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

#include "fleet/enroll_request.h"
#include "util/secmem.h"

static cs_amk *amk;

static int setup(void **state)
{
    assert_int_equal(cs_crypto_init(), 0);
    assert_int_equal(cs_amk_generate(&amk), 0);
    return 0;
}

static int teardown(void **state)
{
    cs_amk_free(amk);
    return 0;
}

static char *make(const char *user)
{
    char *json = NULL;
    assert_int_equal(cs_enroll_request_make(user, "ws12.example", 1790000000, amk, &json), 0);
    return json;
}

static void test_round_trip(void **state)
{
    char *json = make("alice");
    uint8_t pk[CS_SIGN_PK_BYTES];
    cs_enroll_request r;
    cs_fleet_err err = { "" };
    char key[128];

    assert_int_equal(cs_enroll_request_parse(json, strlen(json), "alice", &r, &err), 0);
    assert_int_equal(cs_amk_account_pubkey(amk, pk), 0);
    assert_memory_equal(r.account_key, pk, sizeof(pk));
    assert_string_equal(r.user, "alice");
    assert_string_equal(r.host, "ws12.example");
    assert_int_equal(r.time, 1790000000);
    /* any user when none is expected; another expected one is refused */
    assert_int_equal(cs_enroll_request_parse(json, strlen(json), NULL, &r, &err), 0);
    assert_int_equal(cs_enroll_request_parse(json, strlen(json), "bob", &r, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "filed for user 'alice'"));
    assert_int_equal(cs_fleet_user_object("alice", "enrollment-request", key, sizeof(key)), 0);
    assert_string_equal(key, "users/alice/enrollment-request");
    assert_int_equal(cs_fleet_user_object("../x", "enrollment-request", key, sizeof(key)), -EINVAL);
    free(json);
}

static void test_refuses_bad_input_to_make(void **state)
{
    char *json = NULL;

    assert_int_equal(cs_enroll_request_make("no/slash", "h", 1, amk, &json), -EINVAL);
    assert_int_equal(cs_enroll_request_make("alice", "", 1, amk, &json), -EINVAL);
    assert_int_equal(cs_enroll_request_make("alice", "two words", 1, amk, &json), -EINVAL);
    assert_int_equal(cs_enroll_request_make("alice", "h", -1, amk, &json), -EINVAL);
    assert_null(json);
}

static void test_every_truncation(void **state)
{
    char *json = make("alice");
    size_t n = strlen(json);
    cs_enroll_request r;

    assert_int_equal(json[n - 1], '}'); /* so every shorter prefix is cut short */
    for (size_t len = 0; len < n; len++)
        assert_int_equal(cs_enroll_request_parse(json, len, "alice", &r, NULL), -EBADMSG);
    assert_int_equal(cs_enroll_request_parse(json, n, "alice", &r, NULL), 0);
    free(json);
}

/* Replace member `name` by `value` (JSON text) and expect a refusal. */
static void expect_refused(const char *json, const char *name, const char *value, const char *why)
{
    json_object *o = json_tokener_parse(json);
    cs_enroll_request r;
    cs_fleet_err err = { "" };
    const char *text;

    assert_non_null(o);
    if (value)
        json_object_object_add(o, name, json_tokener_parse(value));
    else
        json_object_object_del(o, name);
    text = json_object_to_json_string(o);
    assert_int_equal(cs_enroll_request_parse(text, strlen(text), "alice", &r, &err), -EBADMSG);
    if (!strstr(err.msg, why))
        fail_msg("%s=%s: '%s' does not say '%s'", name, value ? value : "(deleted)", err.msg, why);
    for (size_t i = 0; i < sizeof(r); i++) /* nothing half-filled is left behind */
        assert_int_equal(((const uint8_t *)&r)[i], 0);
    json_object_put(o);
}

static void test_every_field_changed(void **state)
{
    char *json = make("alice"), *other = NULL;
    cs_amk *amk2 = NULL;
    json_object *o;

    expect_refused(json, "host", "\"ws13.example\"", "does not verify");
    expect_refused(json, "time", "1790000001", "does not verify");
    expect_refused(json, "account_key", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"", "does not verify");
    expect_refused(json, "signature",
                   "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"",
                   "does not verify");
    expect_refused(json, "version", "2", "unsupported version");
    expect_refused(json, "version", "\"1\"", "unsupported version");
    expect_refused(json, "version", NULL, "unsupported version");
    expect_refused(json, "user", "\"bob\"", "filed for user 'bob'");
    expect_refused(json, "user", "7", "no valid \"user\"");
    expect_refused(json, "host", "\"\"", "field 'host' is not a host name");
    expect_refused(json, "host", "\"a\\u0000b\"", "field 'host' holds a NUL character");
    expect_refused(json, "time", "-5", "field 'time' is out of range");
    expect_refused(json, "time", "\"now\"", "field 'time' is not an integer");
    expect_refused(json, "account_key", "\"c2hvcnQ=\"", "field 'account_key' is not base64 of 32 bytes");
    expect_refused(json, "signature", NULL, "field 'signature' missing");
    /* a genuine request of another account with this account's key swapped in */
    assert_int_equal(cs_amk_generate(&amk2), 0);
    assert_int_equal(cs_enroll_request_make("alice", "ws12.example", 1790000000, amk2, &other), 0);
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
    char *big = malloc(CS_ENROLL_REQUEST_MAX + 2);
    cs_enroll_request r;
    cs_fleet_err err = { "" };

    memset(big, ' ', CS_ENROLL_REQUEST_MAX + 1);
    big[CS_ENROLL_REQUEST_MAX + 1] = '\0';
    assert_int_equal(cs_enroll_request_parse(big, CS_ENROLL_REQUEST_MAX + 1, "alice", &r, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "larger than"));
    assert_int_equal(cs_enroll_request_parse("{\"a\":\0}", 7, "alice", &r, &err), -EBADMSG);
    assert_int_equal(cs_enroll_request_parse("", 0, "alice", &r, &err), -EBADMSG);
    assert_int_equal(cs_enroll_request_parse("[1,2]", 5, "alice", &r, &err), -EBADMSG);
    assert_int_equal(cs_enroll_request_parse("{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", 27, "alice", &r, &err),
                     -EBADMSG); /* deeper than the format ever is */
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
