/* SPDX-License-Identifier: MIT */
/* lib/repo/browse.c on a real repository (file:// in a temp dir): range
 * reads against the source bytes, the caches' bounds and pinning, path
 * lookup errors, nodes whose chunks do not add up, SEEK_DATA/SEEK_HOLE. */
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
#include "repo/browse.h"
#include "repo_fixture.h"
#include "repo/repo_int.h"
#include "util/fileio.h"
#include "util/log.h"

#define BIG (5u << 20)

static repo_fixture fx;
static uint8_t *big;
static cs_repo *repo;
static cs_snapshot snap;

static int setup(void **state)
{
    const char *paths[] = { fx.src };
    cs_backup_opts o = { .paths = paths, .npaths = 1 };

    (void)state;
    repo_fixture_setup(&fx, "browse");
    big = malloc(BIG);
    randombytes_buf(big, BIG);
    repo_fixture_write(&fx, "sub/random", big, BIG);
    repo_fixture_write(&fx, "small", "small\n", 6);
    repo_fixture_open(&fx, &repo);
    assert_true(cs_backup(repo, &o, &snap) >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cs_snapshot_clear(&snap);
    cs_repo_close(repo);
    free(big);
    return repo_fixture_teardown(&fx);
}

/* The node of src/rel, pinned in *ref. */
static const cs_node *node_of(cs_browse *b, const char *rel, cs_bref **ref)
{
    char p[600];
    const cs_node *n = NULL;

    snprintf(p, sizeof(p), "%s/%s", fx.src, rel);
    assert_int_equal(cs_browse_lookup(b, &snap.tree, p, ref, &n), 0);
    assert_non_null(n);
    return n;
}

static void test_range_reads_equal_the_source(void **state)
{
    cs_browse *b;
    cs_bref *ref;
    cs_bfile f;
    uint8_t *buf = malloc(BIG);

    (void)state;
    assert_int_equal(cs_browse_new(repo, 0, 0, &b), 0);
    assert_int_equal(cs_bfile_open(b, node_of(b, "sub/random", &ref), &f), 0);
    assert_true(f.n >= 3); /* several chunks: reads cross their boundaries */
    assert_int_equal(cs_bfile_read(b, &f, buf, BIG, 0), BIG);
    assert_memory_equal(buf, big, BIG);
    for (int i = 0; i < 200; i++) {
        uint64_t off = randombytes_uniform(BIG), len = randombytes_uniform(3u << 20);
        uint64_t want = off + len > BIG ? BIG - off : len;
        assert_int_equal(cs_bfile_read(b, &f, buf, len, off), (ssize_t)want);
        assert_memory_equal(buf, big + off, want);
    }
    /* each chunk boundary exactly, the last byte, the end */
    for (uint32_t i = 0; i + 1 < f.n; i++) {
        assert_int_equal(cs_bfile_read(b, &f, buf, 2, f.ends[i] - 1), 2);
        assert_memory_equal(buf, big + f.ends[i] - 1, 2);
    }
    assert_int_equal(cs_bfile_read(b, &f, buf, 10, BIG - 1), 1);
    assert_int_equal(buf[0], big[BIG - 1]);
    assert_int_equal(cs_bfile_read(b, &f, buf, 10, BIG), 0);
    assert_int_equal(cs_bfile_read(b, &f, buf, 10, UINT64_MAX), 0);
    /* not sparse: data everywhere, the hole at the end; -ENXIO past it */
    assert_int_equal(cs_bfile_seek(b, &f, false, 5, true), 5);
    assert_int_equal(cs_bfile_seek(b, &f, false, 5, false), BIG);
    assert_int_equal(cs_bfile_seek(b, &f, true, 5, true), 5); /* random chunks are no holes */
    assert_int_equal(cs_bfile_seek(b, &f, true, 5, false), BIG);
    assert_int_equal(cs_bfile_seek(b, &f, true, BIG, true), -ENXIO);
    cs_bfile_close(&f);
    cs_browse_put(b, ref);
    cs_browse_free(b);
    free(buf);
}

static void test_caches_keep_their_bound_except_pinned(void **state)
{
    cs_browse *b;
    cs_browse_stats s;
    cs_bref *ref, *pins[8];
    cs_bfile f;
    const uint8_t *data;
    size_t len;
    uint8_t byte;

    (void)state;
    assert_int_equal(cs_browse_new(repo, 1, 1, &b), 0); /* room for nothing unpinned */
    assert_int_equal(cs_bfile_open(b, node_of(b, "sub/random", &ref), &f), 0);
    for (uint32_t i = 0; i < f.n && i < 8; i++)
        assert_int_equal(cs_browse_data(b, &f.ids[i], &pins[i], &data, &len), 0);
    cs_browse_stats_get(b, &s);
    assert_true(s.blob_bytes >= (f.n < 8 ? BIG : 8u << 19)); /* pinned: all kept */
    for (uint32_t i = 0; i < f.n && i < 8; i++)
        cs_browse_put(b, pins[i]);
    cs_browse_stats_get(b, &s);
    assert_int_equal(s.blob_bytes, 0);
    assert_int_equal(cs_bfile_read(b, &f, &byte, 1, 0), 1);
    cs_browse_stats_get(b, &s);
    assert_int_equal(s.blob_bytes, 0);
    cs_bfile_close(&f);
    cs_browse_put(b, ref);
    cs_browse_stats_get(b, &s);
    assert_int_equal(s.tree_bytes, 0);
    cs_browse_free(b);

    /* with room, a second lookup and read come from the caches */
    assert_int_equal(cs_browse_new(repo, 0, 0, &b), 0);
    cs_browse_put(b, (node_of(b, "sub/random", &ref), ref));
    cs_browse_stats_get(b, &s);
    uint64_t loads = s.tree_loads;
    cs_browse_put(b, (node_of(b, "sub/random", &ref), ref));
    cs_browse_stats_get(b, &s);
    assert_int_equal(s.tree_loads, loads);
    assert_true(s.tree_hits >= loads);
    cs_browse_free(b);
}

static void test_lookup_errors_and_damaged_nodes(void **state)
{
    cs_browse *b;
    cs_bref *ref = NULL;
    const cs_node *n, *root = NULL;
    cs_bfile f;
    char p[6000];
    cs_node bad;

    (void)state;
    assert_int_equal(cs_browse_new(repo, 0, 0, &b), 0);
    assert_int_equal(cs_browse_lookup(b, &snap.tree, "/", &ref, &root), 0);
    assert_null(root);
    assert_null(ref);
    snprintf(p, sizeof(p), "%s/nosuch", fx.src);
    assert_int_equal(cs_browse_lookup(b, &snap.tree, p, &ref, &n), -ENOENT);
    snprintf(p, sizeof(p), "%s/small/below", fx.src);
    assert_int_equal(cs_browse_lookup(b, &snap.tree, p, &ref, &n), -ENOTDIR);
    memset(p, 'x', sizeof(p) - 1);
    p[sizeof(p) - 1] = '\0';
    assert_int_equal(cs_browse_lookup(b, &snap.tree, p, &ref, &n), -ENAMETOOLONG);
    /* a node whose size does not match its chunks, one with an unknown chunk,
     * a directory: refused */
    n = node_of(b, "sub/random", &ref);
    bad = *n;
    bad.size = n->size + 1;
    assert_int_equal(cs_bfile_open(b, &bad, &f), -EBADMSG);
    bad.size = n->size - 1;
    assert_int_equal(cs_bfile_open(b, &bad, &f), -EBADMSG);
    cs_id ids[1];
    memset(ids, 0x5a, sizeof(ids));
    bad.content = ids;
    bad.ncontent = 1;
    assert_int_equal(cs_bfile_open(b, &bad, &f), -ENOENT);
    bad.type = CS_NODE_DIR;
    assert_int_equal(cs_bfile_open(b, &bad, &f), -EINVAL);
    cs_browse_put(b, ref);
    /* a tree id that is a data blob, or nothing: errors, no crash */
    n = node_of(b, "small", &ref);
    const cs_tree *t;
    cs_bref *tref;
    assert_int_equal(cs_browse_tree(b, &n->content[0], &tref, &t), -EBADMSG);
    assert_int_equal(cs_browse_tree(b, &ids[0], &tref, &t), -ENOENT);
    cs_browse_put(b, ref);
    cs_browse_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_reads_equal_the_source),
        cmocka_unit_test(test_caches_keep_their_bound_except_pinned),
        cmocka_unit_test(test_lookup_errors_and_damaged_nodes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
