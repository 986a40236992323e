/* SPDX-License-Identifier: MIT */
/* Unit tests of the index's entries grouped by pack (lib/repo/index_bypack.c),
 * which prune, check --read-data and repair index walk pack by pack: every
 * pack's view is the one the per-pack filter of the whole index gave (same
 * entries, same order), also for empty packs, the last pack, blobs listed
 * twice, overlapping offsets and index objects that name a pack twice; and
 * each operation groups the index once, however many packs it keeps. */
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
#include "repo/tree.h"
#include "repo_fixture.h"
#include "util/fileio.h"
#include "util/macros.h"

static repo_fixture fx;

/* The filter prune used before (index_of_pack): every entry of the index
 * whose pack is p, in claim order.  The reference the views must equal. */
static void filter_view(const cs_index *ix, uint32_t p, cs_index_pack_blobs *out)
{
    size_t n = 0;

    out->pack_id = ix->packs[p].id;
    out->size = ix->packs[p].size;
    out->blobs = calloc(ix->count + 1, sizeof(cs_pack_blob));
    assert_non_null(out->blobs);
    for (size_t i = 0; i < ix->count; i++) {
        const cs_ientry *e = cs_index_at(ix, i);
        if (e->pack == p)
            out->blobs[n++] = (cs_pack_blob){ e->type, e->id, e->offset, e->enc_len, e->raw_len };
    }
    out->n = (uint32_t)n;
}

static void assert_views_equal(const cs_index *ix)
{
    cs_index_bypack bp;
    size_t total = 0, located = 0;

    assert_int_equal(cs_index_bypack_build(ix, &bp), 0);
    assert_int_equal(bp.npacks, ix->npacks);
    for (uint32_t p = 0; p < ix->npacks; p++) {
        cs_index_pack_blobs want, got;
        filter_view(ix, p, &want);
        assert_int_equal(cs_index_pack_view(ix, &bp, p, &got), 0);
        assert_memory_equal(got.pack_id.b, want.pack_id.b, CS_ID_LEN);
        assert_int_equal(got.size, want.size);
        assert_int_equal(got.n, want.n);
        for (uint32_t k = 0; k < got.n; k++) {
            assert_int_equal(got.blobs[k].type, want.blobs[k].type);
            assert_memory_equal(got.blobs[k].id.b, want.blobs[k].id.b, CS_ID_LEN);
            assert_int_equal(got.blobs[k].offset, want.blobs[k].offset);
            assert_int_equal(got.blobs[k].enc_len, want.blobs[k].enc_len);
            assert_int_equal(got.blobs[k].raw_len, want.blobs[k].raw_len);
        }
        total += got.n;
        free(want.blobs);
        free(got.blobs);
    }
    for (size_t i = 0; i < ix->count; i++)
        located += cs_index_at(ix, i)->pack != CS_PACK_PENDING;
    assert_int_equal(total, located); /* every located entry in exactly one run */
    assert_int_equal(cs_index_bypack_count(&bp, (uint32_t)ix->npacks), 0); /* past the end: none */
    cs_index_bypack_free(&bp);
}

static cs_id id_of(uint32_t seed, uint32_t n)
{
    cs_id id;
    uint32_t in[2] = { seed, n };

    crypto_generichash(id.b, CS_ID_LEN, (const uint8_t *)in, sizeof(in), NULL, 0);
    return id;
}

/* Merge pack number pn (its id from pn) with n blobs: blob j is id (seed, j),
 * 100 bytes at offset step * j (step < 100: the blobs overlap). */
static void merge(cs_index *ix, uint32_t pn, uint32_t seed, uint32_t n, uint32_t step)
{
    cs_index_pack_blobs p = { id_of(0xFFFF, pn), 1 << 20, n, calloc(n + 1, sizeof(cs_pack_blob)) };

    assert_non_null(p.blobs);
    for (uint32_t j = 0; j < n; j++)
        p.blobs[j] = (cs_pack_blob){ j % 5 ? CS_BLOB_DATA : CS_BLOB_TREE, id_of(seed, j), step * j, 100, 50 };
    assert_int_equal(cs_index_merge_pack(ix, &p), 0);
    free(p.blobs);
}

