/* SPDX-License-Identifier: MIT */
/* Per-user storage credentials in the keybag payload: round trip, the
 * secret never in the JSON text, and every malformed, truncated, oversized
 * or tampered member refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "account/credentials.h"
#include "util/secmem.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+x"

typedef struct fixture {
    cs_amk *amk, *other;
    cs_secret *secret;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_int_equal(cs_crypto_init(), 0);
    assert_int_equal(cs_amk_generate(&f->amk), 0);
    assert_int_equal(cs_amk_generate(&f->other), 0);
    assert_int_equal(cs_secret_new(&f->secret), 0);
    assert_int_equal(cs_secret_set(f->secret, SECRET, strlen(SECRET)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    cs_amk_free(f->amk);
    cs_amk_free(f->other);
    cs_secret_free(f->secret);
    free(f);
    return 0;
}

static json_object *payload_with(fixture *f, const char *ak)
{
    json_object *p = json_object_new_object();

    json_object_object_add(p, "repository", json_object_new_string("kept as it is"));
    assert_int_equal(cs_cred_to_payload(p, f->amk, ak, f->secret), 0);
    return p;
}

/* Parse text as the payload would be and try to read credentials from it. */
static int read_text(fixture *f, const char *text)
{
    json_object *p = json_tokener_parse(text);
    char ak[CS_CRED_ACCESS_MAX + 1];
    cs_secret *s = NULL;
    int r;

    if (!p)
        return -EBADMSG;
    r = cs_cred_from_payload(p, f->amk, ak, &s);
    assert_true(r < 0 || s != NULL);
    cs_secret_free(s);
    json_object_put(p);
    return r;
}

static void test_round_trip_and_secret_not_in_json(void **state)
{
    fixture *f = *state;
    json_object *p = payload_with(f, "AKIDEXAMPLE"), *back;
    char ak[CS_CRED_ACCESS_MAX + 1];
    cs_secret *s = NULL;
    const char *text = json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN);

    assert_null(strstr(text, "wJalrXUtnFEMI")); /* only the sealed form is JSON */
    assert_non_null(strstr(text, "kept as it is"));
    back = json_tokener_parse(text); /* what the keybag stores and reads back */
    assert_int_equal(cs_cred_from_payload(back, f->amk, ak, &s), 0);
    assert_string_equal(ak, "AKIDEXAMPLE");
    assert_int_equal(s->len, strlen(SECRET));
    assert_memory_equal(s->data, SECRET, s->len);
    cs_secret_free(s);
    /* another account's key does not open it */
    assert_int_equal(cs_cred_from_payload(back, f->other, ak, &s), -EBADMSG);
    assert_null(s);
    json_object_put(back);
    /* clearing removes the member and nothing else */
    assert_int_equal(cs_cred_to_payload(p, f->amk, NULL, NULL), 0);
    assert_int_equal(cs_cred_from_payload(p, f->amk, ak, &s), -ENOENT);
    assert_true(json_object_object_get_ex(p, "repository", NULL));
    json_object_put(p);
}

static void test_sealed_twice_differs(void **state)
{
    fixture *f = *state;
    json_object *a = payload_with(f, "AK"), *b = payload_with(f, "AK");

    /* fresh nonce each time */
    assert_string_not_equal(json_object_to_json_string(a), json_object_to_json_string(b));
    json_object_put(a);
    json_object_put(b);
}

static void test_bound_to_its_access_key(void **state)
{
    fixture *f = *state;
    json_object *p = payload_with(f, "AKIDEXAMPLE"), *st;
    char ak[CS_CRED_ACCESS_MAX + 1];
    cs_secret *s = NULL;

    /* someone with write access to nothing but this JSON cannot re-point the
     * secret to another access key: the key id is associated data */
    assert_true(json_object_object_get_ex(p, "storage", &st));
    json_object_object_add(st, "access_key", json_object_new_string("AKIDOTHER"));
    assert_int_equal(cs_cred_from_payload(p, f->amk, ak, &s), -EBADMSG);
    json_object_put(p);
}

