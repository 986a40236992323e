/* SPDX-License-Identifier: MIT */
/* lib/util/json.c: the strict parser and the field-table dispatcher, every
 * type, missing, wrong-typed, overlong, out-of-range, unknown and repeated
 * members. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/json.h"

#define S(x) x, strlen(x)

typedef struct rec {
    char *name;
    char host[8];
    int64_t time;
    uint64_t size;
    uint32_t uid;
    int count;
    bool flag;
    double duration;
    uint8_t key[4];
    uint8_t id[2];
    int nested, items;
    int custom;
} rec;

static int on_nested(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    ((rec *)base)->nested = json_object_object_length(v);
    return json_object_object_length(v) > 2 ? cs_json_fail(err, "field '%s' too big", f->name) : 0;
}

static int on_items(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    ((rec *)base)->items = (int)json_object_array_length(v);
    return 0;
}

/* any JSON type: here a number or a numeral */
static int on_custom(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    int *p = (int *)((char *)base + f->offset);

    if (json_object_is_type(v, json_type_int))
        *p = json_object_get_int(v);
    else if (json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), "one") == 0)
        *p = 1;
    else
        return cs_json_fail(err, "field '%s' is no number", f->name);
    return 0;
}

static const cs_json_field fields[] = {
    CS_JSON_STRING("name", rec, name, 5, CS_JSON_MANDATORY),
    CS_JSON_STRBUF("host", rec, host, 0),
    CS_JSON_I64("time", rec, time, -5, 100, 0),
    CS_JSON_U64("size", rec, size, 0, 0, 0),
    CS_JSON_U32("uid", rec, uid, 0, 0, 0),
    CS_JSON_INT("count", rec, count, -7, 7, 0),
    CS_JSON_BOOL("flag", rec, flag, 0),
    CS_JSON_DOUBLE("duration", rec, duration, 0),
    CS_JSON_B64("key", rec, key, 0),
    CS_JSON_HEX("id", rec, id, 0),
    CS_JSON_OBJECT("nested", on_nested, 0),
    CS_JSON_ARRAY("items", on_items, 0),
    CS_JSON_CUSTOM("custom", rec, custom, on_custom, 0),
    {},
};

/* Parse text and dispatch it into *x by the table; the error text in msg. */
static int run(const char *text, unsigned flags, rec *x, char *msg)
{
    _cleanup_json_ json_object *o = NULL;
    cs_json_error err = { "" };
    int r;

    free(x->name);
    memset(x, 0, sizeof(*x));
    r = cs_json_parse(text, strlen(text), &o);
    if (r == 0)
        r = cs_json_dispatch(o, fields, flags, x, &err);
    strcpy(msg, err.msg);
    return r;
}

static void test_parse_strict(void **state)
{
    json_object *o = NULL;
    const char *why = NULL;
    char deep[40];

    (void)state;
    assert_int_equal(cs_json_parse(S(" {\"a\":[1,2]} \r\n\t"), &o), 0);
    assert_true(json_object_is_type(o, json_type_object));
    json_object_put(o);
    /* json-c cannot tell a bare number ended without a byte after it */
    assert_int_equal(cs_json_parse(S("7 "), &o), 0);
    json_object_put(o);
    assert_int_equal(cs_json_parse(S("7"), &o), -EBADMSG);
    /* truncated, trailing, a second document, NUL, empty, non-strict forms */
    assert_int_equal(cs_json_parse_ex(S("{\"a\":"), 100, 4, &o, &why), -EBADMSG);
    assert_null(o);
    assert_string_equal(why, "truncated");
    assert_int_equal(cs_json_parse_ex(S("{}x"), 100, 4, &o, &why), -EBADMSG);
    assert_int_equal(cs_json_parse_ex(S("{} {}"), 100, 4, &o, &why), -EBADMSG);
    assert_int_equal(cs_json_parse_ex("{}\0", 3, 100, 4, &o, &why), -EBADMSG);
    assert_string_equal(why, "a NUL byte inside");
    assert_int_equal(cs_json_parse(S(""), &o), -EBADMSG);
    assert_int_equal(cs_json_parse(S("[1,]"), &o), -EBADMSG);
    assert_int_equal(cs_json_parse(S("{a:1}"), &o), -EBADMSG);
    /* oversized and too deep */
    assert_int_equal(cs_json_parse_ex(S("[1, 2]"), 5, 4, &o, &why), -E2BIG);
    assert_int_equal(cs_json_parse_ex(S("[1, 2]"), 6, 4, &o, &why), 0);
    json_object_put(o);
    memset(deep, '[', 4);
    memset(deep + 4, ']', 4);
    assert_int_equal(cs_json_parse_ex(deep, 8, 100, 4, &o, &why), 0);
    json_object_put(o);
    assert_int_equal(cs_json_parse_ex(deep, 8, 100, 3, &o, &why), -EBADMSG);
    /* the object form */
    assert_int_equal(cs_json_parse_object(S("[]"), 100, 4, &o, &why), -EBADMSG);
    assert_string_equal(why, "not a JSON object");
    assert_null(o);
}