/* Many packs of every size, in an order where a pack's entries are not
 * contiguous in claim order; the first and the last pack empty in one
 * round, full in the other. */
static void test_views_match_filter(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        cs_index ix;
        assert_int_equal(cs_index_init(&ix), 0);
        if (round == 0)
            merge(&ix, 0, 1000, 0, 100); /* the first pack empty */
        for (uint32_t p = round == 0; p < 300; p++)
            merge(&ix, p, p, p % 7 == 3 ? 0 : 1 + (p * 37) % 500, 100);
        /* an index object naming packs again (an interrupted prune): new
         * blobs join runs claimed long before */
        for (uint32_t p = 5; p < 300; p += 11)
            merge(&ix, p, 5000 + p, 13, 100);
        if (round == 0)
            merge(&ix, 300, 9999, 0, 100); /* the last pack empty */
        else
            merge(&ix, 300, 9999, 700, 100);
        assert_views_equal(&ix);
        cs_index_free(&ix);
    }
}

/* Hostile index objects: a blob listed by two packs (and twice by one)
 * keeps its first location, overlapping blobs, entries claimed but not
 * located (pending), entries in a pack added after the grouping. */
static void test_views_hostile(void **state)
{
    cs_index ix;
    cs_index_bypack bp;
    cs_ientry *e;
    cs_id id;
    uint32_t pidx;

    (void)state;
    assert_int_equal(cs_index_init(&ix), 0);
    merge(&ix, 0, 1, 50, 100);
    merge(&ix, 1, 1, 80, 30); /* blobs 0..49 again, elsewhere, overlapping */
    merge(&ix, 2, 2, 40, 0);  /* every blob at offset 0 */
    {
        cs_index_pack_blobs p = { id_of(0xFFFF, 3), 1 << 20, 4, calloc(4, sizeof(cs_pack_blob)) };
        assert_non_null(p.blobs);
        for (uint32_t j = 0; j < 4; j++) /* one blob listed four times in one pack */
            p.blobs[j] = (cs_pack_blob){ CS_BLOB_DATA, id_of(3, 0), 200 * j, 100, 50 };
        assert_int_equal(cs_index_merge_pack(&ix, &p), 0);
        free(p.blobs);
    }
    for (uint32_t j = 0; j < 10; j++) { /* pending: being written */
        id = id_of(4, j);
        assert_int_equal(cs_index_claim(&ix, &id, CS_BLOB_DATA, &e), 1);
    }
    id = id_of(1, 10);
    e = cs_index_find(&ix, &id);
    assert_non_null(e);
    assert_int_equal(e->pack, 0);
    e->pack = CS_PACK_PENDING; /* a blob being repacked */
    assert_views_equal(&ix);

    assert_int_equal(cs_index_bypack_build(&ix, &bp), 0);
    assert_int_equal(cs_index_bypack_count(&bp, 0), 49);
    assert_int_equal(cs_index_bypack_count(&bp, 1), 30);
    assert_int_equal(cs_index_bypack_count(&bp, 3), 1);
    /* a pack added after the grouping: none of its entries in any run */
    id = id_of(0xFFFF, 4);
    assert_int_equal(cs_index_add_pack(&ix, &id, 1 << 20, &pidx), 0);
    assert_int_equal(pidx, 4);
    id = id_of(4, 0);
    e = cs_index_find(&ix, &id);
    e->pack = pidx;
    assert_int_equal(cs_index_bypack_count(&bp, pidx), 0);
    assert_int_equal(cs_index_bypack_count(&bp, 0) + cs_index_bypack_count(&bp, 1) + cs_index_bypack_count(&bp, 2) +
                         cs_index_bypack_count(&bp, 3), 49 + 30 + 40 + 1);
    cs_index_bypack_free(&bp);
    assert_views_equal(&ix);
    cs_index_free(&ix);
}

