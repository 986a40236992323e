/* SPDX-License-Identifier: MIT */
/* lib/storage/s3_profile.c and s3_creds.c: the AWS shared files read with
 * inih (profiles, long tokens, hostile files) and token expiry times. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "storage/s3_creds.h"
#include "util/log.h"

static const char CREDS[] =
    "# comment = not a value\n"
    "[default]\n"
    "aws_access_key_id = DEFAULTKEY\n"
    "aws_secret_access_key = default/secret+key=\n"
    "\n"
    "[work]\r\n"
    "aws_access_key_id=WORKKEY\r\n"
    "aws_secret_access_key :  work-secret  \r\n"
    "aws_session_token = %s\r\n"
    "region = eu-central-1\n";

static char *creds_text(const char *token)
{
    char *t = NULL;
    assert_true(asprintf(&t, CREDS, token) > 0);
    return t;
}

static void test_credentials_file_profiles(void **state)
{
    char token[3001];
    char *text;
    cs_s3_creds c = { 0 };

    (void)state;
    memset(token, 'T', sizeof(token) - 1);
    token[sizeof(token) - 1] = '\0';
    token[100] = '/';
    token[2999] = '=';
    text = creds_text(token);
    assert_int_equal(cs_s3_profile_parse(text, strlen(text), "default", false, &c), 0);
    assert_string_equal(c.access_key, "DEFAULTKEY");
    assert_string_equal(c.secret->data, "default/secret+key=");
    assert_null(c.token);
    cs_s3_creds_clear(&c);

    /* a token far over inih's 200-byte lines, CRLF line ends, ':' as separator */
    assert_int_equal(cs_s3_profile_parse(text, strlen(text), "work", false, &c), 0);
    assert_string_equal(c.access_key, "WORKKEY");
    assert_string_equal(c.secret->data, "work-secret");
    assert_non_null(c.token);
    assert_string_equal(c.token->data, token);
    assert_string_equal(c.region, "eu-central-1");
    cs_s3_creds_clear(&c);

    assert_int_equal(cs_s3_profile_parse(text, strlen(text), "absent", false, &c), 0);
    assert_string_equal(c.access_key, "");
    assert_null(c.secret);
    /* the config file's sections are "[profile NAME]" */
    assert_int_equal(cs_s3_profile_parse(text, strlen(text), "work", true, &c), 0);
    assert_null(c.secret);
    free(text);
}

static void test_config_file_sections(void **state)
{
    static const char cfg[] = "[default]\nregion = us-west-2\n"
                              "[profile  dev]\nregion = eu-west-3\n"
                              "s3 =\n  region = nested-not-read\n  max_concurrent_requests = 20\n"
                              "[dev]\nregion = not-this-one\n"
                              "[profile default]\n";
    cs_s3_creds c = { 0 };

    (void)state;
    assert_int_equal(cs_s3_profile_parse(cfg, strlen(cfg), "dev", true, &c), 0);
    assert_string_equal(c.region, "eu-west-3");
    memset(c.region, 0, sizeof(c.region));
    assert_int_equal(cs_s3_profile_parse(cfg, strlen(cfg), "default", true, &c), 0);
    assert_string_equal(c.region, "us-west-2");
    cs_s3_creds_clear(&c);
}

static void test_hostile_files(void **state)
{
    static const struct {
        const char *text;
        size_t len;
        int want;
    } cases[] = {
        { "[default]\naws_access_key_id\n", 0, -EINVAL },                    /* no '=' */
        { "[default]\naws_secret_access_key = has space\n", 0, -EINVAL },    /* not printable */
        { "[default]\naws_secret_access_key = \x01x\n", 0, -EINVAL },
        { "[default]\naws_access_key_id = A\0B\n", 28, -EINVAL },            /* a NUL inside */
        { "[default\naws_access_key_id = A\n", 0, -EINVAL },                 /* unclosed section */
        { "[default]\nregion = 123456789012345678901234567890123\n", 0, -EINVAL }, /* region too long */
        { "[default]\naws_access_key_id = A", 0, 0 },                        /* no final newline: fine */
        { "", 0, 0 },
    };
    cs_s3_creds c = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        assert_int_equal(cs_s3_profile_parse(cases[i].text, len, "default", false, &c), cases[i].want);
        cs_s3_creds_clear(&c);
    }
}

static void test_oversized(void **state)
{
    size_t n = 5000 * 8, len = 0;
    char *big = malloc(n + 64), *huge;
    cs_s3_creds c = { 0 };

    (void)state;
    /* a token over CS_S3_SESSION_TOKEN_MAX */
    len = (size_t)sprintf(big, "[default]\naws_session_token = ");
    memset(big + len, 'x', CS_S3_SESSION_TOKEN_MAX + 1);
    len += CS_S3_SESSION_TOKEN_MAX + 1;
    assert_int_equal(cs_s3_profile_parse(big, len, "default", false, &c), -EINVAL);
    cs_s3_creds_clear(&c);
    /* more values than the reader keeps */
    for (len = 0; len + 8 < n;)
        len += (size_t)sprintf(big + len, "a = b\n");
    assert_int_equal(cs_s3_profile_parse(big, len, "default", false, &c), -E2BIG);
    free(big);
    /* a file over the size bound */
    huge = calloc(1, CS_S3_PROFILE_FILE_MAX + 2);
    assert_int_equal(cs_s3_profile_parse(huge, CS_S3_PROFILE_FILE_MAX + 1, "default", false, &c), -E2BIG);
    free(huge);
}

static void test_time_parse(void **state)
{
    int64_t t = 0;

    (void)state;
    assert_int_equal(cs_s3_time_parse("2026-12-05T03:00:00Z", &t), 0);
    assert_int_equal(t, 1796439600);
    assert_int_equal(cs_s3_time_parse("2026-12-05T03:00:00.123Z", &t), 0);
    assert_int_equal(t, 1796439600);
    assert_int_equal(cs_s3_time_parse("2026-12-05T03:00:00+00:00", &t), 0);
    assert_int_equal(cs_s3_time_parse("2026-12-05T03:00:00", &t), -EINVAL);
    assert_int_equal(cs_s3_time_parse("2026-12-05T03:00:00+02:00", &t), -EINVAL);
    assert_int_equal(cs_s3_time_parse("tomorrow", &t), -EINVAL);
    assert_int_equal(cs_s3_time_parse("", &t), -EINVAL);
}

static void test_environment(void **state)
{
    cs_s3_creds c = { 0 };

    (void)state;
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    assert_int_equal(cs_s3_creds_from_env(&c), -ENOENT); /* half a pair */
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SESSION_TOKEN", "tok/en=", 1);
    setenv("AWS_CREDENTIAL_EXPIRATION", "2030-01-01T00:00:00Z", 1);
    assert_int_equal(cs_s3_creds_from_env(&c), 0);
    assert_string_equal(c.token->data, "tok/en=");
    assert_int_equal(c.expires, 1893456000);
    assert_non_null(strstr(c.source, "AWS_SESSION_TOKEN"));
    cs_s3_creds_clear(&c);
    setenv("AWS_SESSION_TOKEN", "bad token", 1);
    assert_int_equal(cs_s3_creds_from_env(&c), -EINVAL);
    cs_s3_creds_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_file_profiles),
        cmocka_unit_test(test_config_file_sections),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_environment),
    };
    cs_log_setup("test_s3_creds", 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