static void test_every_type(void **state)
{
    rec x = { 0 };
    char msg[200];

    (void)state;
    assert_int_equal(run("{\"name\":\"ab\",\"host\":\"h1234567\"x", 0, &x, msg), -EBADMSG);
    assert_int_equal(run("{\"name\":\"ab\",\"host\":\"h123456\",\"time\":-5,\"size\":18446744073709551614,"
                         "\"uid\":4294967295,\"count\":-7,\"flag\":true,\"duration\":1.5,\"key\":\"AQIDBA==\",\"id\":\"aB01\","
                         "\"nested\":{\"a\":1},\"items\":[1,2,3],\"custom\":\"one\"}",
                         0, &x, msg),
                     0);
    assert_string_equal(x.name, "ab");
    assert_string_equal(x.host, "h123456");
    assert_int_equal(x.time, -5);
    assert_true(x.size == UINT64_MAX - 1);
    assert_int_equal(x.uid, UINT32_MAX);
    assert_int_equal(x.count, -7);
    assert_true(x.flag);
    assert_true(x.duration == 1.5);
    assert_memory_equal(x.key, "\1\2\3\4", 4);
    assert_memory_equal(x.id, "\xab\x01", 2);
    assert_int_equal(x.nested, 1);
    assert_int_equal(x.items, 3);
    assert_int_equal(x.custom, 1);
    /* an integer where a double goes; absent optional members stay zero */
    assert_int_equal(run("{\"name\":\"\",\"duration\":2}", 0, &x, msg), 0);
    assert_true(x.duration == 2.0);
    assert_int_equal(x.time, 0);
    assert_int_equal(x.host[0], 0);
    free(x.name);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *json, *msg;
    } bad[] = {
        { "{}", "field 'name' missing" },
        { "{\"name\":1}", "field 'name' is not a string" },
        { "{\"name\":null}", "field 'name' is not a string" },
        { "{\"name\":\"abcdef\"}", "field 'name' is longer than 5 bytes" },
        { "{\"name\":\"a\\u0000b\"}", "field 'name' holds a NUL character" },
        { "{\"name\":\"\",\"host\":\"h1234567\"}", "field 'host' is longer than 7 bytes" },
        { "{\"name\":\"\",\"time\":101}", "field 'time' is out of range" },
        { "{\"name\":\"\",\"time\":-6}", "field 'time' is out of range" },
        { "{\"name\":\"\",\"time\":\"1\"}", "field 'time' is not an integer" },
        { "{\"name\":\"\",\"time\":1.0}", "field 'time' is not an integer" },
        { "{\"name\":\"\",\"size\":-1}", "field 'size' is out of range" },
        /* json-c clamps what does not fit 64 bits: the clamped values are refused */
        { "{\"name\":\"\",\"size\":18446744073709551615}", "field 'size' is out of range" },
        { "{\"name\":\"\",\"size\":99999999999999999999999}", "field 'size' is out of range" },
        { "{\"name\":\"\",\"time\":-99999999999999999999}", "field 'time' is out of range" },
        { "{\"name\":\"\",\"uid\":4294967296}", "field 'uid' is out of range" },
        { "{\"name\":\"\",\"uid\":-1}", "field 'uid' is out of range" },
        { "{\"name\":\"\",\"count\":8}", "field 'count' is out of range" },
        { "{\"name\":\"\",\"count\":-8}", "field 'count' is out of range" },
        { "{\"name\":\"\",\"flag\":1}", "field 'flag' is not true or false" },
        { "{\"name\":\"\",\"duration\":\"1\"}", "field 'duration' is not a number" },
        { "{\"name\":\"\",\"key\":\"AQID\"}", "field 'key' is not base64 of 4 bytes" },
        { "{\"name\":\"\",\"key\":\"AQIDBAU=\"}", "field 'key' is not base64 of 4 bytes" },
        { "{\"name\":\"\",\"key\":\"AQIDBA==AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
          "field 'key' is longer than 9 bytes" },
        { "{\"name\":\"\",\"id\":\"ab0\"}", "field 'id' is not hex of 2 bytes" },
        { "{\"name\":\"\",\"id\":\"ab0g\"}", "field 'id' is not hex of 2 bytes" },
        { "{\"name\":\"\",\"id\":\"ab0102\"}", "field 'id' is longer than 4 bytes" },
        { "{\"name\":\"\",\"nested\":[]}", "field 'nested' is not an object" },
        { "{\"name\":\"\",\"nested\":{\"a\":1,\"b\":2,\"c\":3}}", "field 'nested' too big" },
        { "{\"name\":\"\",\"items\":{}}", "field 'items' is not an array" },
        { "{\"name\":\"\",\"custom\":[]}", "field 'custom' is no number" },
    };
    rec x = { 0 };
    char msg[200];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(run(bad[i].json, 0, &x, msg), -EBADMSG);
        assert_string_equal(msg, bad[i].msg);
    }
    free(x.name);
}

