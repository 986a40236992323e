/* SPDX-License-Identifier: MIT */
/* The repository engine end to end on a file:// storage in a temp dir with a
 * random account key: init/open, backup, incremental, restore, check,
 * corruption, forget + prune, wrong key, locks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "repo/repo_int.h"
#include "repo_fixture.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/secmem.h"

static repo_fixture fx;

static int setup(void **state)
{
    uint8_t *big = malloc(3 << 20);
    char p[600];

    (void)state;
    repo_fixture_setup(&fx, "repo");
    repo_fixture_write(&fx, "hello", "hello world\n", 12);
    randombytes_buf(big, 3 << 20);
    repo_fixture_write(&fx, "sub/random", big, 3 << 20);
    repo_fixture_write(&fx, "sub/copy", big, 3 << 20);
    free(big);
    snprintf(p, sizeof(p), "%s/link", fx.src);
    assert_int_equal(symlink("hello", p), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return repo_fixture_teardown(&fx);
}

static int do_backup(cs_repo *r, cs_snapshot *snap)
{
    const char *paths[] = { fx.src };
    cs_backup_opts o = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };

    return cs_backup(r, &o, snap);
}

static int files_equal(const char *a, const char *b)
{
    cs_buf x = CS_BUF_INIT, y = CS_BUF_INIT;
    int eq = cs_read_file(a, 1 << 26, &x) == 0 && cs_read_file(b, 1 << 26, &y) == 0 && x.len == y.len &&
             memcmp(x.data, y.data, x.len) == 0;

    cs_buf_free(&x);
    cs_buf_free(&y);
    return eq;
}

static void test_init_twice_and_wrong_key(void **state)
{
    cs_amk *other;
    cs_repo *r;

    (void)state;
    assert_int_equal(cs_repo_init(fx.st, REPO_FIXTURE_PREFIX, fx.amk), -EEXIST);
    assert_int_equal(cs_amk_generate(&other), 0);
    assert_int_equal(cs_repo_open(fx.st, REPO_FIXTURE_PREFIX, other, &r), -EBADMSG);
    cs_amk_free(other);
    assert_int_equal(cs_repo_open(fx.st, "users/nobody/backup/", fx.amk, &r), -ENOENT);
}

static void test_backup_restore_check(void **state)
{
    cs_repo *r;
    cs_snapshot s1, s2;
    cs_restore_opts ro = { 0 };
    cs_restore_result res;
    cs_check_result cr;
    cs_check_opts co = { .read_data_percent = 100 };
    char target[400], a[1200], b[1200];

    (void)state;
    repo_fixture_open(&fx, &r);
    assert_int_equal(do_backup(r, &s1), 0);
    assert_int_equal(s1.summary.files_new, 3);
    /* the copy deduplicates: ~3 MiB stored for 6 MiB of files */
    assert_true(s1.summary.bytes_added < (4u << 20));
    sleep(1); /* let the files' ctimes fall before the next run's start */
    assert_int_equal(do_backup(r, &s2), 0);
    cs_repo_close(r);
    repo_fixture_open(&fx, &r);
    cs_snapshot_clear(&s2);
    assert_int_equal(do_backup(r, &s2), 0);
    assert_int_equal(s2.summary.files_unchanged, 3);
    assert_true(s2.summary.bytes_added < 4096); /* at most trees of parents outside src whose mtime moved */
    snprintf(target, sizeof(target), "%s/restore", fx.tmp);
    ro.target = target;
    assert_int_equal(cs_restore(r, &s2, &ro, &res), 0);
    assert_int_equal(res.files, 3);
    snprintf(a, sizeof(a), "%s/sub/random", fx.src);
    snprintf(b, sizeof(b), "%s%s/sub/random", target, fx.src);
    assert_true(files_equal(a, b));
    assert_int_equal(cs_check(r, &co, &cr), 0);
    assert_int_equal(cr.errors, 0);
    assert_int_equal(cr.snapshots, 3);
    cs_snapshot_clear(&s1);
    cs_snapshot_clear(&s2);
    cs_repo_close(r);
}

