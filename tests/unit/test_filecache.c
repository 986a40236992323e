/* SPDX-License-Identifier: MIT */
/* Unit tests of the file-change cache, version 3 (lib/repo/filecache.c,
 * docs/repository.md "The file-change cache"): the walk's order, a round
 * trip across many segments, unseen entries carried and aged, no rewrite
 * when nothing changed, and truncated, oversized, reordered, spliced and
 * tampered files: never a wrong hit, at worst files read again. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "repo/filecache.h"
#include "repo/repo_int.h"
#include "util/bytes.h"
#include "util/fileio.h"
#include "util/secmem.h"

static const uint8_t key[32] = { 11, 22, 33 };
static cs_id repo_id = { { 0x5e } };
static char dir[64], path[96];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(cs_crypto_init(), 0);
    strcpy(dir, "/tmp/test_filecache.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/files", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static int reset(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

/* File i of a directory: its stat and id follow from (d, i, gen). */
static struct stat st_of(int d, int i, int gen)
{
    struct stat st = { .st_ino = (ino_t)(d * 100000 + i), .st_size = i * 7 + gen };

    st.st_mtim = (struct timespec){ 1700000000 + i, (long)d };
    st.st_ctim = (struct timespec){ 1700000000 + i, 5 };
    return st;
}

static cs_id id_of(int d, int i, int gen)
{
    cs_id id;

    memset(id.b, 0, sizeof(id.b));
    id.b[0] = (uint8_t)d;
    id.b[1] = (uint8_t)i;
    id.b[2] = (uint8_t)(i >> 8);
    id.b[3] = (uint8_t)gen;
    return id;
}

/* Directories in the walk's order: subdirectories before their parent. */
static const char *const dirs[] = { "/home/u/a/deep", "/home/u/a", "/home/u/b", "/home/u", "" };
#define NDIRS 5
#define NFILES 1500 /* ~100 bytes each: several 64 KiB segments per directory */

static void name_of(int i, char out[16])
{
    snprintf(out, 16, "f%05d", i);
}

/* One backup: every directory in mask visited, every file put (gen: its version). */
static void run(unsigned mask, int gen, int expect_hits)
{
    cs_fcache *c;
    int hits = 0;

    assert_int_equal(cs_fcache_open(key, &repo_id, path, &c), 0);
    for (int d = 0; d < NDIRS; d++) {
        cs_fcache_dir *fd;
        if (!(mask & (1u << d)))
            continue;
        assert_non_null(fd = cs_fcache_dir_open(c, dirs[d]));
        for (int i = 0; i < NFILES; i++) {
            char name[16];
            struct stat st = st_of(d, i, gen);
            const cs_id *ids;
            uint32_t n;
            bool nox;
            cs_id id = id_of(d, i, gen);
            name_of(i, name);
            int hit = cs_fcache_dir_lookup(fd, name, &st, &ids, &n, &nox);
            if (hit == 1) {
                assert_int_equal(n, 1);
                assert_memory_equal(ids, &id, sizeof(id)); /* never a wrong hit */
                assert_int_equal(nox, i % 2);
                hits++;
            }
            assert_int_equal(cs_fcache_dir_put(fd, name, &st, &id, 1, i % 2), 0);
        }
        assert_int_equal(cs_fcache_dir_close(fd), 0);
    }
    assert_int_equal(cs_fcache_save(c), 0);
    cs_fcache_free(c);
    if (expect_hits >= 0)
        assert_int_equal(hits, expect_hits);
}

/* Hits when every directory is looked up, nothing saved. */
static int count_hits(int gen)
{
    cs_fcache *c;
    int hits = 0;

    assert_int_equal(cs_fcache_open(key, &repo_id, path, &c), 0);
    for (int d = 0; d < NDIRS; d++) {
        cs_fcache_dir *fd = cs_fcache_dir_open(c, dirs[d]);
        assert_non_null(fd);
        for (int i = 0; i < NFILES; i++) {
            char name[16];
            struct stat st = st_of(d, i, gen);
            cs_id id = id_of(d, i, gen);
            const cs_id *ids;
            uint32_t n;
            bool nox;
            name_of(i, name);
            if (cs_fcache_dir_lookup(fd, name, &st, &ids, &n, &nox) == 1) {
                assert_memory_equal(ids, &id, sizeof(id));
                hits++;
            }
        }
        cs_fcache_dir_free(fd);
    }
    cs_fcache_free(c);
    return hits;
}

