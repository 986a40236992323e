/* SPDX-License-Identifier: MIT */
/* lib/agent/retention.c: the agent's policy and the small-snapshot guard. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/retention.h"

#define HOUR 3600

/* n snapshots an hour apart, oldest first, each covering sizes[i] bytes */
static cs_snapshot *snaps(size_t n, const uint64_t *sizes)
{
    cs_snapshot *v = calloc(n, sizeof(*v));

    for (size_t i = 0; i < n; i++) {
        v[i].time_sec = 1700000000 + (int64_t)i * HOUR;
        v[i].id.b[0] = (uint8_t)i;
        v[i].summary.bytes_processed = sizes[i];
    }
    return v;
}

static void test_policy_alone(void **state)
{
    static const uint64_t sz[] = { 1000, 1000, 1000, 1000, 1000 };
    cs_retention_policy p = { .keep = { .last = 2 }, .guard_ratio = 20, .guard_keep = 3 };
    cs_snapshot *v = snaps(5, sz);
    bool keep[5];
    cs_retention_plan pl;

    (void)state;
    cs_retention_decide(v, 5, &p, keep, &pl);
    assert_false(pl.guard);
    assert_int_equal(pl.kept, 2);
    assert_int_equal(pl.removed, 3);
    assert_true(keep[3] && keep[4]);
    assert_false(keep[0] || keep[1] || keep[2]);
    free(v);
}

static void test_guard_keeps_the_last_full_ones(void **state)
{
    /* three full, then the disk was not mounted for three backups */
    static const uint64_t sz[] = { 900, 1000, 1000, 1000, 10, 12, 10 };
    cs_retention_policy p = { .keep = { .last = 2 }, .guard_ratio = 20, .guard_keep = 3 };
    cs_snapshot *v = snaps(7, sz);
    bool keep[7];
    cs_retention_plan pl;

    (void)state;
    cs_retention_decide(v, 7, &p, keep, &pl);
    assert_true(pl.guard);
    assert_int_equal(pl.guard_rescued, 3);
    assert_true(keep[1] && keep[2] && keep[3] && keep[5] && keep[6]);
    assert_false(keep[0] || keep[4]);
    assert_int_equal(pl.newest_bytes, 10);
    assert_int_equal(pl.full_bytes, 1000);
    /* off: keep_last alone */
    p.guard_ratio = 0;
    cs_retention_decide(v, 7, &p, keep, &pl);
    assert_false(pl.guard);
    assert_int_equal(pl.kept, 2);
    free(v);
}

static void test_edges(void **state)
{
    static const uint64_t zero[] = { 0, 0, 0 };
    static const uint64_t huge[] = { UINT64_MAX, UINT64_MAX / 2, 1 };
    cs_retention_policy p = { .keep = { .daily = 1 }, .guard_ratio = 100, .guard_keep = 1 };
    cs_snapshot *v = snaps(3, zero);
    bool keep[3];
    cs_retention_plan pl;

    (void)state;
    cs_retention_decide(v, 0, &p, keep, &pl); /* nothing at all */
    assert_int_equal(pl.kept + pl.removed, 0);
    cs_retention_decide(v, 3, &p, keep, &pl); /* empty backups everywhere: nothing to compare */
    assert_false(pl.guard);
    assert_true(keep[2]);
    free(v);
    v = snaps(3, huge);
    cs_retention_decide(v, 3, &p, keep, &pl); /* no overflow */
    assert_true(pl.guard);
    assert_true(keep[0] && keep[2]);
    free(v);
}

/* forget per group: one group's snapshots never push out another's, and
 * paths and tags are compared as sets (moved from test_repo_format.c with
 * cs_forget_plan_grouped, which this replaced). */
static void test_groups(void **state)
{
    char *home[] = { "/home/me" }, *two[] = { "/b", "/a" }, *two_rev[] = { "/a", "/b" }, *tag[] = { "t" };
    char *h1 = "one", *h2 = "two";
    cs_snapshot v[6] = {
        { .time_sec = 1, .host = h1, .paths = home, .npaths = 1 },
        { .time_sec = 2, .host = h1, .paths = home, .npaths = 1 },
        { .time_sec = 3, .host = h2, .paths = home, .npaths = 1 },
        { .time_sec = 4, .host = h1, .paths = two, .npaths = 2 },
        { .time_sec = 5, .host = h1, .paths = two_rev, .npaths = 2, .tags = tag, .ntags = 1 },
        { .time_sec = 6, .host = h1, .paths = home, .npaths = 1, .tags = tag, .ntags = 1 },
    };
    cs_retention_policy p = { .keep = { .last = 1 } };
    cs_retention_plan pl;
    size_t group[6];
    bool keep[6];

    (void)state;
    assert_int_equal(cs_retention_decide_grouped(v, 6, &p, CS_GROUP_HOST | CS_GROUP_PATHS, group, keep, &pl), 0);
    assert_int_equal(group[1], 0);
    assert_int_equal(group[2], 2);
    assert_int_equal(group[4], 3); /* the same paths in another order */
    assert_int_equal(group[5], 0);
    assert_false(keep[0]);
    assert_false(keep[1]);
    assert_true(keep[2]);
    assert_false(keep[3]);
    assert_true(keep[4]);
    assert_true(keep[5]);
    assert_int_equal(pl.kept, 3);
    assert_int_equal(pl.removed, 3);
    assert_int_equal(cs_retention_decide_grouped(v, 6, &p, CS_GROUP_TAGS, group, keep, &pl), 0);
    assert_true(keep[3] && keep[5] && !keep[4] && !keep[0]);
    assert_int_equal(cs_retention_decide_grouped(v, 6, &p, 0, group, keep, &pl), 0);
    for (size_t i = 0; i < 5; i++)
        assert_false(keep[i]);
    assert_true(keep[5]);
    assert_int_equal(cs_retention_decide_grouped(v, 0, &p, 0, group, keep, &pl), 0);
    assert_int_equal(pl.kept + pl.removed, 0);
}

/* The plans of the groups add up; the guard is that of the group whose
 * newest snapshot is small, and it saves only that group's full ones. */
static void test_groups_add_up_with_the_guard(void **state)
{
    static const uint64_t sz[] = { 1000, 1000, 1000, 1000, 1000, 5 };
    char *a[] = { "/a" }, *b[] = { "/b" };
    cs_retention_policy p = { .keep = { .last = 1 }, .guard_ratio = 20, .guard_keep = 2 };
    cs_retention_plan pl;
    cs_snapshot *v = snaps(6, sz);
    size_t group[6];
    bool keep[6];

    (void)state;
    for (size_t i = 0; i < 6; i++) {
        v[i].paths = i % 2 ? b : a; /* /a: 0 2 4, /b: 1 3 5 (5 small) */
        v[i].npaths = 1;
    }
    assert_int_equal(cs_retention_decide_grouped(v, 6, &p, CS_GROUP_PATHS, group, keep, &pl), 0);
    assert_true(pl.guard);
    assert_int_equal(pl.newest_bytes, 5);
    assert_int_equal(pl.full_bytes, 1000);
    assert_int_equal(pl.guard_rescued, 2);
    assert_true(keep[4] && keep[5] && keep[3] && keep[1]);
    assert_false(keep[0] || keep[2]);
    assert_int_equal(pl.kept, 4);
    assert_int_equal(pl.removed, 2);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_alone),
        cmocka_unit_test(test_guard_keeps_the_last_full_ones),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_groups_add_up_with_the_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