static void write_random(const char *rel, size_t len)
{
    uint8_t *data = malloc(len);

    assert_non_null(data);
    randombytes_buf(data, len);
    repo_fixture_write(&fx, rel, data, len);
    free(data);
}

static void backup(cs_repo *r, cs_snapshot *s)
{
    const char *paths[] = { fx.src };
    cs_backup_opts o = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };

    assert_int_equal(cs_backup(r, &o, s), 0);
}

/* A prune that keeps K - 1 packs groups the index once (the filter walked it
 * once per kept pack), and so does a check that reads them all; what prune
 * wrote for the kept packs locates every blob (the check reads each). */
static void test_prune_and_check_group_once(void **state)
{
    enum { K = 6 };
    cs_snapshot s[K + 1];
    cs_prune_result pr;
    cs_check_opts co = { .read_data_percent = 100 };
    cs_check_result cr;
    unsigned long before;
    char name[400];
    cs_repo *r;

    (void)state;
    repo_fixture_open(&fx, &r);
    /* each backup a data pack of its own, big enough to be kept as it is;
     * the last one's goes with its snapshot */
    for (int i = 0; i < K; i++) {
        snprintf(name, sizeof(name), "sub/f%d", i);
        write_random(name, 600 << 10);
        backup(r, &s[i]);
    }
    snprintf(name, sizeof(name), "%s/sub/f%d", fx.src, K - 1);
    assert_int_equal(unlink(name), 0);
    backup(r, &s[K]);
    assert_int_equal(cs_snapshot_delete(r, &s[K - 1].id), 0);
    before = cs_index_bypack_builds;
    assert_int_equal(cs_prune(r, NULL, &pr), 0);
    assert_true(pr.packs_deleted >= 1);
    assert_true(pr.packs_kept >= K - 1);
    assert_int_equal(cs_index_bypack_builds - before, 1);
    cs_repo_close(r);

    repo_fixture_open(&fx, &r);
    before = cs_index_bypack_builds;
    assert_int_equal(cs_check(r, &co, &cr), 0);
    assert_true(cr.packs_read >= K - 1);
    assert_int_equal(cs_index_bypack_builds - before, 1);
    co.read_data_percent = 0; /* reads no pack: needs no grouping */
    before = cs_index_bypack_builds;
    assert_int_equal(cs_check(r, &co, &cr), 0);
    assert_int_equal(cs_index_bypack_builds - before, 0);
    for (int i = 0; i < K + 1; i++)
        cs_snapshot_clear(&s[i]);
    cs_repo_close(r);
}

static int corrupt_header(const char *key, const cs_object_stat *os, void *ud)
{
    char p[1400];
    uint8_t byte;
    int fd;

    if (os->size < 500 << 10)
        return 0; /* the data packs */
    snprintf(p, sizeof(p), "%s/storage/%s", fx.tmp, key);
    fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, os->size - 20), 1); /* in the sealed header */
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, os->size - 20), 1);
    close(fd);
    return ++*(int *)ud >= 3; /* three of them */
}

/* repair index salvages every pack whose header is damaged from one
 * grouping of the old index (it filtered the index once per pack), and a
 * check then reads every blob. */
static void test_repair_salvage_groups_once(void **state)
{
    cs_repair_index_result res;
    cs_check_opts co = { .read_data_percent = 100 };
    cs_check_result cr;
    unsigned long before;
    int n = 0;
    cs_repo *r;

    (void)state;
    assert_int_equal(cs_storage_list(fx.st, REPO_FIXTURE_PREFIX "data/", corrupt_header, &n), 1);
    assert_int_equal(n, 3);
    repo_fixture_open(&fx, &r);
    before = cs_index_bypack_builds;
    assert_int_equal(cs_repair_index(r, &res), 0);
    assert_int_equal(res.damaged_packs, 3);
    assert_int_equal(res.damaged_blobs, 0);
    assert_int_equal(cs_index_bypack_builds - before, 1);
    cs_repo_close(r);
    repo_fixture_open(&fx, &r);
    assert_int_equal(cs_check(r, &co, &cr), 0);
    cs_repo_close(r);
}