static void test_unknown_and_repeated(void **state)
{
    rec x = { 0 };
    char msg[200];

    (void)state;
    /* unknown members: ignored by default, refused by the table flag */
    assert_int_equal(run("{\"name\":\"a\",\"extra\":[1]}", 0, &x, msg), 0);
    assert_int_equal(run("{\"name\":\"a\",\"extra\":[1]}", CS_JSON_REFUSE_UNKNOWN, &x, msg), -EBADMSG);
    assert_string_equal(msg, "unknown field 'extra'");
    assert_int_equal(run("{\"name\":\"a\",\"time\":1}", CS_JSON_REFUSE_UNKNOWN, &x, msg), 0);
    /* json-c keeps the last of two equal keys: documented in json.h */
    assert_int_equal(run("{\"name\":\"a\",\"time\":1,\"time\":2}", 0, &x, msg), 0);
    assert_int_equal(x.time, 2);
    assert_int_equal(run("{\"name\":\"a\",\"time\":1,\"time\":\"x\"}", 0, &x, msg), -EBADMSG);
    /* not an object at all */
    assert_int_equal(run("[]", 0, &x, msg), -EBADMSG);
    assert_string_equal(msg, "not a JSON object");
    free(x.name);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(cs_utf8_valid("", 0));
    assert_true(cs_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    assert_true(cs_utf8_valid("\xf4\x8f\xbf\xbf", 4));   /* U+10FFFF */
    assert_false(cs_utf8_valid("\xe9", 1));                 /* Latin-1 */
    assert_false(cs_utf8_valid("\xc3", 1));                 /* truncated */
    assert_false(cs_utf8_valid("\xe2\x82", 2));
    assert_false(cs_utf8_valid("\xc0\xaf", 2));             /* overlong '/' */
    assert_false(cs_utf8_valid("\xe0\x80\xaf", 3));
    assert_false(cs_utf8_valid("\xed\xa0\x80", 3));         /* a surrogate */
    assert_false(cs_utf8_valid("\xf4\x90\x80\x80", 4));     /* above U+10FFFF */
    assert_false(cs_utf8_valid("\xff", 1));
    assert_false(cs_utf8_valid("a\x80", 2));                /* a lone continuation */
}

static void test_add_name(void **state)
{
    json_object *o = json_object_new_object();
    json_object *v;

    (void)state;
    assert_int_equal(cs_json_add_name(o, "path", "/home/caf\xc3\xa9"), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "path")), "/home/caf\xc3\xa9");
    assert_false(json_object_object_get_ex(o, "path_base64", NULL));
    /* Latin-1 "caf\xe9" and a truncated sequence at the end */
    assert_int_equal(cs_json_add_name(o, "target", "caf\xe9/\xe2\x82"), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "target")),
                        "caf\xef\xbf\xbd/\xef\xbf\xbd\xef\xbf\xbd");
    assert_true(json_object_object_get_ex(o, "target_base64", &v));
    assert_string_equal(json_object_get_string(v), "Y2Fm6S/igg==");
    json_object_put(o);
}

static void test_add_names(void **state)
{
    char *valid[] = { "/home/a", "/home/caf\xc3\xa9" };
    char *mixed[] = { "/ok", "caf\xe9", "/also-ok", "\xff" };
    json_object *o = json_object_new_object();
    json_object *a, *b;

    (void)state;
    assert_int_equal(cs_json_add_names(o, "paths", valid, 2), 0);
    a = json_object_object_get(o, "paths");
    assert_int_equal(json_object_array_length(a), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 1)), "/home/caf\xc3\xa9");
    assert_false(json_object_object_get_ex(o, "paths_base64", NULL)); /* all UTF-8: once */
    assert_int_equal(cs_json_add_names(o, "none", NULL, 0), 0);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "none")), 0);

    assert_int_equal(cs_json_add_names(o, "paths", mixed, 4), 0); /* replaces */
    a = json_object_object_get(o, "paths");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 1)), "caf\xef\xbf\xbd");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 3)), "\xef\xbf\xbd");
    assert_true(json_object_object_get_ex(o, "paths_base64", &b));
    assert_int_equal(json_object_array_length(b), 4);
    assert_null(json_object_array_get_idx(b, 0));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(b, 1)), "Y2Fm6Q==");
    assert_null(json_object_array_get_idx(b, 2));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(b, 3)), "/w==");
    assert_true(cs_utf8_valid(json_object_to_json_string(o), strlen(json_object_to_json_string(o))));
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_strict),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_unknown_and_repeated),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_add_name),
        cmocka_unit_test(test_add_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
