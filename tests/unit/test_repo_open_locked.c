/* SPDX-License-Identifier: MIT */
/* cs_repo_open_ex(CS_REPO_OPEN_LOCKED): the open that takes backup's shared
 * lock with its other requests (docs/repository.md, "Opening") keeps the
 * lock protocol: it is kept out by an exclusive lock and keeps one out,
 * ignores a dead process's lock, leaves no lock behind when it fails, and a
 * backup on it writes its snapshot into the local cache. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "repo/repo_int.h"
#include "repo_fixture.h"

static repo_fixture fx;

static int setup(void **state)
{
    (void)state;
    repo_fixture_setup(&fx, "open-locked");
    repo_fixture_write(&fx, "hello", "hello world\n", 12);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return repo_fixture_teardown(&fx);
}

static int open_locked(cs_repo **r)
{
    return cs_repo_open_ex(fx.st, REPO_FIXTURE_PREFIX, fx.amk, fx.cache, CS_REPO_OPEN_LOCKED, r);
}

static size_t count_locks(void)
{
    cs_repo *r;
    cs_lock_entry *v;
    size_t n;

    repo_fixture_open(&fx, &r);
    assert_int_equal(cs_repo_list_locks(r, &v, &n), 0);
    free(v);
    cs_repo_close(r);
    return n;
}

static void test_holds_a_shared_lock(void **state)
{
    cs_repo *a, *b, *c;

    (void)state;
    assert_int_equal(open_locked(&a), 0);
    assert_true(a->has_lock);
    assert_int_equal(count_locks(), 1);
    repo_fixture_open(&fx, &b);
    assert_int_equal(cs_repo_lock(b, true), -EBUSY); /* prune is kept out */
    assert_int_equal(open_locked(&c), 0);              /* another backup is not */
    cs_repo_close(c);
    cs_repo_close(a);
    assert_int_equal(count_locks(), 0);
    assert_int_equal(cs_repo_lock(b, true), 0);
    cs_repo_close(b);
}

static void test_kept_out_by_an_exclusive_lock(void **state)
{
    cs_repo *a, *b = NULL;

    (void)state;
    repo_fixture_open(&fx, &a);
    assert_int_equal(cs_repo_lock(a, true), 0);
    assert_int_equal(open_locked(&b), -EBUSY);
    assert_null(b);
    assert_int_equal(count_locks(), 1); /* its own was removed again */
    cs_repo_close(a);
    assert_int_equal(count_locks(), 0);
}

static void test_ignores_a_dead_process_lock(void **state)
{
    cs_repo *r;
    pid_t pid;
    int status;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cs_repo *c;
        if (cs_repo_open_cached(fx.st, REPO_FIXTURE_PREFIX, fx.amk, NULL, &c) < 0 || cs_repo_lock(c, true) < 0)
            _exit(1);
        _exit(0); /* exits holding it: stale, its pid is gone */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(count_locks(), 1);
    assert_int_equal(open_locked(&r), 0);
    cs_repo_close(r);
    repo_fixture_open(&fx, &r);
    assert_int_equal(cs_repo_remove_stale_locks(r), 1);
    cs_repo_close(r);
}

static int count_cb(const char *key, const cs_object_stat *st, void *ud)
{
    (void)key;
    (void)st;
    ++*(int *)ud;
    return 0;
}

static void test_nothing_under_a_missing_repository(void **state)
{
    cs_repo *r = NULL;
    int n = 0;

    (void)state;
    assert_int_equal(cs_repo_open_ex(fx.st, "users/nobody/backup/", fx.amk, fx.cache, CS_REPO_OPEN_LOCKED, &r),
                     -ENOENT);
    assert_null(r);
    assert_int_equal(cs_storage_list(fx.st, "users/nobody/", count_cb, &n), 0);
    assert_int_equal(n, 0);
}

static void test_backup_caches_its_snapshot(void **state)
{
    const char *paths[] = { fx.src };
    cs_backup_opts o = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };
    cs_snapshot snap;
    cs_repo *r;
    char hex[65], path[1400];

    (void)state;
    assert_int_equal(open_locked(&r), 0);
    assert_int_equal(cs_backup(r, &o, &snap), 0);
    assert_false(r->has_lock); /* released once the snapshot is stored */
    cs_id_hex(&snap.id, hex);
    snprintf(path, sizeof(path), "%s/snapshots/%s", r->cache_dir, hex);
    assert_int_equal(access(path, F_OK), 0);
    cs_snapshot_clear(&snap);
    cs_repo_close(r);
    assert_int_equal(count_locks(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holds_a_shared_lock),
        cmocka_unit_test(test_kept_out_by_an_exclusive_lock),
        cmocka_unit_test(test_ignores_a_dead_process_lock),
        cmocka_unit_test(test_nothing_under_a_missing_repository),
        cmocka_unit_test(test_backup_caches_its_snapshot),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