static void test_walk_order(void **state)
{
    static const char *const sorted[] = { "/a/b/c", "/a/b", "/a/b!", "/a/b0", "/a", "/a!", "/ab", "" };

    (void)state;
    for (size_t i = 0; i < sizeof(sorted) / sizeof(*sorted); i++)
        for (size_t j = 0; j < sizeof(sorted) / sizeof(*sorted); j++) {
            int k = cs_fcache_dir_cmp(sorted[i], strlen(sorted[i]), sorted[j], strlen(sorted[j]));
            assert_true(i < j ? k < 0 : i > j ? k > 0 : k == 0);
        }
    for (int d = 1; d < NDIRS; d++)
        assert_true(cs_fcache_dir_cmp(dirs[d - 1], strlen(dirs[d - 1]), dirs[d], strlen(dirs[d])) < 0);
}

static void test_roundtrip_and_no_rewrite(void **state)
{
    struct stat a, b;
    cs_buf before = CS_BUF_INIT, after = CS_BUF_INIT;

    (void)state;
    run(0x1f, 0, 0);
    assert_int_equal(count_hits(0), NDIRS * NFILES);
    assert_int_equal(count_hits(1), 0); /* every stat changed: known but changed */
    assert_int_equal(stat(path, &a), 0);
    assert_true(a.st_size > 5 * (64 << 10)); /* several segments */
    assert_int_equal(cs_read_file(path, 64 << 20, &before), 0);
    run(0x1f, 0, NDIRS * NFILES); /* nothing changed: not written */
    assert_int_equal(stat(path, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_int_equal(cs_read_file(path, 64 << 20, &after), 0);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    assert_int_equal(b.st_mode & 07777, 0600);
    /* one directory changed: written again, the others still hit */
    run(0x1f & ~(1u << 2), 0, 4 * NFILES);
    run(1u << 2, 1, 0);
    cs_buf_reset(&after);
    assert_int_equal(cs_read_file(path, 64 << 20, &after), 0);
    assert_true(after.len != before.len || memcmp(after.data, before.data, before.len) != 0);
    assert_int_equal(count_hits(0), 4 * NFILES);
    cs_buf_free(&before);
    cs_buf_free(&after);
}

static void test_unseen_carried_then_forgotten(void **state)
{
    (void)state;
    run(0x1f, 0, 0);
    /* only /home/u/b for 10 backups: the others are carried, aging */
    for (int k = 0; k < 10; k++)
        run(1u << 2, 0, NFILES);
    assert_int_equal(count_hits(0), NDIRS * NFILES);
    run(1u << 2, 0, NFILES); /* the 11th: forgotten */
    assert_int_equal(count_hits(0), NFILES);
    /* seen again: kept again */
    run(0x1f, 0, NFILES);
    assert_int_equal(count_hits(0), NDIRS * NFILES);
}

/* ------------------------------------------------------- damaged files */

typedef struct seg {
    size_t off, len; /* the whole segment: header, nonce, ciphertext */
} seg;

static size_t segments(const cs_buf *f, seg *v, size_t max)
{
    size_t n = 0;

    for (size_t off = 24; off + 5 <= f->len && n < max; n++) {
        v[n].off = off;
        v[n].len = 5 + cs_load_le32(f->data + off);
        off += v[n].len;
    }
    return n;
}

static void write_raw(const uint8_t *p, size_t len)
{
    assert_int_equal(cs_write_file_atomic(path, p, len, 0600), 0);
}

static void test_damaged_never_trusted(void **state)
{
    cs_buf f = CS_BUF_INIT, g = CS_BUF_INIT;
    seg v[256];
    size_t n, total = NDIRS * NFILES;
    int hits;

    (void)state;
    run(0x1f, 0, 0);
    assert_int_equal(cs_read_file(path, 64 << 20, &f), 0);
    n = segments(&f, v, 256);
    assert_true(n > 6);
    assert_int_equal(v[n - 1].off + v[n - 1].len, f.len);

    /* a flipped byte in segment 3: the entries before it only */
    f.data[v[3].off + v[3].len / 2] ^= 1;
    write_raw(f.data, f.len);
    hits = count_hits(0);
    assert_true(hits > 0 && (size_t)hits < total);
    f.data[v[3].off + v[3].len / 2] ^= 1;

    /* truncated: without its last segment, or inside one */
    write_raw(f.data, v[n - 1].off);
    assert_true((size_t)count_hits(0) < total);
    write_raw(f.data, v[2].off + 10);
    assert_true(count_hits(0) > 0 && (size_t)count_hits(0) < total);

    /* its final flag flipped: refused */
    f.data[v[n - 1].off + 4] ^= 1;
    write_raw(f.data, f.len);
    assert_true((size_t)count_hits(0) < total);
    f.data[v[n - 1].off + 4] ^= 1;

    /* two segments swapped */
    cs_buf_reset(&g);
    cs_buf_append(&g, f.data, v[1].off);
    cs_buf_append(&g, f.data + v[2].off, v[2].len);
    cs_buf_append(&g, f.data + v[1].off, v[1].len);
    cs_buf_append(&g, f.data + v[3].off, f.len - v[3].off);
    write_raw(g.data, g.len);
    hits = count_hits(0);
    assert_true(hits > 0 && (size_t)hits < total);

    /* a segment length past the bound: refused, not allocated */
    cs_buf_reset(&g);
    cs_buf_append(&g, f.data, f.len);
    g.data[v[1].off + 3] = 0x7f;
    write_raw(g.data, g.len);
    assert_true((size_t)count_hits(0) < total);

    /* a segment spliced from another file of the same key (another file id) */
    write_raw(f.data, f.len);
    run(0x1f, 1, 0); /* rewritten: new file id, same layout */
    cs_buf_reset(&g);
    assert_int_equal(cs_read_file(path, 64 << 20, &g), 0);
    memcpy(g.data + v[2].off, f.data + v[2].off, v[2].len < g.len - v[2].off ? v[2].len : g.len - v[2].off);
    write_raw(g.data, g.len);
    assert_true(count_hits(1) < (int)total);
    assert_int_equal(count_hits(0), 0);

    /* another repository's cache: nothing */
    write_raw(f.data, f.len);
    repo_id.b[0] ^= 1;
    assert_int_equal(count_hits(0), 0);
    repo_id.b[0] ^= 1;

    /* a version to come: ignored whole, and replaced by ours */
    f.data[4] = 4;
    write_raw(f.data, f.len);
    assert_int_equal(count_hits(0), 0);
    run(0x1f, 0, 0);
    assert_int_equal(count_hits(0), (int)total);
    cs_buf_free(&f);
    cs_buf_free(&g);
}

/* Hostile plaintext, sealed as the format says: a file of one final
 * segment holding pt. */
static void write_sealed(const uint8_t *pt, size_t len)
{
    uint8_t ad[57], h[24], *ct = malloc(len + 64);
    unsigned long long clen;
    cs_buf f = CS_BUF_INIT;

    assert_non_null(ct);
    memcpy(h, "CSFC\3\0\0\0", 8);
    memset(h + 8, 0xab, 16);
    memcpy(ad, "CSF3", 4);
    memcpy(ad + 4, repo_id.b, 32);
    memcpy(ad + 36, h + 8, 16);
    memset(ad + 52, 0, 4);
    ad[56] = 1;
    randombytes_buf(ct + 5, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct + 29, &clen, pt, len, ad, sizeof(ad), NULL, ct + 5, key);
    ct[0] = (uint8_t)(24 + clen);
    ct[1] = (uint8_t)((24 + clen) >> 8);
    ct[2] = (uint8_t)((24 + clen) >> 16);
    ct[3] = 0;
    ct[4] = 1;
    cs_buf_append(&f, h, sizeof(h));
    cs_buf_append(&f, ct, 29 + (size_t)clen);
    write_raw(f.data, f.len);
    cs_buf_free(&f);
    free(ct);
}

/* An entry of the plaintext: dir (NULL: the same as before), name, n ids. */
static void put_entry(cs_buf *b, const char *d, const char *name, uint32_t n, uint32_t mns)
{
    struct stat st = st_of(0, 1, 0);

    cs_put_u8(b, d ? 1 : 0);
    if (d) {
        cs_put_le16(b, (uint16_t)strlen(d));
        cs_buf_append(b, d, strlen(d));
    }
    cs_put_le16(b, (uint16_t)strlen(name));
    cs_buf_append(b, name, strlen(name));
    cs_put_le64(b, (uint64_t)st.st_ino);
    cs_put_le64(b, (uint64_t)st.st_size);
    cs_put_le64(b, (uint64_t)st.st_mtim.tv_sec);
    cs_put_le32(b, mns);
    cs_put_le64(b, (uint64_t)st.st_ctim.tv_sec);
    cs_put_le32(b, (uint32_t)st.st_ctim.tv_nsec);
    cs_put_le16(b, 0);
    cs_put_u8(b, 0);
    cs_put_le32(b, n);
    for (uint32_t i = 0; i < n && i < 4; i++) {
        cs_id id = id_of(0, 1, 0);
        cs_buf_append(b, id.b, sizeof(id.b));
    }
}

/* Lookups of /d/x and /d/y (as st_of(0, 1, 0)): how many hit. */
static int hits_xy(void)
{
    struct stat st = st_of(0, 1, 0);
    const cs_id *ids;
    uint32_t n;
    bool nox;
    int hits = 0;
    cs_fcache *c;
    cs_fcache_dir *d;

    assert_int_equal(cs_fcache_open(key, &repo_id, path, &c), 0);
    d = cs_fcache_dir_open(c, "/d");
    hits += cs_fcache_dir_lookup(d, "x", &st, &ids, &n, &nox) == 1;
    hits += cs_fcache_dir_lookup(d, "y", &st, &ids, &n, &nox) == 1;
    cs_fcache_dir_free(d);
    assert_int_equal(cs_fcache_save(c), 0); /* carries what it read, drops the rest */
    cs_fcache_free(c);
    return hits;
}

static void test_hostile_entries(void **state)
{
    cs_buf b = CS_BUF_INIT;

    (void)state;
#define CASE(expect, ...)                                                                                  \
    do {                                                                                                   \
        cs_buf_reset(&b);                                                                                  \
        __VA_ARGS__;                                                                                       \
        write_sealed(b.data, b.len);                                                                       \
        assert_int_equal(hits_xy(), expect);                                                               \
    } while (0)
    CASE(2, put_entry(&b, "/d", "x", 1, 0); put_entry(&b, NULL, "y", 1, 0));
    CASE(2, put_entry(&b, "/d", "x", 1, 0); put_entry(&b, "/d", "y", 1, 0));
    CASE(1, put_entry(&b, "/d", "x", 1, 0); put_entry(&b, NULL, "x", 1, 0));  /* a name twice */
    CASE(1, put_entry(&b, "/d", "y", 1, 0); put_entry(&b, NULL, "x", 1, 0));  /* names out of order */
    CASE(1, put_entry(&b, "/d", "x", 1, 0); put_entry(&b, "/d/e", "y", 1, 0);
         put_entry(&b, "/d", "y", 1, 0));                                      /* directories out of order */
    CASE(0, put_entry(&b, NULL, "x", 1, 0));                                   /* no directory yet */
    CASE(0, put_entry(&b, "/d", "x/y", 1, 0));                                 /* a '/' in a name */
    CASE(0, put_entry(&b, "/d", "", 1, 0));                                    /* an empty name */
    CASE(0, put_entry(&b, "/d", "x", 1, 1000000000));                          /* nanoseconds past a second */
    CASE(0, put_entry(&b, "/d", "x", 1000000, 0));                             /* more ids than bytes */
    CASE(0, put_entry(&b, "/d", "x", 1, 0); b.len--);                          /* truncated */
    CASE(0, cs_put_u8(&b, 2); put_entry(&b, "/d", "x", 1, 0));                 /* an unknown kind */
    CASE(1, put_entry(&b, "/d", "x", 1, 0); cs_put_u8(&b, 1));                 /* trailing garbage */
    cs_buf_free(&b);
}

/* A version 2 cache (one sealed image, entries keyed by a keyed BLAKE2b of
 * the path) of /d/p and /d/q as st_of(0, 1, 0) with id_of(0, 1, 0). */
static void write_v2(void)
{
    cs_buf pt = CS_BUF_INIT, ct = CS_BUF_INIT;
    struct stat st = st_of(0, 1, 0);
    cs_id id = id_of(0, 1, 0);

    cs_put_le32(&pt, 2);
    cs_put_le32(&pt, 2);
    for (const char *p = "/d/p"; p; p = p[3] == 'p' ? "/d/q" : NULL) {
        uint8_t k[16];
        crypto_generichash(k, 16, (const uint8_t *)p, strlen(p), key, 32);
        cs_buf_append(&pt, k, 16);
        cs_put_le64(&pt, (uint64_t)st.st_ino);
        cs_put_le64(&pt, (uint64_t)st.st_size);
        cs_put_le64(&pt, (uint64_t)st.st_mtim.tv_sec);
        cs_put_le32(&pt, (uint32_t)st.st_mtim.tv_nsec);
        cs_put_le64(&pt, (uint64_t)st.st_ctim.tv_sec);
        cs_put_le32(&pt, (uint32_t)st.st_ctim.tv_nsec);
        cs_put_le16(&pt, 0);
        cs_put_u8(&pt, 1);
        cs_put_le32(&pt, 1);
        cs_buf_append(&pt, id.b, sizeof(id.b));
    }
    assert_int_equal(cs_seal(key, CS_OBJ_CACHE, &repo_id, pt.data, pt.len, &ct), 0);
    write_raw(ct.data, ct.len);
    cs_buf_free(&pt);
    cs_buf_free(&ct);
}

/* An upgrade: a version 2 cache is read, its hits go into the version 3
 * cache the backup writes (a name put again after its hit keeps the put),
 * and the backup after that still skips them. */
static void test_version2_read_and_carried(void **state)
{
    struct stat st = st_of(0, 1, 0), st2 = st_of(0, 1, 1);
    cs_id id = id_of(0, 1, 0), id2 = id_of(0, 1, 1);
    const cs_id *ids;
    uint32_t n;
    bool nox;
    cs_fcache *c;
    cs_fcache_dir *d;
    cs_buf f = CS_BUF_INIT;

    (void)state;
    write_v2();
    assert_int_equal(cs_fcache_open(key, &repo_id, path, &c), 0);
    assert_non_null(d = cs_fcache_dir_open(c, "/d"));
    assert_int_equal(cs_fcache_dir_lookup(d, "p", &st, &ids, &n, &nox), 1);
    assert_memory_equal(ids, &id, sizeof(id));
    assert_true(nox);
    assert_int_equal(cs_fcache_dir_lookup(d, "q", &st, &ids, &n, &nox), 1);
    assert_int_equal(cs_fcache_dir_put(d, "p", &st2, &id2, 1, false), 0); /* read after all */
    assert_int_equal(cs_fcache_dir_close(d), 0);
    assert_int_equal(cs_fcache_save(c), 0);
    cs_fcache_free(c);
    assert_int_equal(cs_read_file(path, 1 << 20, &f), 0);
    assert_memory_equal(f.data, "CSFC\3\0\0\0", 8);
    assert_int_equal(cs_fcache_open(key, &repo_id, path, &c), 0);
    assert_non_null(d = cs_fcache_dir_open(c, "/d"));
    assert_int_equal(cs_fcache_dir_lookup(d, "p", &st, &ids, &n, &nox), 2);
    assert_int_equal(cs_fcache_dir_lookup(d, "p", &st2, &ids, &n, &nox), 1);
    assert_memory_equal(ids, &id2, sizeof(id2));
    assert_false(nox);
    assert_int_equal(cs_fcache_dir_lookup(d, "q", &st, &ids, &n, &nox), 1);
    assert_memory_equal(ids, &id, sizeof(id));
    assert_true(nox);
    cs_fcache_dir_free(d);
    cs_fcache_free(c);
    cs_buf_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_order),
        cmocka_unit_test_setup(test_roundtrip_and_no_rewrite, reset),
        cmocka_unit_test_setup(test_unseen_carried_then_forgotten, reset),
        cmocka_unit_test_setup(test_damaged_never_trusted, reset),
        cmocka_unit_test_setup(test_hostile_entries, reset),
        cmocka_unit_test_setup(test_version2_read_and_carried, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