static void test_every_tampering_and_truncation(void **state)
{
    fixture *f = *state;
    json_object *p = payload_with(f, "AK"), *st, *sealed;
    char b64[512], text[1024];
    size_t n;

    assert_true(json_object_object_get_ex(p, "storage", &st));
    assert_true(json_object_object_get_ex(st, "secret_key_sealed", &sealed));
    snprintf(b64, sizeof(b64), "%s", json_object_get_string(sealed));
    n = strlen(b64);
    /* every truncation */
    for (size_t len = 0; len < n; len++) {
        snprintf(text, sizeof(text), "{\"storage\":{\"access_key\":\"AK\",\"secret_key_sealed\":\"%.*s\"}}",
                 (int)len, b64);
        assert_int_equal(read_text(f, text), -EBADMSG);
    }
    /* every character changed */
    for (size_t i = 0; i < n; i++) {
        char t[512];
        memcpy(t, b64, n + 1);
        if (t[i] == '=')
            continue;
        t[i] = t[i] == 'A' ? 'B' : 'A';
        snprintf(text, sizeof(text), "{\"storage\":{\"access_key\":\"AK\",\"secret_key_sealed\":\"%s\"}}", t);
        assert_int_equal(read_text(f, text), -EBADMSG);
    }
    snprintf(text, sizeof(text), "{\"storage\":{\"access_key\":\"AK\",\"secret_key_sealed\":\"%s\"}}", b64);
    assert_int_equal(read_text(f, text), 0);
    json_object_put(p);
}

static void test_malformed_members(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {
        "{\"storage\":1}",
        "{\"storage\":[]}",
        "{\"storage\":{}}",
        "{\"storage\":{\"access_key\":\"AK\"}}",
        "{\"storage\":{\"secret_key_sealed\":\"AAAA\"}}",
        "{\"storage\":{\"access_key\":7,\"secret_key_sealed\":\"AAAA\"}}",
        "{\"storage\":{\"access_key\":\"AK\",\"secret_key_sealed\":null}}",
        "{\"storage\":{\"access_key\":\"\",\"secret_key_sealed\":\"AAAA\"}}",
        "{\"storage\":{\"access_key\":\"A/K\",\"secret_key_sealed\":\"AAAA\"}}",
        "{\"storage\":{\"access_key\":\"A K\",\"secret_key_sealed\":\"AAAA\"}}",
        "{\"storage\":{\"access_key\":\"A\\u0000K\",\"secret_key_sealed\":\"AAAA\"}}",
        "{\"storage\":{\"access_key\":\"AK\",\"secret_key_sealed\":\"not base64!\"}}",
        "{\"storage\":{\"access_key\":\"AK\",\"secret_key_sealed\":\"\"}}",
    };
    char big[4096];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(read_text(f, bad[i]), -EBADMSG);
    assert_int_equal(read_text(f, "{}"), -ENOENT);
    assert_int_equal(read_text(f, "{\"other\":{}}"), -ENOENT);
    /* oversized: an access key of 129 characters, a sealed secret beyond its bound */
    snprintf(big, sizeof(big), "{\"storage\":{\"access_key\":\"%0129d\",\"secret_key_sealed\":\"AAAA\"}}", 0);
    assert_int_equal(read_text(f, big), -EBADMSG);
    memset(big, 'A', sizeof(big));
    memcpy(big, "{\"storage\":{\"access_key\":\"AK\",\"secret_key_sealed\":\"", 51);
    memcpy(big + sizeof(big) - 4, "\"}}", 4);
    assert_int_equal(read_text(f, big), -EBADMSG);
}

