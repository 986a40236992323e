/* SPDX-License-Identifier: MIT */
/* lib/basic/user_name.c: the one user-name validator, each rule against
 * the names the four validators it replaced disagreed on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "basic/user_name.h"

static void test_rules(void **state)
{
    static const struct { const char *name; bool fleet, login; } cases[] = {
        { "alice", true, true },
        { "_svc", true, true },
        { "a.b-c_d9", true, true },
        { "Alice", false, true },        /* fleet names are lower case */
        { "9lives", false, true },       /* a leading digit: login only */
        { "host$", false, true },        /* Samba machine account */
        { "$", false, true },            /* as account.c allowed it */
        { "ho$t", false, false },        /* '$' only last */
        { "-x", false, false },          /* an option */
        { ".x", false, false },          /* a hidden file */
        { ".", false, false },
        { "..", false, false },
        { "a/b", false, false },
        { "a b", false, false },
        { "a@example.com", false, false },
        { "a:b", false, false },
        { "\xc3\xa9t\xc3\xa9", false, false },
        { "a\n", false, false },
        { "", false, false },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true, true },   /* 32 bytes */
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false }, /* 33 */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cs_user_name_valid(cases[i].name, CS_USER_NAME_FLEET) != cases[i].fleet ||
            cs_user_name_valid(cases[i].name, CS_USER_NAME_LOGIN) != cases[i].login)
            fail_msg("'%s': fleet %d login %d expected", cases[i].name, cases[i].fleet, cases[i].login);
    }
    assert_false(cs_user_name_valid(NULL, CS_USER_NAME_LOGIN));
}

/* Each flag relaxes one thing only. */
static void test_flags_one_at_a_time(void **state)
{
    (void)state;
    assert_true(cs_user_name_valid("Bob", CS_USER_NAME_UPPER));
    assert_false(cs_user_name_valid("9b", CS_USER_NAME_UPPER));
    assert_true(cs_user_name_valid("9b", CS_USER_NAME_DIGIT_FIRST));
    assert_false(cs_user_name_valid("b$", CS_USER_NAME_DIGIT_FIRST));
    assert_true(cs_user_name_valid("b$", CS_USER_NAME_DOLLAR));
    assert_false(cs_user_name_valid("Bob", CS_USER_NAME_DOLLAR));
}

/* A name without its NUL within the limit is read no further than 33 bytes. */
static void test_long_name_bounded(void **state)
{
    char big[4096];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(cs_user_name_valid(big, CS_USER_NAME_LOGIN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_flags_one_at_a_time),
        cmocka_unit_test(test_long_name_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
