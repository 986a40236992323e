/* SPDX-License-Identifier: MIT */
/* Blob nonces (lib/repo/crypto.c): drawn from a per-thread pool of random
 * bytes, never the same twice -- across pool refills, across threads, and
 * between a process and a child forked after the pool was filled. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "repo/repo_int.h"

#define N 2000 /* more than ten pool refills */

static cs_repo_keys *keys;

static void nonce_of_new_blob(uint8_t nonce[24])
{
    uint8_t blob[CS_BLOB_OVERHEAD + 3];
    cs_id id = { { 1 } };

    assert_int_equal(cs_blob_seal_into(keys, CS_BLOB_DATA, &id, 0, (const uint8_t *)"abc", 3, blob), 0);
    memcpy(nonce, blob, 24);
}

static int cmp24(const void *a, const void *b)
{
    return memcmp(a, b, 24);
}

static void assert_distinct(uint8_t (*v)[24], size_t n)
{
    qsort(v, n, 24, cmp24);
    for (size_t i = 1; i < n; i++)
        assert_memory_not_equal(v[i - 1], v[i], 24);
}

static void test_nonces_never_repeat(void **state)
{
    uint8_t (*v)[24] = calloc(N, 24);

    (void)state;
    assert_non_null(v);
    for (size_t i = 0; i < N; i++)
        nonce_of_new_blob(v[i]);
    assert_distinct(v, N);
    free(v);
}

static void *draw(void *arg)
{
    uint8_t (*v)[24] = arg;

    for (size_t i = 0; i < N / 2; i++)
        nonce_of_new_blob(v[i]);
    return NULL;
}

static void test_threads_draw_their_own(void **state)
{
    uint8_t (*v)[24] = calloc(N, 24);
    pthread_t t;

    (void)state;
    assert_non_null(v);
    assert_int_equal(pthread_create(&t, NULL, draw, v), 0);
    draw(v + N / 2);
    pthread_join(t, NULL);
    assert_distinct(v, N);
    free(v);
}

static void test_forked_child_refills(void **state)
{
    uint8_t parent[24], child[24];
    int fds[2], status;
    pid_t pid;

    (void)state;
    nonce_of_new_blob(parent); /* the pool is filled: the child inherits it */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        nonce_of_new_blob(child);
        _exit(write(fds[1], child, 24) == 24 ? 0 : 1);
    }
    close(fds[1]);
    nonce_of_new_blob(parent);
    assert_int_equal(read(fds[0], child, 24), 24);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(parent, child, 24);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonces_never_repeat),
        cmocka_unit_test(test_threads_draw_their_own),
        cmocka_unit_test(test_forked_child_refills),
    };
    cs_amk *amk = NULL;
    int r;

    if (cs_crypto_init() < 0 || cs_amk_generate(&amk) < 0 || cs_rkeys_new(amk, &keys) < 0)
        return 1;
    cs_amk_free(amk);
    r = cmocka_run_group_tests(tests, NULL, NULL);
    cs_rkeys_free(keys);
    return r;
}