static int corrupt_one(const char *key, const cs_object_stat *os, void *ud)
{
    char p[1400];
    int fd;
    uint8_t byte;

    (void)ud;
    if (os->size < 3 << 20)
        return 0; /* the big data pack */
    snprintf(p, sizeof(p), "%s/storage/%s", fx.tmp, key);
    fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, 1000), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, 1000), 1);
    close(fd);
    return 1;
}

static void test_corruption_named_and_restore_partial(void **state)
{
    cs_repo *r;
    cs_snapshot s;
    cs_check_result cr;
    cs_check_opts co = { .read_data_percent = 100 };
    cs_restore_opts ro = { 0 };
    cs_restore_result res;
    char target[400], p[1200];
    struct stat sb;

    (void)state;
    assert_int_equal(cs_storage_list(fx.st, "users/t/backup/data/", corrupt_one, NULL), 1);
    repo_fixture_open(&fx, &r);
    assert_int_equal(cs_check(r, &co, &cr), -EBADMSG);
    assert_true(cr.errors >= 1);
    assert_int_equal(cs_snapshot_find(r, "latest", &s), 0);
    snprintf(target, sizeof(target), "%s/restore2", fx.tmp);
    ro.target = target;
    assert_int_equal(cs_restore(r, &s, &ro, &res), -EBADMSG);
    assert_int_equal(res.damaged, 2);   /* random and its copy share the damaged blob */
    assert_int_equal(res.files, 1);     /* hello is restored */
    snprintf(p, sizeof(p), "%s%s/sub/random", target, fx.src);
    assert_int_equal(lstat(p, &sb), -1); /* never a silently wrong file */
    snprintf(p, sizeof(p), "%s%s/hello", target, fx.src);
    assert_int_equal(lstat(p, &sb), 0);
    cs_snapshot_clear(&s);
    cs_repo_close(r);
}

static void test_forget_prune(void **state)
{
    cs_repo *r;
    cs_snapshot *v;
    size_t n;
    cs_prune_result pr;
    cs_check_result cr;
    cs_check_opts co = { 0 };

    (void)state;
    repo_fixture_open(&fx, &r);
    assert_int_equal(cs_snapshot_list(r, &v, &n, NULL), 0);
    /* prune refuses while snapshots need damaged data */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cs_snapshot_delete(r, &v[i].id), 0);
    cs_snapshots_free(v, n);
    assert_int_equal(cs_prune(r, NULL, &pr), 0);
    assert_true(pr.packs_deleted >= 2);
    cs_repo_close(r);
    repo_fixture_open(&fx, &r);
    assert_int_equal(cs_check(r, &co, &cr), 0);
    assert_int_equal(r->index.npacks, 0);
    cs_repo_close(r);
}

static int del_cb(const char *key, const cs_object_stat *os, void *ud)
{
    (void)os;
    (*(int *)ud)++;
    return cs_storage_del(fx.st, key);
}

/* Every index object gone: restore and check read the packs' own headers;
 * repair index writes a new index; prune then settles; a temporary object
 * left by a killed put is counted and removed. */