static void write_in(const char *dir, const char *rel, const void *data, size_t len)
{
    char p[700];
    int fd;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(cs_write_all(fd, data, len), 0);
    close(fd);
}

static int delete_data_pack(const char *key, const cs_object_stat *os, void *ud)
{
    (void)ud;
    if (os->size < 500 << 10)
        return 0; /* the victim's pack: the only big one */
    assert_int_equal(cs_storage_del(fx.st, key), 0);
    return 1;
}

/* repair snapshots reads a tree the snapshots share once (it walked each
 * snapshot's whole tree): K snapshots sharing dir/ and its D directories,
 * the last one losing a file, read the D + 1 shared trees and a few of
 * each snapshot's own, not K x (D + 1); the others are left as they are. */
static void test_repair_snapshots_reads_shared_trees_once(void **state)
{
    enum { K = 5, D = 20 };
    char top[400], dir[450], rel[64];
    const char *paths[] = { top };
    cs_backup_opts bo = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };
    cs_repair_index_result ri;
    cs_repair_snapshots_result rs;
    cs_snapshot s[K];
    uint8_t *big = malloc(600 << 10);
    cs_repo *r;

    (void)state;
    assert_non_null(big);
    randombytes_buf(big, 600 << 10);
    snprintf(top, sizeof(top), "%s/rs", fx.tmp);
    snprintf(dir, sizeof(dir), "%s/dir", top);
    assert_int_equal(mkdir(top, 0755), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int d = 0; d < D; d++) {
        char sub[500];
        snprintf(sub, sizeof(sub), "%s/d%d", dir, d);
        assert_int_equal(mkdir(sub, 0755), 0);
        write_in(sub, "f", sub, strlen(sub));
    }
    assert_int_equal(cs_repo_init(fx.st, "users/rs/backup/", fx.amk), 0);
    assert_int_equal(cs_repo_open(fx.st, "users/rs/backup/", fx.amk, &r), 0);
    for (int i = 0; i < K; i++) {
        snprintf(rel, sizeof(rel), "top%d", i); /* each snapshot's own top directory */
        write_in(top, rel, rel, strlen(rel));
        if (i == K - 1)
            write_in(top, "victim", big, 600 << 10);
        assert_int_equal(cs_backup(r, &bo, &s[i]), 0);
    }
    assert_int_equal(cs_storage_list(fx.st, "users/rs/backup/data/", delete_data_pack, NULL), 1);
    assert_int_equal(cs_repair_index(r, &ri), 0);
    assert_int_equal(cs_repair_snapshots(r, false, false, &rs), 0);
    assert_int_equal(rs.snapshots, K);
    assert_int_equal(rs.nrepaired, 1);
    assert_memory_equal(rs.repaired[0].old_id.b, s[K - 1].id.b, CS_ID_LEN);
    assert_int_equal(rs.repaired[0].lost, 2); /* victim and top4, in its pack */
    assert_true(rs.trees >= D + 1 + K);
    assert_true(rs.trees <= D + 1 + K * 8); /* the walk of every snapshot: >= K x (D + 1) */
    for (int i = 0; i < K; i++)
        cs_snapshot_clear(&s[i]);
    cs_repair_snapshots_result_free(&rs);
    cs_repo_close(r);
    free(big);
}

/* check names a blob its snapshots need and the index lacks by the path of
 * the file that needs it, under each snapshot (mark_tree builds the path
 * in one buffer, cut back after each name). */
/* Run cs_check(r) with its stderr in fx.tmp/NAME, expecting -EBADMSG, and
 * read what it wrote into out (NUL-terminated). */
static void check_capturing_stderr(cs_repo *r, const char *name, cs_check_result *cr, cs_buf *out)
{
    char log[450];
    int fd, saved;

    snprintf(log, sizeof(log), "%s/%s", fx.tmp, name);
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    saved = dup(2);
    assert_int_equal(dup2(fd, 2), 2);
    assert_int_equal(cs_check(r, NULL, cr), -EBADMSG);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    close(fd);
    assert_int_equal(cs_read_file(log, 1 << 20, out), 0);
    assert_int_equal(cs_buf_append(out, "", 1), 0);
}

