/* SPDX-License-Identifier: MIT */
/* libnss_cloudseal entry points, compiled from nss/nss_cloudseal.c itself
 * (test build: the cache path comes from $CLOUDSEAL_NSS_CACHE).
 * Lookups, ERANGE handling, enumeration, initgroups, an unusable cache, a
 * replaced cache, and 8 threads looking up while the file is replaced. */
#define CS_NSS_TEST_OVERRIDE 1
#include "../../nss/nss_cloudseal.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "fleet/fleet.h"
#include "util/fileio.h"

static char dir[] = "/tmp/cs-test-nss-XXXXXX";
static char cache[600];

/* users u0..u(n-1), uid 1000000+i, private groups, "dev" (1100000) with
 * every even user; extra: one more user only this version has */
static void build(size_t n, const char *extra, cs_buf *img)
{
    cs_directory *d;
    cs_fleet_group *dev;
    cs_fleet_user *u;
    cs_fleet_group *g;

    assert_int_equal(cs_directory_new(&d), 0);
    assert_int_equal(cs_directory_add_group(d, "dev", &dev), 0);
    dev->gid = 1100000;
    for (size_t i = 0; i < n + (extra ? 1 : 0); i++) {
        char name[32];

        if (i == n)
            snprintf(name, sizeof(name), "%s", extra);
        else
            snprintf(name, sizeof(name), "u%zu", i);
        assert_int_equal(cs_directory_add_user(d, name, &u), 0);
        u->uid = u->gid = (uint32_t)(1000000 + i);
        u->gecos = strdup("A User,,,");
        assert_true(asprintf(&u->home, "/home/%s", name) > 0);
        u->shell = strdup("/bin/bash");
        assert_int_equal(cs_directory_add_group(d, name, &g), 0);
        g->gid = u->uid;
        if (i % 2 == 0)
            assert_int_equal(cs_fleet_strv_add(&d->groups[0].members, &d->groups[0].n_members, name), 0);
    }
    img->len = 0;
    assert_int_equal(cs_fleet_compile_cache(d, 1, img), 0);
    cs_directory_free(d);
}

static void install(const cs_buf *img)
{
    assert_int_equal(cs_write_file_atomic(cache, img->data, img->len, 0644), 0);
}

static int setup(void **state)
{
    cs_buf img = CS_BUF_INIT;

    assert_non_null(mkdtemp(dir));
    snprintf(cache, sizeof(cache), "%s/directory.cache", dir);
    setenv("CLOUDSEAL_NSS_CACHE", cache, 1);
    build(10, NULL, &img);
    install(&img);
    cs_buf_free(&img);
    return 0;
}

