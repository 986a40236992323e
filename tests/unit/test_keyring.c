/* SPDX-License-Identifier: MIT */
/* Kernel keyring hand-off against the real kernel: store, load, revoke,
 * replace, timeout, permissions, and possession from a fresh session
 * keyring.  Random account ids keep parallel runs of other engineers (same
 * uid, same @u) from clashing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <keyutils.h>
#include <sodium.h>

#include "crypto/keyring.h"
#include "util/secmem.h"

static void random_id(char id[65])
{
    uint8_t b[32];
    randombytes_buf(b, sizeof(b));
    sodium_bin2hex(id, 65, b, sizeof(b));
}

static void test_store_load_revoke(void **state)
{
    char id[65];
    cs_amk *a = NULL, *b = NULL;

    random_id(id);
    assert_int_equal(cs_amk_generate(&a), 0);
    assert_int_equal(cs_keyring_load(id, &b), -ENOKEY);
    assert_int_equal(cs_keyring_store(id, a, 0), 0);
    assert_int_equal(cs_keyring_load(id, &b), 0);
    assert_memory_equal(a->key, b->key, CS_KEY_BYTES);
    cs_amk_free(b);
    b = NULL;
    assert_int_equal(cs_keyring_revoke(id), 0);
    assert_int_equal(cs_keyring_load(id, &b), -ENOKEY);
    assert_int_equal(cs_keyring_revoke(id), -ENOKEY);
    /* storing again after a revoke works */
    assert_int_equal(cs_keyring_store(id, a, 0), 0);
    assert_int_equal(cs_keyring_load(id, &b), 0);
    assert_memory_equal(a->key, b->key, CS_KEY_BYTES);
    assert_int_equal(cs_keyring_revoke(id), 0);
    cs_amk_free(a);
    cs_amk_free(b);
}

static void test_replace_and_perm(void **state)
{
    char id[65], desc[128];
    cs_amk *a = NULL, *a2 = NULL, *b = NULL;
    char *d = NULL;
    key_serial_t k;

    random_id(id);
    assert_int_equal(cs_amk_generate(&a), 0);
    assert_int_equal(cs_amk_generate(&a2), 0);
    assert_int_equal(cs_keyring_store(id, a, 0), 0);
    assert_int_equal(cs_keyring_store(id, a2, 0), 0);
    assert_int_equal(cs_keyring_load(id, &b), 0);
    assert_memory_equal(a2->key, b->key, CS_KEY_BYTES);
    /* the permissions the contract promises: "user;uid;gid;perm;desc" */
    snprintf(desc, sizeof(desc), "cloudseal:amk:%s", id);
    assert_int_equal(keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_PROCESS_KEYRING), 0);
    k = (key_serial_t)keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, 0);
    assert_true(k > 0);
    assert_true(keyctl_describe_alloc(k, &d) > 0);
    assert_non_null(strstr(d, ";3f0b0000;"));
    free(d);
    assert_int_equal(cs_keyring_revoke(id), 0);
    cs_amk_free(a);
    cs_amk_free(a2);
    cs_amk_free(b);
}

static void test_timeout(void **state)
{
    char id[65];
    cs_amk *a = NULL, *b = NULL;

    random_id(id);
    assert_int_equal(cs_amk_generate(&a), 0);
    assert_int_equal(cs_keyring_store(id, a, 1), 0);
    sleep(2);
    assert_int_equal(cs_keyring_load(id, &b), -ENOKEY);
    cs_amk_free(a);
}

/* A process with its own fresh session keyring (as after pam_keyinit or in
 * a root-forked PAM child) must still be able to store, load and revoke. */
