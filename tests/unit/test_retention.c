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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_alone),
        cmocka_unit_test(test_guard_keeps_the_last_full_ones),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