static void test_check_names_the_path_of_a_lost_blob(void **state)
{
    /* below the chunker's minimum, so one blob whatever the gear table (at
     * 600 KiB a cut past 512 KiB made two now and then, and two errors);
     * above delete_data_pack's 500 KiB, so its pack is the one deleted */
    enum { BIG = 510 << 10 };
    char top[400], dir[500], want[1200], hex[65];
    const char *paths[] = { top };
    cs_backup_opts bo = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };
    cs_repair_index_result ri;
    cs_check_result cr;
    cs_buf out = CS_BUF_INIT;
    uint8_t *big = malloc(BIG);
    cs_snapshot s;
    cs_repo *r;

    (void)state;
    assert_non_null(big);
    randombytes_buf(big, BIG);
    snprintf(top, sizeof(top), "%s/msg", fx.tmp);
    assert_int_equal(mkdir(top, 0755), 0);
    snprintf(dir, sizeof(dir), "%s/a", top);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_in(dir, "small", "x", 1);
    assert_int_equal(cs_repo_init(fx.st, "users/msg/backup/", fx.amk), 0);
    assert_int_equal(cs_repo_open(fx.st, "users/msg/backup/", fx.amk, &r), 0);
    assert_int_equal(cs_backup(r, &bo, &s), 0); /* small in a pack of its own */
    cs_snapshot_clear(&s);
    snprintf(dir, sizeof(dir), "%s/b", top);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_in(dir, "big", big, BIG);
    assert_int_equal(cs_backup(r, &bo, &s), 0);
    assert_int_equal(cs_storage_list(fx.st, "users/msg/backup/data/", delete_data_pack, NULL), 1);
    assert_int_equal(cs_repair_index(r, &ri), 0); /* the index forgets the pack's blobs */

    check_capturing_stderr(r, "check.log", &cr, &out);
    cs_id_hex(&s.id, hex);
    snprintf(want, sizeof(want), "snapshot %.8s:%s/b/big: data blob ", hex, top);
    assert_non_null(strstr((const char *)out.data, want));
    snprintf(want, sizeof(want), "snapshot %.8s:%s/a/small: data blob ", hex, top);
    assert_null(strstr((const char *)out.data, want));
    assert_int_equal(cr.errors, 1);
    cs_buf_free(&out);
    cs_snapshot_clear(&s);
    cs_repo_close(r);
    free(big);
}

/* The id of the tree of directory path (absolute) in a snapshot. */
static cs_id tree_of(cs_repo *r, const cs_snapshot *s, const char *path)
{
    _cleanup_free_ char *p = strdup(path);
    cs_id id = s->tree;
    char *save = NULL;

    assert_non_null(p);
    for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        cs_tree t;
        bool found = false;
        assert_int_equal(cs_tree_load(r, &id, &t), 0);
        for (size_t i = 0; i < t.n && !found; i++)
            if (t.nodes[i].name_len == strlen(c) && memcmp(t.nodes[i].name, c, t.nodes[i].name_len) == 0) {
                id = t.nodes[i].subtree;
                found = true;
            }
        cs_tree_free(&t);
        assert_true(found);
    }
    return id;
}

/* A tree damaged in its pack, between two good ones read in the same run:
 * check names it by its directory's path (as when trees were read one by
 * one) and reads the others. */
