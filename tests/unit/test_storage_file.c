/* SPDX-License-Identifier: MIT */
/* file:// put of big objects: packs (CS_PUT_UNCACHED) take the O_DIRECT path (page-aligned
 * buffer, block-aligned prefix direct, tail buffered), everything else the
 * ordinary one.  Every size and alignment must store the exact bytes, on
 * ext4 (/var/tmp) and on tmpfs (/dev/shm), which may refuse O_DIRECT. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "storage/storage.h"
#include "util/buf.h"

static void put_and_get(const char *base, size_t len, size_t misalign)
{
    char dir[256], url[300], key[64];
    cs_storage *st;
    cs_buf src = CS_BUF_INIT, back = CS_BUF_INIT;
    cs_object_stat os;

    snprintf(dir, sizeof(dir), "%s/cs-storage-test-XXXXXX", base);
    if (!mkdtemp(dir)) {
        print_message("skipping %s: %s\n", base, strerror(errno));
        return;
    }
    snprintf(url, sizeof(url), "file://%s", dir);
    assert_int_equal(cs_storage_open(url, NULL, &st), 0);
    /* a first reservation >= CS_BUF_ALIGNED_MIN is page-aligned, like a pack */
    assert_int_equal(cs_buf_reserve(&src, len + misalign + 1), 0);
    if (len + misalign + 1 >= CS_BUF_ALIGNED_MIN)
        assert_int_equal((uintptr_t)src.data % 4096, 0);
    randombytes_buf(src.data, len + misalign);
    snprintf(key, sizeof(key), "data/%zu-%zu", len, misalign);
    assert_int_equal(cs_storage_put(st, key, src.data + misalign, len, CS_PUT_IMMUTABLE | CS_PUT_UNCACHED), 0);
    assert_int_equal(cs_storage_stat(st, key, &os), 0);
    assert_int_equal(os.size, len);
    assert_int_equal(cs_storage_get(st, key, 0, 0, len + 1, &back), 0);
    assert_int_equal(back.len, len);
    assert_memory_equal(back.data, src.data + misalign, len);
    /* immutable: a second put of the same key is refused, the first stays */
    assert_int_equal(cs_storage_put(st, key, src.data, len, CS_PUT_IMMUTABLE), -EEXIST);
    assert_int_equal(cs_storage_del(st, key), 0);
    cs_storage_close(st);
    cs_buf_free(&src);
    cs_buf_free(&back);
    assert_int_equal(rmdir(strcat(dir, "/data")), 0);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(rmdir(dir), 0);
}

static void sizes_on(const char *base)
{
    static const size_t sizes[] = { 0, 1, 4095, 4096, (1u << 20) - 1, 1u << 20, (1u << 20) + 1,
                                    (4u << 20) + 123, 4u << 20, (13u << 20) + 4097 };

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        put_and_get(base, sizes[i], 0);
        put_and_get(base, sizes[i], 1);   /* unaligned buffer: ordinary path */
        put_and_get(base, sizes[i], 512); /* sector- but not page-aligned */
    }
}

static void test_put_sizes_disk(void **state)
{
    (void)state;
    sizes_on("/var/tmp");
}

static void test_put_sizes_tmpfs(void **state)
{
    struct stat st;

    (void)state;
    if (stat("/dev/shm", &st) < 0) {
        skip();
        return;
    }
    sizes_on("/dev/shm");
}

static int count_cb(const char *key, const cs_object_stat *st, void *ud)
{
    (void)key;
    (void)st;
    (*(int *)ud)++;
    return 0;
}

/* The listing in a process that may not search snapshots/ (mode 0400):
 * 0 when it fails with -EACCES, the listing's result otherwise. */
static int list_unsearchable(void)
{
    char dir[] = "/tmp/cs-storage-list-XXXXXX", url[64], sub[64];
    cs_storage *st;
    int n = 0, r;

    if (!mkdtemp(dir))
        return 100;
    snprintf(url, sizeof(url), "file://%s", dir);
    snprintf(sub, sizeof(sub), "%s/snapshots", dir);
    if (cs_storage_open(url, NULL, &st) < 0 || cs_storage_put(st, "snapshots/one", "1", 1, CS_PUT_IMMUTABLE) < 0 ||
        cs_storage_put(st, "snapshots/two", "2", 1, CS_PUT_IMMUTABLE) < 0 || chmod(sub, 0400) < 0)
        return 101;
    r = cs_storage_list(st, "snapshots/", count_cb, &n);
    chmod(sub, 0700);
    cs_storage_del(st, "snapshots/one");
    cs_storage_del(st, "snapshots/two");
    rmdir(sub);
    rmdir(dir);
    cs_storage_close(st);
    return r == -EACCES ? 0 : r == 0 ? 10 + n : 102;
}

/* An object the listing cannot stat is an error, never left out: a
 * snapshot missing from prune's listing would have its data deleted. */
static void test_list_unreadable_entry_fails(void **state)
{
    int status;
    pid_t pid;

    (void)state;
    if (geteuid() != 0) {
        assert_int_equal(list_unsearchable(), 0);
        return;
    }
    pid = fork(); /* root searches anything: as nobody, in a child */
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ? 103 : list_unsearchable());
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* 10 + n: listed n of 2 and said nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_sizes_disk),
        cmocka_unit_test(test_put_sizes_tmpfs),
        cmocka_unit_test(test_list_unreadable_entry_fails),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