static void test_fresh_session_keyring(void **state)
{
    char id[65];
    cs_amk *a = NULL, *b = NULL;
    pid_t pid;
    int status;

    random_id(id);
    assert_int_equal(cs_amk_generate(&a), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (keyctl_join_session_keyring(NULL) < 0)
            _exit(10);
        if (cs_keyring_store(id, a, 60) != 0)
            _exit(11);
        if (cs_keyring_load(id, &b) != 0 || memcmp(a->key, b->key, CS_KEY_BYTES) != 0)
            _exit(12);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* the parent (another session) sees the key in @u, then revokes it */
    assert_int_equal(cs_keyring_load(id, &b), 0);
    assert_memory_equal(a->key, b->key, CS_KEY_BYTES);
    assert_int_equal(cs_keyring_revoke(id), 0);
    cs_amk_free(a);
    cs_amk_free(b);
}

/* Another uid cannot read the key (run only as root: fork, drop to nobody). */
static void test_other_uid_cannot_read(void **state)
{
    char id[65];
    cs_amk *a = NULL;
    pid_t pid;
    int status;

    if (geteuid() != 0)
        skip();
    random_id(id);
    assert_int_equal(cs_amk_generate(&a), 0);
    assert_int_equal(cs_keyring_store(id, a, 60), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cs_amk *b = NULL;
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
            _exit(10);
        _exit(cs_keyring_load(id, &b) == -ENOKEY ? 0 : 11);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(cs_keyring_revoke(id), 0);
    cs_amk_free(a);
}

static int drop_to_nobody(void)
{
    return setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
           setresuid(65534, 65534, 65534) < 0 ? -1 : 0;
}

/* Run fn(id, amk) in a child that drops to nobody; its exit status. */
static int as_nobody(int (*fn)(const char *, const cs_amk *), const char *id, const cs_amk *a)
{
    int status;
    pid_t pid = fork();

    if (pid == 0)
        _exit(drop_to_nobody() < 0 ? 10 : fn(id, a));
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static int nobody_store(const char *id, const cs_amk *a) { return cs_keyring_store(id, a, 60) == 0 ? 0 : 20; }
static int nobody_check(const char *id, const cs_amk *a)
{
    cs_amk *b = NULL;
    /* a fresh session keyring, as pam_keyinit gives a new login */
    if (keyctl_join_session_keyring(NULL) < 0)
        return 21;
    if (cs_keyring_load(id, &b) != 0 || memcmp(a->key, b->key, CS_KEY_BYTES) != 0)
        return 22;
    return cs_keyring_revoke(id) == 0 ? 0 : 23;
}

/* The PAM hand-off shape: root that already has its own session keyring
 * forks a child that drops to the user's uid and stores (TESTING-NOTES §4);
 * a later process of that user, in another session, reads and revokes. */
static void test_root_handoff_to_uid(void **state)
{
    char id[65];
    cs_amk *a = NULL;
    int status;
    pid_t pid;

    if (geteuid() != 0)
        skip();
    random_id(id);
    assert_int_equal(cs_amk_generate(&a), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (keyctl_join_session_keyring(NULL) < 0)
            _exit(30);
        _exit(as_nobody(nobody_store, id, a));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(as_nobody(nobody_check, id, a), 0);
    cs_amk_free(a);
}

static void test_bad_ids(void **state)
{
    cs_amk *a = NULL, *b = NULL;

    assert_int_equal(cs_amk_generate(&a), 0);
    assert_int_equal(cs_keyring_store("", a, 0), -EINVAL);
    assert_int_equal(cs_keyring_store("ABC", a, 0), -EINVAL);
    assert_int_equal(cs_keyring_store("ab:cd", a, 0), -EINVAL);
    assert_int_equal(cs_keyring_load(NULL, &b), -EINVAL);
    assert_int_equal(cs_keyring_revoke("x/y"), -EINVAL);
    cs_amk_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_load_revoke),
        cmocka_unit_test(test_replace_and_perm),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_fresh_session_keyring),
        cmocka_unit_test(test_other_uid_cannot_read),
        cmocka_unit_test(test_root_handoff_to_uid),
        cmocka_unit_test(test_bad_ids),
    };
    if (cs_crypto_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("keyring", tests, NULL, NULL);
}