static void test_index_lost_repair_and_settle(void **state)
{
    cs_repo *r;
    cs_snapshot s;
    cs_restore_opts ro = { 0 };
    cs_restore_result res;
    cs_check_result cr;
    cs_check_opts co = { .read_data_percent = 100 };
    cs_repair_index_result ri;
    cs_prune_result pr;
    char target[400], p[1200];
    struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
    int deleted = 0, fd;

    (void)state;
    repo_fixture_open(&fx, &r);
    assert_int_equal(do_backup(r, &s), 0);
    cs_repo_close(r);
    assert_int_equal(cs_storage_list(fx.st, "users/t/backup/index/", del_cb, &deleted), 0);
    assert_true(deleted >= 1);
    repo_fixture_open(&fx, &r);
    assert_int_equal(r->index.npacks, 0);
    snprintf(target, sizeof(target), "%s/restore3", fx.tmp);
    ro.target = target;
    assert_int_equal(cs_restore(r, &s, &ro, &res), 0);
    assert_int_equal(res.files, 3);
    assert_int_equal(cs_check(r, &co, &cr), -EBADMSG);
    assert_true(cr.unindexed_needed >= 1);
    assert_int_equal(cs_repair_index(r, &ri), 0);
    assert_true(ri.packs >= 1 && ri.index_written >= 1);
    assert_int_equal(ri.damaged_packs + ri.damaged_blobs, 0);
    cs_repo_close(r);
    /* a put killed midway, long ago */
    snprintf(p, sizeof(p), "%s/storage/users/t/backup/data/ab", fx.tmp);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/storage/users/t/backup/data/ab/ab.tmp-0123456789abcdef", fx.tmp);
    fd = open(p, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(cs_write_all(fd, "partial", 7), 0);
    assert_int_equal(futimens(fd, old), 0);
    close(fd);
    repo_fixture_open(&fx, &r);
    assert_int_equal(cs_check(r, &co, &cr), 0);
    assert_int_equal(cr.temp_objects, 1);
    assert_int_equal(cs_prune(r, NULL, &pr), 0);
    assert_int_equal(pr.temp_removed, 1);
    assert_int_equal(cs_prune(r, NULL, &pr), 0);
    assert_int_equal(pr.packs_deleted + pr.packs_rewritten + pr.blobs_removed + pr.temp_removed, 0);
    assert_int_equal(cs_check(r, &co, &cr), 0);
    assert_int_equal(cr.temp_objects, 0);
    cs_snapshot_clear(&s);
    cs_repo_close(r);
}

static void test_locks(void **state)
{
    cs_repo *a, *b;

    (void)state;
    repo_fixture_open(&fx, &a);
    repo_fixture_open(&fx, &b);
    assert_int_equal(cs_repo_lock(a, false), 0);
    assert_int_equal(cs_repo_lock(b, false), 0); /* shared + shared */
    cs_repo_unlock(b);
    assert_int_equal(cs_repo_lock(b, true), -EBUSY);
    cs_repo_unlock(a);
    assert_int_equal(cs_repo_lock(b, true), 0);
    assert_int_equal(cs_repo_lock(a, false), -EBUSY);
    cs_repo_close(a);
    cs_repo_close(b);
}

/* A flipped config byte: the repository still opens (restore needs nothing
 * from the config), backup refuses without a copy, the copy every open
 * keeps serves and 'repair config' puts it back. */
static void test_config_damaged_copy_and_repair(void **state)
{
    cs_repair_config_result rr;
    cs_snapshot s;
    cs_check_result cr;
    cs_repo *r;
    cs_buf b = CS_BUF_INIT, back = CS_BUF_INIT;
    char path[600];

    (void)state;
    assert_int_equal(cs_repo_open_ex(fx.st, REPO_FIXTURE_PREFIX, fx.amk, fx.cache, CS_REPO_NO_OBJECT_CACHE, &r), 0);
    assert_int_equal(r->config_err, 0);
    assert_int_equal(cs_repo_repair_config(r, &rr), 0);
    assert_false(rr.written); /* never over one that authenticates */
    cs_repo_close(r);
    snprintf(path, sizeof(path), "%s/storage/users/t/backup/config", fx.tmp);
    assert_int_equal(cs_read_file(path, 1 << 16, &b), 0);
    b.data[50] ^= 4;
    assert_int_equal(cs_write_file_atomic(path, b.data, b.len, 0600), 0);
    assert_int_equal(cs_repo_open_ex(fx.st, REPO_FIXTURE_PREFIX, fx.amk, NULL, 0, &r), 0);
    assert_int_equal(r->config_err, -EBADMSG);
    assert_null(r->chunker);
    assert_int_equal(do_backup(r, &s), -EBADMSG);
    assert_int_equal(cs_check(r, NULL, &cr), -EBADMSG);
    assert_int_equal(cr.errors, 1);
    assert_int_equal(cs_repo_repair_config(r, &rr), -ENOENT);
    cs_repo_close(r);
    assert_int_equal(cs_repo_open_ex(fx.st, REPO_FIXTURE_PREFIX, fx.amk, fx.cache, 0, &r), 0);
    assert_non_null(r->chunker);
    assert_int_equal(cs_repo_repair_config(r, &rr), 0);
    assert_true(rr.written);
    assert_int_equal(rr.storage_err, -EBADMSG);
    cs_repo_close(r);
    b.data[50] ^= 4; /* the original bytes are back */
    assert_int_equal(cs_read_file(path, 1 << 16, &back), 0);
    assert_true(back.len == b.len && memcmp(back.data, b.data, b.len) == 0);
    assert_int_equal(cs_repo_open_ex(fx.st, REPO_FIXTURE_PREFIX, fx.amk, NULL, 0, &r), 0);
    assert_int_equal(r->config_err, 0);
    cs_repo_close(r);
    cs_buf_free(&b);
    cs_buf_free(&back);
}

/* cs_repo_key() used to cut a key silently at 1200 bytes: under a long
 * prefix two objects shared one key.  The prefix is refused up front, and
 * the key itself says when it does not fit. */
static void test_long_prefix_refused(void **state)
{
    char prefix[CS_REPO_KEY_MAX], key[CS_REPO_KEY_MAX];
    cs_repo *r = NULL;
    cs_repo fake = { .prefix = prefix };
    cs_id id = { { 0 } };

    (void)state;
    for (size_t i = 0; i + 2 < sizeof(prefix) - 10; i += 2)
        memcpy(prefix + i, "p/", 3);
    assert_int_equal(cs_repo_init(fx.st, prefix, fx.amk), -ENAMETOOLONG);
    assert_int_equal(cs_repo_open(fx.st, prefix, fx.amk, &r), -ENAMETOOLONG);
    assert_null(r);
    assert_int_equal(cs_repo_key(&fake, "data", &id, key, sizeof(key)), -ENAMETOOLONG);
    prefix[CS_REPO_PREFIX_MAX] = '\0';
    assert_int_equal(cs_repo_key(&fake, "snapshots", &id, key, sizeof(key)), 0);
    assert_int_equal(strlen(key), CS_REPO_PREFIX_MAX + strlen("snapshots/") + 64);
}

static void write_random(const char *dir, const char *name, size_t len)
{
    uint8_t *data = malloc(len);
    char p[700];
    int fd;

    assert_non_null(data);
    randombytes_buf(data, len);
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(cs_write_all(fd, data, len), 0);
    close(fd);
    free(data);
}

/* prune, then check the repository as a new reader sees it */
static void prune_checked(cs_repo *r, uint64_t bound, cs_prune_result *pr)
{
    cs_prune_opts po = { .max_repack = bound };
    cs_check_opts co = { .read_data_percent = 100 };
    cs_check_result cr;
    cs_repo *fresh;

    assert_int_equal(cs_prune(r, &po, pr), 0);
    assert_true(pr->bytes_repacked <= bound);
    assert_int_equal(cs_repo_open(fx.st, "users/b/backup/", fx.amk, &fresh), 0);
    assert_int_equal(cs_check(fresh, &co, &cr), 0);
    cs_repo_close(fresh);
}

/* A bounded prune rewrites at most max_repack bytes of packs, says what it
 * left, and the next prune finishes; check passes after each. */
static void test_prune_bound(void **state)
{
    enum { K = 5 };
    const uint64_t bound = 1600 << 10;
    const char *paths[1];
    cs_backup_opts bo = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };
    cs_snapshot s[K];
    cs_prune_result pr;
    char dir[400], gone[440], name[32];
    cs_repo *r;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/bound", fx.tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    paths[0] = dir;
    assert_int_equal(cs_repo_init(fx.st, "users/b/backup/", fx.amk), 0);
    assert_int_equal(cs_repo_open(fx.st, "users/b/backup/", fx.amk, &r), 0);
    /* backup i packs a_i (kept to the end) with b_i (only in backup i):
     * every pack but the last becomes 40..67% garbage */
    for (int i = 0; i < K; i++) {
        snprintf(name, sizeof(name), "a%d", i);
        write_random(dir, name, 300 << 10);
        snprintf(name, sizeof(name), "b%d", i);
        write_random(dir, name, (size_t)(i + 2) * (100 << 10));
        assert_int_equal(cs_backup(r, &bo, &s[i]), 0);
        snprintf(gone, sizeof(gone), "%s/b%d", dir, i);
        assert_int_equal(unlink(gone), 0);
    }
    for (int i = 0; i < K - 1; i++)
        assert_int_equal(cs_snapshot_delete(r, &s[i].id), 0);

    prune_checked(r, bound, &pr);
    assert_true(pr.packs_rewritten >= 1);
    assert_true(pr.packs_repack_left >= 1);
    assert_true(pr.bytes_repack_left > 0);
    prune_checked(r, bound, &pr);
    assert_true(pr.packs_rewritten >= 1);
    assert_int_equal(pr.packs_repack_left, 0);
    prune_checked(r, bound, &pr);
    assert_int_equal(pr.packs_deleted + pr.packs_rewritten + pr.packs_repack_left, 0);
    for (int i = 0; i < K; i++)
        cs_snapshot_clear(&s[i]);
    cs_repo_close(r);
}