static void test_refuses_bad_input_to_store(void **state)
{
    fixture *f = *state;
    json_object *p = json_object_new_object();
    cs_secret *s = NULL;
    char long_key[CS_CRED_ACCESS_MAX + 2];

    memset(long_key, 'K', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(cs_cred_to_payload(p, f->amk, long_key, f->secret), -EINVAL);
    assert_int_equal(cs_cred_to_payload(p, f->amk, "A=K", f->secret), -EINVAL);
    assert_int_equal(cs_cred_to_payload(p, f->amk, "AK", NULL), -EINVAL);
    assert_int_equal(cs_secret_new(&s), 0);
    assert_int_equal(cs_secret_set(s, "has space", 9), 0);
    assert_int_equal(cs_cred_to_payload(p, f->amk, "AK", s), -EINVAL);
    assert_int_equal(cs_secret_set(s, "", 0), 0);
    assert_int_equal(cs_cred_to_payload(p, f->amk, "AK", s), -EINVAL);
    cs_secret_free(s);
    assert_false(json_object_object_get_ex(p, "storage", NULL));
    /* the longest secret fits */
    assert_int_equal(cs_secret_new(&s), 0);
    {
        char longest[CS_CRED_SECRET_MAX];
        char ak[CS_CRED_ACCESS_MAX + 1];
        cs_secret *back = NULL;
        memset(longest, 'x', sizeof(longest));
        assert_int_equal(cs_secret_set(s, longest, sizeof(longest)), 0);
        assert_int_equal(cs_cred_to_payload(p, f->amk, "AK", s), 0);
        assert_int_equal(cs_cred_from_payload(p, f->amk, ak, &back), 0);
        assert_int_equal(back->len, CS_CRED_SECRET_MAX);
        cs_secret_free(back);
        assert_int_equal(cs_secret_set(s, longest, sizeof(longest)), 0);
    }
    cs_secret_free(s);
    json_object_put(p);
}

/* The session token: sealed like the secret but under its own associated
 * data, optional, with its expiry; a tampered, swapped or malformed one is
 * refused and a re-set pair drops the old token. */
static void test_session_token(void **state)
{
    fixture *f = *state;
    json_object *p = payload_with(f, "AKIDEXAMPLE"), *st, *sealed;
    char token[CS_CRED_TOKEN_MAX];
    cs_secret *t = NULL, *back = NULL;
    int64_t exp = 0;
    char *swapped;

    memset(token, 'T', sizeof(token));
    token[7] = '/';
    assert_int_equal(cs_secret_new(&t), 0);
    assert_int_equal(cs_secret_set(t, token, sizeof(token)), 0);
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), -ENOENT);
    assert_int_equal(cs_cred_token_to_payload(p, f->amk, "AKIDEXAMPLE", t, 1796439600), 0);
    assert_null(strstr(json_object_to_json_string(p), "TTTTTTTT")); /* sealed, not in the JSON */
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), 0);
    assert_int_equal(back->len, sizeof(token));
    assert_memory_equal(back->data, token, sizeof(token));
    assert_int_equal(exp, 1796439600);
    cs_secret_free(back);
    back = NULL;
    /* bound to its access key and to being a token */
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "OTHERKEY", &back, &exp), -EBADMSG);
    assert_int_equal(cs_cred_token_from_payload(p, f->other, "AKIDEXAMPLE", &back, &exp), -EBADMSG);
    assert_true(json_object_object_get_ex(p, "storage", &st));
    assert_true(json_object_object_get_ex(st, "secret_key_sealed", &sealed));
    swapped = strdup(json_object_get_string(sealed));
    json_object_object_add(st, "session_token_sealed", json_object_new_string(swapped));
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), -EBADMSG);
    free(swapped);
    assert_null(back);
    /* malformed expiry, truncated token */
    assert_int_equal(cs_cred_token_to_payload(p, f->amk, "AKIDEXAMPLE", t, 0), 0);
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), 0);
    assert_int_equal(exp, 0);
    cs_secret_free(back);
    back = NULL;
    json_object_object_add(st, "expires", json_object_new_string("soon"));
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), -EBADMSG);
    json_object_object_add(st, "expires", json_object_new_int64(-5));
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), -EBADMSG);
    json_object_object_del(st, "expires");
    json_object_object_add(st, "session_token_sealed", json_object_new_string("AAAA"));
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), -EBADMSG);
    json_object_object_add(st, "session_token_sealed", json_object_new_int(3));
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), -EBADMSG);
    /* oversized: one byte over the bound is refused when storing */
    assert_int_equal(cs_secret_set(t, "has space", 9), 0);
    assert_int_equal(cs_cred_token_to_payload(p, f->amk, "AKIDEXAMPLE", t, 0), -EINVAL);
    /* a new pair replaces the member, token and all */
    assert_int_equal(cs_cred_to_payload(p, f->amk, "AKIDEXAMPLE", f->secret), 0);
    assert_int_equal(cs_cred_token_from_payload(p, f->amk, "AKIDEXAMPLE", &back, &exp), -ENOENT);
    cs_secret_free(t);
    json_object_put(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_secret_not_in_json),
        cmocka_unit_test(test_sealed_twice_differs),
        cmocka_unit_test(test_bound_to_its_access_key),
        cmocka_unit_test(test_every_tampering_and_truncation),
        cmocka_unit_test(test_malformed_members),
        cmocka_unit_test(test_refuses_bad_input_to_store),
        cmocka_unit_test(test_session_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