static void test_check_names_a_damaged_tree(void **state)
{
    char top[400], dir[500], want[1200], hex[65], thex[65], pack[900], phex[65];
    const char *paths[] = { top };
    cs_backup_opts bo = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };
    cs_check_result cr;
    cs_buf out = CS_BUF_INIT;
    const cs_ientry *e;
    cs_snapshot s;
    cs_id victim;
    cs_repo *r;
    uint8_t byte;
    int fd;

    (void)state;
    snprintf(top, sizeof(top), "%s/dt", fx.tmp);
    assert_int_equal(mkdir(top, 0755), 0);
    for (const char *c = "abc"; *c; c++) {
        snprintf(dir, sizeof(dir), "%s/%c", top, *c);
        assert_int_equal(mkdir(dir, 0755), 0);
        write_in(dir, "f", c, 1);
    }
    assert_int_equal(cs_repo_init(fx.st, "users/dt/backup/", fx.amk), 0);
    assert_int_equal(cs_repo_open(fx.st, "users/dt/backup/", fx.amk, &r), 0);
    assert_int_equal(cs_backup(r, &bo, &s), 0);
    snprintf(dir, sizeof(dir), "%s/b", top);
    victim = tree_of(r, &s, dir);
    assert_non_null(e = cs_index_find(&r->index, &victim));
    cs_id_hex(&r->index.packs[e->pack].id, phex);
    snprintf(pack, sizeof(pack), "%s/storage/users/dt/backup/data/%.2s/%s", fx.tmp, phex, phex);
    fd = open(pack, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, e->offset + e->enc_len / 2), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, e->offset + e->enc_len / 2), 1);
    close(fd);

    check_capturing_stderr(r, "check-dt.log", &cr, &out);
    cs_id_hex(&s.id, hex);
    cs_id_hex(&victim, thex);
    snprintf(want, sizeof(want), "snapshot %.8s:%s/b: tree blob %s is damaged\n", hex, top, thex);
    assert_non_null(strstr((const char *)out.data, want));
    assert_int_equal(cr.errors, 1); /* a and c read, their files found */
    cs_buf_free(&out);
    cs_snapshot_clear(&s);
    cs_repo_close(r);
}

/* A storage that counts the reads it passes on to the fixture's. */
typedef struct counting {
    cs_storage base;
    unsigned long gets;
} counting;
static counting cst;

static int cget(cs_storage *s, const char *key, uint64_t off, uint64_t len, size_t max, cs_buf *out)
{
    ((counting *)s)->gets++;
    return cs_storage_get(fx.st, key, off, len, max, out);
}
static int cget_if(cs_storage *s, const char *key, const char *inm, size_t max, cs_buf *out, char etag[80])
{
    ((counting *)s)->gets++;
    return fx.st->ops->get_if_changed(fx.st, key, inm, max, out, etag);
}
static int cput(cs_storage *s, const char *key, const void *data, size_t len, int flags)
{
    (void)s;
    return cs_storage_put(fx.st, key, data, len, flags);
}
static int cdel(cs_storage *s, const char *key)
{
    (void)s;
    return cs_storage_del(fx.st, key);
}
static int cstat(cs_storage *s, const char *key, cs_object_stat *st)
{
    (void)s;
    return fx.st->ops->stat(fx.st, key, st);
}
static int clist(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *ud)
{
    (void)s;
    return cs_storage_list(fx.st, prefix, cb, ud);
}
static int clist_partial(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *ud)
{
    (void)s;
    return fx.st->ops->list_partial ? fx.st->ops->list_partial(fx.st, prefix, cb, ud) : 0;
}
static const struct cs_storage_ops counting_ops = {
    .scheme = "counting", .get = cget, .get_if_changed = cget_if, .put = cput, .del = cdel,
    .stat = cstat, .list = clist, .list_partial = clist_partial,
};

/* prune reads the blobs it keeps of a pack it rewrites in runs of blobs
 * that follow each other (it read them one at a time: on S3 a request
 * each): 150 files kept of 300 in one pack cost a few reads, not 150. */
