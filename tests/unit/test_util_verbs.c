/* SPDX-License-Identifier: MIT */
/* lib/util/verbs.c: lookup, argv shifting, getopt reset, operand counts. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/verbs.h"

static int seen_argc;
static const char *seen_argv0;

static int verb_fn(int argc, char **argv)
{
    seen_argc = argc;
    seen_argv0 = argv[0];
    return optind == 0 ? 42 : 1; /* getopt must be reset for the verb */
}

static const cs_verb verbs[] = {
    { "any", CS_VERB_ANY, CS_VERB_ANY, 0, verb_fn, "takes anything", NULL },
    { "one", 1, 1, 0, verb_fn, "takes one operand", NULL },
};

static int run(int argc, char **argv, int *ex)
{
    optind = 1; /* as after the tool's own options */
    return cs_verb_dispatch(verbs, 2, argc, argv, ex);
}

static void test_dispatch(void **state)
{
    char *a[] = { "tool", "any", "--x", "y", NULL };
    char *b[] = { "tool", "one", "op", NULL };
    int ex = -1;

    (void)state;
    assert_int_equal(run(4, a, &ex), 0);
    assert_int_equal(ex, 42);
    assert_int_equal(seen_argc, 3);
    assert_string_equal(seen_argv0, "any");
    assert_int_equal(run(3, b, &ex), 0);
    assert_int_equal(seen_argc, 2);
}

static void test_refused(void **state)
{
    char *none[] = { "tool", NULL };
    char *unknown[] = { "tool", "nosuch", NULL };
    int ex = -1;

    (void)state;
    seen_argc = 0;
    assert_int_equal(run(1, none, &ex), -ENOENT);
    assert_int_equal(run(2, unknown, &ex), -ENOENT);
    assert_int_equal(seen_argc, 0); /* never run */
    assert_int_equal(ex, -1);
    assert_null(cs_verb_find(verbs, 2, NULL));
}

static void test_operands(void **state)
{
    (void)state;
    assert_int_equal(cs_verb_operands_ok(&verbs[0], 0), 0);
    assert_int_equal(cs_verb_operands_ok(&verbs[0], 1000), 0);
    assert_int_equal(cs_verb_operands_ok(&verbs[1], 1), 0);
    assert_int_equal(cs_verb_operands_ok(&verbs[1], 0), -EINVAL);
    assert_int_equal(cs_verb_operands_ok(&verbs[1], 2), -E2BIG);
}

static void test_print(void **state)
{
    char out[256] = "";
    FILE *f = fmemopen(out, sizeof(out), "w");

    (void)state;
    cs_verbs_print(f, verbs, 2, 5);
    fclose(f);
    assert_string_equal(out, "  any   takes anything\n  one   takes one operand\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_operands),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
