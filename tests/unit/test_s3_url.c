/* SPDX-License-Identifier: MIT */
/* lib/storage/s3_url.c: s3:// URL parsing, SigV4 percent-encoding of keys
 * and the canonical (sorted, encoded) query strings curl 7.88 does not make. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "storage/s3_url.h"

static void test_parse_valid(void **state)
{
    cs_s3_url u;

    (void)state;
    assert_int_equal(cs_s3_url_parse("s3://s3.example.com/my-bucket", &u), 0);
    assert_true(u.tls);
    assert_string_equal(u.host, "s3.example.com");
    assert_int_equal(u.port, 0);
    assert_string_equal(u.bucket, "my-bucket");
    assert_string_equal(u.prefix, "");

    assert_int_equal(cs_s3_url_parse("s3+http://127.0.0.1:7480/fleet.bucket/site/a/", &u), 0);
    assert_false(u.tls);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 7480);
    assert_string_equal(u.bucket, "fleet.bucket");
    assert_string_equal(u.prefix, "site/a/");

    assert_int_equal(cs_s3_url_parse("s3://[::1]:9000/bkt/p", &u), 0);
    assert_string_equal(u.host, "[::1]");
    assert_int_equal(u.port, 9000);
    assert_string_equal(u.prefix, "p/");
    assert_true(cs_s3_host_is_loopback(u.host));
    assert_int_equal(cs_s3_url_parse("s3://[::1]/bkt", &u), 0);
    assert_int_equal(u.port, 0);
}

static void test_parse_invalid(void **state)
{
    static const char *bad[] = {
        "s3://host",                    /* no bucket */
        "s3://host/",                   /* empty bucket */
        "s3:///bucket",                 /* no host */
        "s3://host/ab",                 /* bucket too short */
        "s3://host/Upper",              /* bucket case */
        "s3://host/-bucket",
        "s3://host/bucket-",
        "s3://host:0/bucket",
        "s3://host:65536/bucket",
        "s3://host:12a/bucket",
        "s3://host:/bucket",
        "s3://user@host/bucket",        /* no userinfo: credentials never in URLs */
        "s3://host/bucket?x=1",
        "s3://host/bucket#frag",
        "s3://host/bucket/a/../b",
        "s3://host/bucket/a//b",
        "s3://host/bucket/a%2fb",
        "s3://ho st/bucket",
        "s3://-host/bucket",
        "s3://[::1/bucket",
        "s3://[::1]x/bucket",
        "s3://[zz]/bucket",
        "s3://host/bucket/pre fix",
    };
    cs_s3_url u;
    char longhost[400], longbucket[80];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = cs_s3_url_parse(bad[i], &u);
        if (r != -EINVAL)
            fail_msg("accepted or wrong error for '%s': %d", bad[i], r);
    }
    assert_int_equal(cs_s3_url_parse("https://host/bucket", &u), -EPROTONOSUPPORT);
    assert_int_equal(cs_s3_url_parse("file:///x", &u), -EPROTONOSUPPORT);
    assert_int_equal(cs_s3_url_parse("", &u), -EPROTONOSUPPORT);
    assert_int_equal(cs_s3_url_parse(NULL, &u), -EINVAL);
    memset(longhost, 'a', 300);
    strcpy(longhost + 300, "/bucket");
    char url[512];
    snprintf(url, sizeof(url), "s3://%s", longhost);
    assert_int_equal(cs_s3_url_parse(url, &u), -EINVAL);
    memset(longbucket, 'b', 64);
    longbucket[64] = '\0';
    snprintf(url, sizeof(url), "s3://h/%s", longbucket);
    assert_int_equal(cs_s3_url_parse(url, &u), -EINVAL);
}

static void test_uri_encode(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(cs_s3_uri_encode("AZaz09-._~", 10, false, out, sizeof(out)), 10);
    assert_string_equal(out, "AZaz09-._~");
    cs_s3_uri_encode("a b+c=d&e/f", 11, false, out, sizeof(out));
    assert_string_equal(out, "a%20b%2Bc%3Dd%26e%2Ff");
    cs_s3_uri_encode("dir/ä.txt", strlen("dir/ä.txt"), true, out, sizeof(out));
    assert_string_equal(out, "dir/%C3%A4.txt");
    cs_s3_uri_encode("%41*!'()", 8, true, out, sizeof(out));
    assert_string_equal(out, "%2541%2A%21%27%28%29");
    cs_s3_uri_encode("\x01\xff", 2, true, out, sizeof(out));
    assert_string_equal(out, "%01%FF");
    /* exact fit and overflow */
    assert_int_equal(cs_s3_uri_encode("abc", 3, false, out, 4), 3);
    assert_int_equal(cs_s3_uri_encode("abc", 3, false, out, 3), -ENAMETOOLONG);
    assert_int_equal(cs_s3_uri_encode(" ", 1, false, out, 3), -ENAMETOOLONG);
    assert_int_equal(cs_s3_uri_encode(" ", 1, false, out, 4), 3);
}

static void test_query_sorted_and_encoded(void **state)
{
    char out[512];
    cs_s3_param p[] = {
        { "prefix", "dir/ä b" }, { "max-keys", "1000" }, { "list-type", "2" },
        { "continuation-token", "1/abc+def==" },
    };
    cs_s3_param dup[] = { { "a", "2" }, { "a", "1" }, { "b", NULL } };

    (void)state;
    assert_true(cs_s3_query_build(p, 4, out, sizeof(out)) > 0);
    assert_string_equal(out, "continuation-token=1%2Fabc%2Bdef%3D%3D&list-type=2&max-keys=1000"
                             "&prefix=dir%2F%C3%A4%20b");
    assert_true(cs_s3_query_build(dup, 3, out, sizeof(out)) > 0);
    assert_string_equal(out, "a=1&a=2&b=");
    assert_int_equal(cs_s3_query_build(p, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(cs_s3_query_build(p, 4, out, 20), -ENAMETOOLONG);
    assert_int_equal(cs_s3_query_build(p, 17, out, sizeof(out)), -EINVAL);
}

static void test_request_url(void **state)
{
    cs_s3_url u;
    char out[CS_S3_URL_MAX];

    (void)state;
    assert_int_equal(cs_s3_url_parse("s3+http://127.0.0.1:7480/bkt/pre.fix", &u), 0);
    assert_true(cs_s3_request_url(&u, true, "users/ä/keybag", NULL, out, sizeof(out)) > 0);
    assert_string_equal(out, "http://127.0.0.1:7480/bkt/pre.fix/users/%C3%A4/keybag");
    assert_true(cs_s3_request_url(&u, true, NULL, "list-type=2", out, sizeof(out)) > 0);
    assert_string_equal(out, "http://127.0.0.1:7480/bkt?list-type=2");
    assert_int_equal(cs_s3_url_parse("s3://s3.example.com/bkt", &u), 0);
    assert_true(cs_s3_request_url(&u, false, "a+b", NULL, out, sizeof(out)) > 0);
    assert_string_equal(out, "https://bkt.s3.example.com/a%2Bb");
    assert_true(cs_s3_request_url(&u, false, NULL, "list-type=2", out, sizeof(out)) > 0);
    assert_string_equal(out, "https://bkt.s3.example.com/?list-type=2");
    assert_int_equal(cs_s3_request_url(&u, true, "k", NULL, out, 10), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_query_sorted_and_encoded),
        cmocka_unit_test(test_request_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
