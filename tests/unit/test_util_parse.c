/* SPDX-License-Identifier: MIT */
/* lib/util parse.c, strv.c, alloc.h: strict numbers (truncated, oversized,
 * tampered), string vectors and the greedy array growth. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/alloc.h"
#include "util/parse.h"
#include "util/strv.h"

static void test_parse_uint_good(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(cs_parse_uint("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cs_parse_uint("10", 0, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(cs_parse_uint("007", 0, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(cs_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_parse_uint_bad(void **state)
{
    /* a typo must never become a number: truncated, tampered, signed, padded */
    const char *bad[] = { "", "-", "+1", "-1", " 1", "1 ", "1\n", "1x", "x1", "0x10", "1.5", "1e3", "١" };
    uint64_t v = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cs_parse_uint(bad[i], 0, UINT64_MAX, &v), -EINVAL);
    assert_int_equal(cs_parse_uint(NULL, 0, 1, &v), -EINVAL);
    assert_int_equal(v, 42); /* untouched on error */
}

static void test_parse_uint_range(void **state)
{
    uint64_t v = 42;

    (void)state;
    assert_int_equal(cs_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(cs_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(cs_parse_uint("0", 1, 100, &v), -ERANGE);
    assert_int_equal(cs_parse_uint("101", 1, 100, &v), -ERANGE);
    assert_int_equal(v, 42);
}

static void test_parse_int(void **state)
{
    int v = -5;

    (void)state;
    assert_int_equal(cs_parse_int("1024", 1, 1024, &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(cs_parse_int("2147483648", 0, INT_MAX, &v), -ERANGE);
    assert_int_equal(cs_parse_int("-1", 0, INT_MAX, &v), -EINVAL);
    assert_int_equal(cs_parse_int("1", -1, 5, &v), -EINVAL);
    assert_int_equal(v, 1024);
}

static void test_strv(void **state)
{
    _cleanup_strv_ cs_strv sv = CS_STRV_INIT;
    char name[16];

    (void)state;
    assert_int_equal(cs_strv_length(&sv), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(cs_strv_add(&sv, name), 0);
    }
    assert_int_equal(cs_strv_length(&sv), 1000);
    assert_string_equal(sv.v[999], "n999");
    assert_null(sv.v[1000]);
    /* a failed strdup() in the argument is an error, not a skipped entry */
    assert_int_equal(cs_strv_push(&sv, NULL), -ENOMEM);
    assert_int_equal(cs_strv_length(&sv), 1000);
    cs_strv_free(&sv);
    assert_null(sv.v);
    assert_int_equal(cs_strv_length(&sv), 0);
}

static void test_greedy_realloc(void **state)
{
    int *a = NULL;
    size_t cap = 0;

    (void)state;
    assert_int_equal(CS_GREEDY_REALLOC(a, cap, 1), 0);
    assert_true(cap >= 1);
    assert_int_equal(CS_GREEDY_REALLOC(a, cap, 100), 0);
    assert_true(cap >= 100);
    a[99] = 1;
    /* overflowing the byte count fails cleanly and keeps the array */
    assert_int_equal(CS_GREEDY_REALLOC(a, cap, SIZE_MAX / 2), -ENOMEM);
    assert_true(cap >= 100 && a[99] == 1);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_uint_good), cmocka_unit_test(test_parse_uint_bad),
        cmocka_unit_test(test_parse_uint_range), cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_strv), cmocka_unit_test(test_greedy_realloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
