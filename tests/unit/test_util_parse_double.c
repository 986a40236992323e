/* SPDX-License-Identifier: MIT */
/* lib/util/parse.c cs_parse_double(): fractional seconds on the command line
 * (mount --refresh-interval), strictly: what strtod() would take as a number
 * with a tail, a sign, an exponent, hex, inf or nan is an error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/parse.h"

static void test_good(void **state)
{
    double v = -1;

    (void)state;
    assert_int_equal(cs_parse_double("0", 0, 10, &v), 0);
    assert_true(v == 0);
    assert_int_equal(cs_parse_double("5", 0, 10, &v), 0);
    assert_true(v == 5);
    assert_int_equal(cs_parse_double("0.25", 0, 10, &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(cs_parse_double("10.0", 0, 10, &v), 0);
    assert_true(v == 10);
    assert_int_equal(cs_parse_double("007.5", 0, 10, &v), 0);
    assert_true(v == 7.5);
}

static void test_bad(void **state)
{
    /* typed wrong, truncated, tampered: never a number */
    const char *bad[] = { "", "1x", "x1", "-1", "+1", " 1", "1 ", "1\n", "nan", "NAN", "inf", "-inf",
                          "infinity", "1e3", "0x10", "1.", ".5", "1.2.3", "1,5", "١" };
    double v = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cs_parse_double(bad[i], 0, 1e9, &v), -EINVAL);
    assert_int_equal(cs_parse_double(NULL, 0, 1e9, &v), -EINVAL);
    assert_true(v == 42); /* untouched */
}

static void test_range(void **state)
{
    double v = 42;

    (void)state;
    assert_int_equal(cs_parse_double("10.5", 0, 10, &v), -ERANGE);
    assert_int_equal(cs_parse_double("0.5", 1, 10, &v), -ERANGE);
    assert_int_equal(cs_parse_double("1234567890123456", 0, 1e300, &v), -ERANGE); /* oversized */
    assert_int_equal(cs_parse_double("999999999999999", 0, 1e300, &v), 0);
    assert_true(v == 999999999999999.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