/* A backup of a million small files names ~1 M blobs: its index must come
 * in objects of bounded size (the writer and every reader hold an object's
 * plaintext, compressed and sealed copies at once), a pack never split. */
static void test_index_objects_bounded(void **state)
{
    const uint32_t sizes[] = { 40000, 40000, 10, CS_INDEX_OBJECT_BLOBS + 5 };
    enum { NP = sizeof(sizes) / sizeof(sizes[0]) };
    cs_index_pack_blobs v[NP];
    cs_repo *r, *r2;
    cs_id *ids = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(cs_repo_init(fx.st, "users/ix/backup/", fx.amk), 0);
    assert_int_equal(cs_repo_open(fx.st, "users/ix/backup/", fx.amk, &r), 0);
    for (int p = 0; p < NP; p++) {
        randombytes_buf(v[p].pack_id.b, sizeof(v[p].pack_id.b));
        v[p].n = sizes[p];
        v[p].size = (uint64_t)sizes[p] * 64;
        assert_non_null(v[p].blobs = calloc(sizes[p], sizeof(cs_pack_blob)));
        for (uint32_t i = 0; i < sizes[p]; i++) {
            v[p].blobs[i] = (cs_pack_blob){ .type = CS_BLOB_DATA, .offset = i * 64, .enc_len = 64, .raw_len = 23 };
            randombytes_buf(v[p].blobs[i].id.b, sizeof(v[p].blobs[i].id.b));
        }
    }
    /* 40000 | 40000 + 10 | the big pack alone, whole */
    assert_int_equal(cs_repo_write_index(r, v, NP), 3);
    assert_int_equal(cs_repo_list_ids(r, "index", &ids, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(cs_repo_open(fx.st, "users/ix/backup/", fx.amk, &r2), 0);
    for (int p = 0; p < NP; p++) {
        for (uint32_t i = 0; i < sizes[p]; i += 997) {
            cs_ientry *e = cs_index_find(&r2->index, &v[p].blobs[i].id);
            assert_non_null(e);
            assert_int_equal(e->offset, i * 64);
        }
        free(v[p].blobs);
    }
    free(ids);
    cs_repo_close(r2);
    cs_repo_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_twice_and_wrong_key),
        cmocka_unit_test(test_backup_restore_check),
        cmocka_unit_test(test_corruption_named_and_restore_partial),
        cmocka_unit_test(test_forget_prune),
        cmocka_unit_test(test_index_lost_repair_and_settle),
        cmocka_unit_test(test_locks),
        cmocka_unit_test(test_config_damaged_copy_and_repair),
        cmocka_unit_test(test_long_prefix_refused),
        cmocka_unit_test(test_prune_bound),
        cmocka_unit_test(test_index_objects_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
