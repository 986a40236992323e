/* SPDX-License-Identifier: MIT */
/* lib/util/verbs.c: lookup, argv shifting, getopt reset, operand counts,
 * the command path of nested tables, cs_verb_getopt(). */
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

/* a verb with a table of its own: "tool outer inner" */
static char seen_path[64];
static int seen_opt, seen_end;

static int inner_fn(int argc, char **argv)
{
    static const struct option opts[] = { { "flag", no_argument, NULL, 'f' }, {} };

    snprintf(seen_path, sizeof(seen_path), "%s", cs_verb_path());
    seen_opt = cs_verb_getopt(argc, argv, "", opts, NULL);
    seen_end = seen_opt == 'f' ? cs_verb_getopt(argc, argv, "", opts, NULL) : seen_opt;
    return 7;
}

static const cs_verb inner[] = {
    { "inner", 0, 1, 0, inner_fn, "one operand at most", "Usage: tool outer inner [--flag] [X]\n" },
};

static int outer_fn(int argc, char **argv)
{
    int ex = -1;

    optind = 1;
    return cs_verb_dispatch(inner, 1, argc, argv, &ex) < 0 ? -1 : ex;
}

static const cs_verb outer[] = {
    { "outer", 1, CS_VERB_ANY, 0, outer_fn, "has sub-verbs", NULL },
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

/* What the outer table's verb returned; seen_* as inner_fn saw them. */
static int nested(int argc, char **argv)
{
    int ex = -1;

    seen_path[0] = '\0';
    seen_opt = seen_end = 0;
    optind = 1;
    assert_int_equal(cs_verb_dispatch(outer, 1, argc, argv, &ex), 0);
    return ex;
}

static void test_nested_path_and_getopt(void **state)
{
    char *ok[] = { "/usr/bin/tool", "outer", "inner", "--flag", "x", NULL };
    char *help[] = { "tool", "outer", "inner", "--help", NULL };
    char *bad[] = { "tool", "outer", "inner", "--nosuch", NULL };
    char *many[] = { "tool", "outer", "inner", "x", "y", NULL };

    (void)state;
    assert_int_equal(nested(5, ok), 7);
    assert_string_equal(seen_path, "tool outer inner"); /* the program's base name first */
    assert_int_equal(seen_opt, 'f');
    assert_int_equal(seen_end, -1);
    assert_string_equal(ok[0], "/usr/bin/tool"); /* argv[0] is given back */
    assert_string_equal(cs_verb_path(), "tool"); /* back out of both verbs */
    assert_null(cs_verb_running());
    nested(4, help);
    assert_int_equal(seen_opt, CS_VERB_HELP);
    nested(4, bad);
    assert_int_equal(seen_opt, '?');
    nested(5, many);
    assert_int_equal(seen_opt, '?'); /* inner takes one operand at most */
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
        cmocka_unit_test(test_nested_path_and_getopt),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