static int teardown(void **state)
{
    char cmd[700];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_lookups(void **state)
{
    struct passwd pw;
    struct group gr;
    char buf[1024];
    int err = 0;

    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(pw.pw_uid, 1000003);
    assert_string_equal(pw.pw_dir, "/home/u3");
    assert_string_equal(pw.pw_gecos, "A User,,,");
    assert_string_equal(pw.pw_passwd, "x");
    assert_int_equal(_nss_cloudseal_getpwuid_r(1000007, &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_string_equal(pw.pw_name, "u7");
    assert_int_equal(_nss_cloudseal_getpwnam_r("root", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
    assert_int_equal(err, ENOENT);
    assert_int_equal(_nss_cloudseal_getpwuid_r(0, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
    assert_int_equal(_nss_cloudseal_getgrnam_r("dev", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(gr.gr_gid, 1100000);
    assert_string_equal(gr.gr_mem[0], "u0");
    assert_string_equal(gr.gr_mem[4], "u8");
    assert_null(gr.gr_mem[5]);
    assert_int_equal(_nss_cloudseal_getgrgid_r(1000002, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_string_equal(gr.gr_name, "u2");
    assert_null(gr.gr_mem[0]);
}

static void test_erange(void **state)
{
    struct passwd pw;
    struct group gr;
    char buf[256];
    int err = 0;

    /* every buffer size short of enough: TRYAGAIN + ERANGE, never overflow */
    for (size_t n = 0; n < 40; n++) {
        enum nss_status s = _nss_cloudseal_getpwnam_r("u3", &pw, buf, n, &err);

        if (s == NSS_STATUS_SUCCESS) {
            assert_true(n >= 34);
            break;
        }
        assert_int_equal(s, NSS_STATUS_TRYAGAIN);
        assert_int_equal(err, ERANGE);
    }
    for (size_t n = 0; n < sizeof(buf); n++) {
        enum nss_status s = _nss_cloudseal_getgrnam_r("dev", &gr, buf + 1, n, &err); /* misaligned */

        if (s == NSS_STATUS_SUCCESS) {
            assert_string_equal(gr.gr_mem[2], "u4");
            return;
        }
        assert_int_equal(s, NSS_STATUS_TRYAGAIN);
        assert_int_equal(err, ERANGE);
    }
    fail_msg("group never fit");
}

static void test_enumeration(void **state)
{
    struct passwd pw;
    struct group gr;
    char buf[1024];
    int err, n = 0, retried = 0;

    assert_int_equal(_nss_cloudseal_setpwent(0), NSS_STATUS_SUCCESS);
    for (;;) {
        enum nss_status s = _nss_cloudseal_getpwent_r(&pw, buf, (n == 4 && !retried) ? 8 : sizeof(buf), &err);

        if (s == NSS_STATUS_TRYAGAIN) {
            assert_int_equal(err, ERANGE);
            retried = 1; /* the same entry comes again with a bigger buffer */
            continue;
        }
        if (s != NSS_STATUS_SUCCESS)
            break;
        char want[16];
        snprintf(want, sizeof(want), "u%d", n);
        assert_string_equal(pw.pw_name, want);
        n++;
    }
    assert_int_equal(n, 10);
    assert_true(retried);
    _nss_cloudseal_endpwent();
    n = 0;
    _nss_cloudseal_setgrent(1);
    while (_nss_cloudseal_getgrent_r(&gr, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
        n++;
    assert_int_equal(n, 11);
    _nss_cloudseal_endgrent();
}

static void test_initgroups(void **state)
{
    long start = 1, size = 1;
    gid_t *groups = malloc(sizeof(gid_t));
    int err;

    groups[0] = 1000004;
    assert_int_equal(_nss_cloudseal_initgroups_dyn("u4", 1000004, &start, &size, &groups, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 2);
    assert_int_equal(groups[1], 1100000);
    /* again: no duplicate */
    assert_int_equal(_nss_cloudseal_initgroups_dyn("u4", 1000004, &start, &size, &groups, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 2);
    /* the limit is respected */
    start = 1;
    size = 1;
    assert_int_equal(_nss_cloudseal_initgroups_dyn("u4", 1000004, &start, &size, &groups, 1, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 1);
    assert_int_equal(_nss_cloudseal_initgroups_dyn("nobody", 5, &start, &size, &groups, 0, &err),
                     NSS_STATUS_NOTFOUND);
    free(groups);
}

static void test_unusable_cache(void **state)
{
    cs_buf img = CS_BUF_INIT;
    struct passwd pw;
    char buf[1024];
    int err;

    build(10, NULL, &img);
    /* truncated */
    assert_int_equal(cs_write_file_atomic(cache, img.data, img.len / 2, 0644), 0);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    /* one flipped byte */
    img.data[img.len - 3] ^= 1;
    install(&img);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    img.data[img.len - 3] ^= 1;
    /* writable by others */
    assert_int_equal(cs_write_file_atomic(cache, img.data, img.len, 0666), 0);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    /* made writable by others in place, then fixed in place */
    install(&img);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(chmod(cache, 0646), 0);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    assert_int_equal(chmod(cache, 0644), 0);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    /* missing */
    unlink(cache);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    assert_int_equal(_nss_cloudseal_setpwent(0), NSS_STATUS_UNAVAIL);
    _nss_cloudseal_endpwent();
    /* back */
    install(&img);
    assert_int_equal(_nss_cloudseal_getpwnam_r("u3", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    cs_buf_free(&img);
}

static void test_replaced_cache_noticed(void **state)
{
    cs_buf a = CS_BUF_INIT, b = CS_BUF_INIT;
    struct passwd pw;
    char buf[1024];
    int err;

    build(3, "alpha", &a);
    build(3, "beta", &b);
    install(&a);
    assert_int_equal(_nss_cloudseal_getpwnam_r("alpha", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    install(&b);
    assert_int_equal(_nss_cloudseal_getpwnam_r("alpha", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
    assert_int_equal(_nss_cloudseal_getpwnam_r("beta", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(pw.pw_uid, 1000003);
    cs_buf_free(&a);
    cs_buf_free(&b);
}

/* ---- 8 threads while the file is replaced ---- */

#define NUSERS 200
static int stop; /* atomic */
static long wrong, unavailable, lookups[8];

static void *looker(void *arg)
{
    long id = (long)arg;
    unsigned seed = (unsigned)id * 7919u + 1;
    struct passwd pw;
    struct group gr;
    char buf[2048];
    int err;

    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        unsigned i = rand_r(&seed) % NUSERS;
        char name[16];
        enum nss_status s;

        snprintf(name, sizeof(name), "u%u", i);
        s = _nss_cloudseal_getpwnam_r(name, &pw, buf, sizeof(buf), &err);
        if (s != NSS_STATUS_SUCCESS)
            __atomic_add_fetch(s == NSS_STATUS_UNAVAIL ? &unavailable : &wrong, 1, __ATOMIC_RELAXED);
        else if (pw.pw_uid != 1000000 + i || strcmp(pw.pw_dir + 6, name) != 0)
            __atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
        s = _nss_cloudseal_getpwuid_r(1000000 + i, &pw, buf, sizeof(buf), &err);
        if (s != NSS_STATUS_SUCCESS || strcmp(pw.pw_name, name) != 0)
            __atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
        s = _nss_cloudseal_getgrgid_r(1000000 + i, &gr, buf, sizeof(buf), &err);
        if (s != NSS_STATUS_SUCCESS || strcmp(gr.gr_name, name) != 0)
            __atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
        /* the extra user of each version: found with its own uid, or absent */
        s = _nss_cloudseal_getpwnam_r("extra_a", &pw, buf, sizeof(buf), &err);
        if (s == NSS_STATUS_SUCCESS && pw.pw_uid != 1000000 + NUSERS)
            __atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
        if (id == 0 && (lookups[id] & 63) == 0) { /* one thread enumerates too */
            int n = 0;
            _nss_cloudseal_setpwent(0);
            while (_nss_cloudseal_getpwent_r(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
                n++;
            _nss_cloudseal_endpwent();
            if (n != NUSERS + 1)
                __atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
        }
        lookups[id]++;
    }
    return NULL;
}

static void test_threads_while_replaced(void **state)
{
    cs_buf a = CS_BUF_INIT, b = CS_BUF_INIT;
    pthread_t t[8];
    long total = 0;

    build(NUSERS, "extra_a", &a);
    build(NUSERS, "extra_b", &b);
    install(&a);
    __atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
    for (long i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, looker, (void *)i), 0);
    for (int round = 0; round < 300; round++) {
        install(round % 2 ? &a : &b);
        usleep(1000);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        total += lookups[i];
    }
    print_message("%ld lookup rounds in 8 threads over 300 replacements\n", total);
    assert_int_equal(wrong, 0);
    assert_int_equal(unavailable, 0);
    assert_true(total > 1000);
    cs_buf_free(&a);
    cs_buf_free(&b);
}

/* fork while other threads are inside the module: the child's lookups must
 * not find a lock held by a thread that does not exist there */
#ifdef __SANITIZE_ADDRESS__
#define FORKS 60  /* forking an ASan process is slow; the plain build runs them all */
#else
#define FORKS 400
#endif

static void test_fork_while_looking(void **state)
{
    cs_buf a = CS_BUF_INIT;
    pthread_t t[7];
    int bad = 0;

    build(NUSERS, "extra_a", &a);
    install(&a);
    __atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
    for (long i = 0; i < 7; i++)
        assert_int_equal(pthread_create(&t[i], NULL, looker, (void *)(i + 1)), 0);
    for (int k = 0; k < FORKS; k++) {
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
            struct passwd pw;
            char buf[1024];
            int err;

            alarm(5); /* a deadlock ends as SIGALRM */
            _exit(_nss_cloudseal_getpwnam_r("u7", &pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS &&
                          pw.pw_uid == 1000007 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 7; i++)
        pthread_join(t[i], NULL);
    print_message("%d of %d children could not look up\n", bad, FORKS);
    assert_int_equal(bad, 0);
    assert_int_equal(wrong, 0);
    cs_buf_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_erange),
        cmocka_unit_test(test_enumeration),
        cmocka_unit_test(test_initgroups),
        cmocka_unit_test(test_unusable_cache),
        cmocka_unit_test(test_replaced_cache_noticed),
        cmocka_unit_test(test_threads_while_replaced),
        cmocka_unit_test(test_fork_while_looking),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