static void test_repack_reads_runs_not_blobs(void **state)
{
    enum { N = 300 };
    char top[400], name[32], path[500];
    const char *paths[] = { top };
    cs_backup_opts bo = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };
    cs_prune_result pr;
    cs_check_opts co = { .read_data_percent = 100 };
    cs_check_result cr;
    cs_snapshot s1, s2;
    uint8_t data[2048];
    unsigned long before;
    cs_repo *r;

    (void)state;
    cst.base.ops = &counting_ops;
    snprintf(top, sizeof(top), "%s/runs", fx.tmp);
    assert_int_equal(mkdir(top, 0755), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "a%03d", i);
        randombytes_buf(data, sizeof(data));
        write_in(top, name, data, sizeof(data));
    }
    assert_int_equal(cs_repo_init(&cst.base, "users/runs/backup/", fx.amk), 0);
    assert_int_equal(cs_repo_open(&cst.base, "users/runs/backup/", fx.amk, &r), 0);
    assert_int_equal(cs_backup(r, &bo, &s1), 0);
    for (int i = N / 2; i < N; i++) {
        snprintf(path, sizeof(path), "%s/a%03d", top, i);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(cs_backup(r, &bo, &s2), 0);
    assert_int_equal(cs_snapshot_delete(r, &s1.id), 0);
    before = cst.gets;
    assert_int_equal(cs_prune(r, NULL, &pr), 0);
    assert_true(pr.blobs_removed >= N / 2); /* and snapshot 1's trees */
    assert_true(pr.packs_rewritten >= 1);
    assert_true(pr.blobs_kept >= N / 2);
    print_message("prune: %lu reads\n", cst.gets - before);
    assert_true(cst.gets - before < 30);
    cs_repo_close(r);
    assert_int_equal(cs_repo_open(&cst.base, "users/runs/backup/", fx.amk, &r), 0);
    assert_int_equal(cs_check(r, &co, &cr), 0); /* every copied blob reads back */
    cs_snapshot_clear(&s1);
    cs_snapshot_clear(&s2);
    cs_repo_close(r);
}

/* check and prune read the trees they walk level by level, pack by pack,
 * in runs (one ranged read a tree was a request each on S3: 16 753 for a
 * million files): 120 directories cost a few reads, not 121. */
static void test_walk_reads_trees_by_pack(void **state)
{
    enum { N = 120 };
    char top[400], dir[500];
    const char *paths[] = { top };
    cs_backup_opts bo = { .paths = paths, .npaths = 1, .cache_dir = fx.cache };
    cs_check_opts co = { 0 };
    cs_check_result cr;
    cs_prune_result pr;
    cs_snapshot s1;
    uint8_t data[64];
    unsigned long before;
    cs_repo *r;

    (void)state;
    cst.base.ops = &counting_ops;
    snprintf(top, sizeof(top), "%s/walk", fx.tmp);
    assert_int_equal(mkdir(top, 0755), 0);
    for (int i = 0; i < N; i++) {
        snprintf(dir, sizeof(dir), "%s/d%03d", top, i);
        assert_int_equal(mkdir(dir, 0755), 0);
        randombytes_buf(data, sizeof(data));
        write_in(dir, "f", data, sizeof(data));
    }
    assert_int_equal(cs_repo_init(&cst.base, "users/walk/backup/", fx.amk), 0);
    assert_int_equal(cs_repo_open(&cst.base, "users/walk/backup/", fx.amk, &r), 0);
    assert_int_equal(cs_backup(r, &bo, &s1), 0);
    before = cst.gets;
    assert_int_equal(cs_check(r, &co, &cr), 0);
    assert_int_equal(cr.errors, 0);
    print_message("check: %lu reads\n", cst.gets - before);
    assert_true(cst.gets - before < 20);
    before = cst.gets;
    assert_int_equal(cs_prune(r, NULL, &pr), 0);
    assert_int_equal(pr.blobs_removed, 0);
    print_message("prune: %lu reads\n", cst.gets - before);
    assert_true(cst.gets - before < 20);
    cs_snapshot_clear(&s1);
    cs_repo_close(r);
}

static int setup(void **state)
{
    (void)state;
    repo_fixture_setup(&fx, "maintain");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return repo_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views_match_filter),
        cmocka_unit_test(test_views_hostile),
        cmocka_unit_test(test_prune_and_check_group_once),
        cmocka_unit_test(test_repair_salvage_groups_once),
        cmocka_unit_test(test_repair_snapshots_reads_shared_trees_once),
        cmocka_unit_test(test_check_names_the_path_of_a_lost_blob),
        cmocka_unit_test(test_repack_reads_runs_not_blobs),
        cmocka_unit_test(test_walk_reads_trees_by_pack),
        cmocka_unit_test(test_check_names_a_damaged_tree),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
