/* SPDX-License-Identifier: MIT */
/* Unit tests of what keeps a missing or replaced Maildir from deleting
 * mail: the identity marker's strict parser, binding a state to its
 * Maildir, and the deletion stamp kept for the keep period. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/entry.h"
#include "archive/marker.h"
#include "archive/seal.h"
#include "util/secmem.h"
#include "archive/state.h"
#include <sodium.h>
#include "util/fileio.h"

static const char good[] = "cloudseal-maildir-id v1 00112233445566778899aabbccddeeff\n";

static void test_marker_parse(void **unused)
{
    uint8_t id[CS_ARCH_MD_ID_BYTES];
    char text[CS_ARCH_MARKER_LEN + 1], bad[sizeof(good) + 1];

    assert_int_equal(sizeof(good) - 1, CS_ARCH_MARKER_LEN);
    assert_int_equal(cs_arch_marker_parse(good, CS_ARCH_MARKER_LEN, id), 0);
    assert_int_equal(id[0], 0x00);
    assert_int_equal(id[15], 0xff);
    cs_arch_marker_format(id, text);
    assert_string_equal(text, good);
    /* truncated, oversized, empty */
    for (size_t n = 0; n < CS_ARCH_MARKER_LEN; n++)
        assert_int_equal(cs_arch_marker_parse(good, n, id), -EBADMSG);
    memcpy(bad, good, sizeof(good));
    bad[CS_ARCH_MARKER_LEN] = '\n';
    assert_int_equal(cs_arch_marker_parse(bad, CS_ARCH_MARKER_LEN + 1, id), -EBADMSG);
    /* tampered: every byte changed in turn; uppercase hex, a missing newline */
    for (size_t i = 0; i < CS_ARCH_MARKER_LEN; i++) {
        memcpy(bad, good, sizeof(good));
        bad[i] = bad[i] == 'x' ? 'y' : 'x';
        assert_int_equal(cs_arch_marker_parse(bad, CS_ARCH_MARKER_LEN, id), -EBADMSG);
    }
    memcpy(bad, good, sizeof(good));
    bad[30] = 'A';
    assert_int_equal(cs_arch_marker_parse(bad, CS_ARCH_MARKER_LEN, id), -EBADMSG);
    bad[30] = '\0';
    assert_int_equal(cs_arch_marker_parse(bad, CS_ARCH_MARKER_LEN, id), -EBADMSG);
}

static int mkmaildir(char *dir)
{
    strcpy(dir, "/tmp/cs-arch-marker-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void test_bind(void **unused)
{
    char dir[64];
    int fd = mkmaildir(dir);
    cs_arch_state *st;
    cs_arch_inst *in;
    uint8_t id[CS_ARCH_MD_ID_BYTES], first[CS_ARCH_MD_ID_BYTES];
    bool rejoined;

    assert_int_equal(cs_arch_state_new(&st), 0);
    assert_int_equal(cs_arch_marker_read(fd, id), -ENOENT);
    /* a fresh state adopts the Maildir and marks it */
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), 0);
    assert_false(rejoined);
    assert_true(st->md_bound);
    assert_int_equal(cs_arch_marker_read(fd, first), 0);
    assert_memory_equal(first, st->md_id, sizeof(first));
    assert_int_equal(cs_arch_state_get(st, "1.M1.a", &in), 0);
    assert_int_equal(cs_arch_inst_set_local(in, "", 1, "1.M1.a:2,S"), 0);
    /* the same Maildir: nothing changes */
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), 0);
    assert_false(rejoined);
    assert_true(in->local_present);
    /* recreated (no marker): joins as new, local records dropped, new id */
    assert_int_equal(unlinkat(fd, CS_ARCH_MARKER_NAME, 0), 0);
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, true, &rejoined), 0); /* dry run writes nothing */
    assert_true(rejoined);
    assert_false(in->local_present);
    assert_int_equal(cs_arch_marker_read(fd, id), -ENOENT);
    assert_int_equal(cs_arch_inst_set_local(in, "", 1, "1.M1.a:2,S"), 0);
    memcpy(st->md_id, first, sizeof(first));
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), 0);
    assert_true(rejoined);
    assert_int_equal(cs_arch_marker_read(fd, id), 0);
    assert_memory_not_equal(id, first, sizeof(id));
    /* another Maildir's marker */
    assert_int_equal(cs_arch_inst_set_local(in, "", 1, "1.M1.a:2,S"), 0);
    assert_int_equal(cs_write_file_atomic_at(fd, CS_ARCH_MARKER_NAME, good, CS_ARCH_MARKER_LEN, 0600), 0);
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), 0);
    assert_true(rejoined);
    assert_false(in->local_present);
    assert_int_equal(st->md_id[15], 0xff);
    /* the same marker on another file system (a copy) */
    st->md_dev = cs_arch_maildir_dev(fd) + 1;
    assert_int_equal(cs_arch_inst_set_local(in, "", 1, "1.M1.a:2,S"), 0);
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), 0);
    assert_int_equal(rejoined, cs_arch_maildir_dev(fd) != 0);
    /* damaged: an error, never a guess */
    assert_int_equal(cs_write_file_atomic_at(fd, CS_ARCH_MARKER_NAME, "garbage\n", 8, 0600), 0);
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), -EBADMSG);
    assert_int_equal(cs_write_file_atomic_at(fd, CS_ARCH_MARKER_NAME, good, CS_ARCH_MARKER_LEN - 1, 0600), 0);
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), -EBADMSG);
    /* a state of before the markers (unbound, with local records) binds to
     * an unmarked Maildir without dropping them: the upgrade */
    assert_int_equal(unlinkat(fd, CS_ARCH_MARKER_NAME, 0), 0);
    st->md_bound = false;
    assert_int_equal(cs_arch_inst_set_local(in, "", 1, "1.M1.a:2,S"), 0);
    assert_int_equal(cs_arch_maildir_bind(fd, dir, st, false, &rejoined), 0);
    assert_false(rejoined);
    assert_true(in->local_present);
    cs_arch_state_free(st);
    unlinkat(fd, CS_ARCH_MARKER_NAME, 0);
    close(fd);
    rmdir(dir);
}

/* The deletion stamp is the first deletion's, whatever the order; it and
 * the Maildir identity survive a save and load. */
static void test_deletion_stamp(void **unused)
{
    cs_arch_state *x, *y, *z;
    cs_arch_entry d1 = { .type = CS_AE_DEL, .hlc = 100 }, d2 = { .type = CS_AE_DEL, .hlc = 200 };
    uint8_t other[CS_ARCH_DEV_BYTES] = { 1 };
    cs_buf bx = CS_BUF_INIT, by = CS_BUF_INIT;
    cs_arch_inst *in;

    strcpy(d1.key, "1.M1.a");
    strcpy(d2.key, "1.M1.a");
    assert_int_equal(cs_arch_state_new(&x), 0);
    assert_int_equal(cs_arch_state_new(&y), 0);
    memcpy(y->devs[0].id, x->devs[0].id, CS_ARCH_DEV_BYTES);
    assert_int_equal(cs_arch_state_dev(x, other), 1);
    assert_int_equal(cs_arch_state_dev(y, other), 1);
    assert_int_equal(cs_arch_state_apply(x, 1, &d2), 1);
    assert_int_equal(cs_arch_state_apply(x, 0, &d1), 1);
    assert_int_equal(cs_arch_state_apply(y, 0, &d1), 1);
    assert_int_equal(cs_arch_state_apply(y, 1, &d2), 0);
    in = cs_arch_state_find(x, "1.M1.a");
    assert_int_equal(in->del_w.hlc, 100);
    assert_int_equal(in->del_w.dev, 0);
    x->md_bound = true;
    x->md_id[3] = 7;
    x->md_dev = 42;
    y->md_bound = true;
    y->md_id[3] = 7;
    y->md_dev = 42;
    x->clock = y->clock = 0;
    assert_int_equal(cs_arch_state_encode(x, &bx), 0);
    assert_int_equal(cs_arch_state_encode(y, &by), 0);
    assert_int_equal(bx.len, by.len);
    assert_memory_equal(bx.data, by.data, bx.len);
    assert_int_equal(cs_arch_state_decode(bx.data, bx.len, &z), 0);
    assert_true(z->md_bound);
    assert_int_equal(z->md_id[3], 7);
    assert_int_equal(z->md_dev, 42);
    assert_int_equal(cs_arch_state_find(z, "1.M1.a")->del_w.hlc, 100);
    cs_arch_state_free(z);
    /* a bound flag other than 0/1 is refused (checksum fixed up) */
    bx.data[5 + 8] = 2;
    crypto_generichash(bx.data + bx.len - 32, 32, bx.data, bx.len - 32, NULL, 0);
    assert_int_equal(cs_arch_state_decode(bx.data, bx.len, &z), -EBADMSG);
    cs_buf_free(&bx);
    cs_buf_free(&by);
    cs_arch_state_free(x);
    cs_arch_state_free(y);
}

/* A version 1 state (before markers) is still read: unbound, and its
 * tombstones' keep period starts at the upgrade; version 2 keeps the
 * identity.  The fuzz seeds are the two versions. */
static void test_state_versions(void **unused)
{
    cs_buf b = CS_BUF_INIT;
    cs_arch_state *st;
    size_t deleted = 0;

    assert_int_equal(cs_read_file_at(AT_FDCWD, "tests/fuzz/corpus/fuzz_archive_state/state-v1", 1 << 20, &b), 0);
    assert_int_equal(b.data[4], 1);
    assert_int_equal(cs_arch_state_decode(b.data, b.len, &st), 0);
    assert_false(st->md_bound);
    for (size_t i = 0; i < st->ninst; i++)
        if (st->inst[i]->deleted) {
            deleted++;
            assert_int_equal(st->inst[i]->del_w.hlc, st->clock);
        }
    assert_true(deleted > 0);
    cs_arch_state_free(st);
    b.len = 0;
    assert_int_equal(cs_read_file_at(AT_FDCWD, "tests/fuzz/corpus/fuzz_archive_state/state", 1 << 20, &b), 0);
    assert_int_equal(b.data[4], 2);
    assert_int_equal(cs_arch_state_decode(b.data, b.len, &st), 0);
    assert_true(st->md_bound);
    assert_int_equal(st->md_dev, 2049);
    assert_int_equal(st->md_id[0], 0xab);
    deleted = 0;
    for (size_t i = 0; i < st->ninst; i++)
        if (st->inst[i]->deleted) { /* version 2 kept the stamp: it stays (not the v1 upgrade rule) */
            deleted++;
            assert_int_equal(st->inst[i]->del_w.hlc, 1002);
            assert_int_equal(st->inst[i]->del_w.dev, 1);
        }
    assert_true(deleted > 0);
    assert_int_equal(st->devs[1].seen, 1002); /* a frontier from its registers: it covers the deletion */
    {   /* and writes it back byte for byte as version 2 */
        cs_buf again = CS_BUF_INIT;

        assert_int_equal(cs_arch_state_encode_as(st, 2, &again), 0);
        assert_int_equal(again.len, b.len);
        assert_memory_equal(again.data, b.data, b.len);
        cs_buf_free(&again);
    }
    cs_arch_state_free(st);
    b.len = 0;
    assert_int_equal(cs_read_file_at(AT_FDCWD, "tests/fuzz/corpus/fuzz_archive_state/state-v3", 1 << 20, &b), 0);
    assert_int_equal(b.data[4], 3);
    assert_int_equal(cs_arch_state_decode(b.data, b.len, &st), 0);
    assert_true(st->devs[1].claimed && st->devs[1].claim_seq == 3 && st->devs[1].nfront == 1);
    assert_int_equal(st->ncollected, 2);
    cs_arch_state_free(st);
    /* a future version is refused as such */
    b.data[4] = 4;
    crypto_generichash(b.data + b.len - 32, 32, b.data, b.len - 32, NULL, 0);
    assert_int_equal(cs_arch_state_decode(b.data, b.len, &st), -EPROTONOSUPPORT);
    cs_buf_free(&b);
}

/* DIR entries (folders): wire form, hostile forms, LWW merge in either
 * order, the state keeping folders, version-2 segments. */
static void test_dir_entries(void **unused)
{
    cs_arch_entry e = { .type = CS_AE_DIR, .hlc = 5, .exists = 1 }, d;
    cs_arch_entry rm = { .type = CS_AE_DIR, .hlc = 9, .exists = 0 };
    cs_buf b = CS_BUF_INIT, enc = CS_BUF_INIT, sealed = CS_BUF_INIT, plain = CS_BUF_INIT;
    cs_arch_state *x, *y, *z;
    uint8_t dev[CS_ARCH_DEV_BYTES] = { 7 }, k[32], flags;
    cs_arch_keys *keys;
    cs_amk *amk;

    strcpy(e.folder, ".Empty");
    strcpy(rm.folder, ".Empty");
    assert_int_equal(cs_arch_entry_encode(&e, &b), 0);
    assert_int_equal(cs_arch_entry_encode(&rm, &b), 0);
    {
        cs_reader rd = cs_rd_init(b.data, b.len);

        assert_int_equal(cs_arch_entry_decode(&rd, &d), 0);
        assert_int_equal(d.type, CS_AE_DIR);
        assert_string_equal(d.folder, ".Empty");
        assert_int_equal(d.exists, 1);
        assert_string_equal(d.key, "");
    }
    for (size_t n = 0; n < b.len / 2; n++) { /* truncated */
        cs_reader rd = cs_rd_init(b.data, n);

        assert_int_equal(cs_arch_entry_decode(&rd, &d), -EBADMSG);
    }
    /* hostile: a key, INBOX, a bad name, exists 2 */
    d = e;
    strcpy(d.key, "x");
    assert_int_equal(cs_arch_entry_encode(&d, &enc), -EINVAL);
    d = e;
    d.folder[0] = '\0';
    assert_int_equal(cs_arch_entry_encode(&d, &enc), -EINVAL);
    d = e;
    strcpy(d.folder, ".a..b");
    assert_int_equal(cs_arch_entry_encode(&d, &enc), -EINVAL);
    d = e;
    d.exists = 2;
    assert_int_equal(cs_arch_entry_encode(&d, &enc), -EINVAL);
    {
        cs_buf t = CS_BUF_INIT;
        cs_reader rd;

        assert_int_equal(cs_arch_entry_encode(&e, &t), 0);
        t.data[t.len - 1] = 2; /* exists */
        rd = cs_rd_init(t.data, t.len);
        assert_int_equal(cs_arch_entry_decode(&rd, &d), -EBADMSG);
        cs_buf_free(&t);
    }
    /* LWW in either order; kept by the state */
    assert_int_equal(cs_arch_state_new(&x), 0);
    assert_int_equal(cs_arch_state_new(&y), 0);
    assert_int_equal(cs_arch_state_apply(x, 0, &e), 1);
    assert_int_equal(cs_arch_state_apply(x, 0, &rm), 1);
    assert_int_equal(cs_arch_state_apply(y, 0, &rm), 1);
    assert_int_equal(cs_arch_state_apply(y, 0, &e), 0);
    assert_false(cs_arch_state_folder(x, ".Empty")->exists);
    assert_false(cs_arch_state_folder(y, ".Empty")->exists);
    cs_arch_state_folder(x, ".Empty")->local = true;
    assert_int_equal(cs_arch_state_encode(x, &enc), 0);
    assert_int_equal(cs_arch_state_decode(enc.data, enc.len, &z), 0);
    assert_int_equal(z->nfolders, 1);
    assert_true(z->folders[0].local);
    assert_int_equal(z->folders[0].w.hlc, 9);
    cs_arch_state_free(z);
    /* a folder named twice is refused */
    {
        cs_arch_folder *f;
        cs_buf t = CS_BUF_INIT;

        assert_int_equal(cs_arch_state_folder_get(x, ".Other", &f), 0);
        free(f->name);
        f->name = strdup(".Empty");
        assert_int_equal(cs_arch_state_encode(x, &t), 0);
        assert_int_equal(cs_arch_state_decode(t.data, t.len, &z), -EBADMSG);
        cs_buf_free(&t);
    }
    /* version 2 segments carry them; version 1 ones stay for the rest */
    memset(k, 3, sizeof(k));
    assert_int_equal(cs_amk_from_bytes(k, 32, &amk), 0);
    assert_int_equal(cs_arch_keys_derive(amk, &keys), 0);
    assert_int_equal(cs_arch_segment_seal_flags(keys, dev, 4, CS_ARCH_SEG_V2, b.data, b.len, &sealed), 0);
    assert_int_equal(sealed.data[4], 2);
    assert_int_equal(sealed.data[5], 0);
    assert_int_equal(cs_arch_segment_open_flags(keys, dev, 4, sealed.data, sealed.len, &plain, &flags), 0);
    assert_int_equal(plain.len, b.len);
    sealed.len = 0;
    assert_int_equal(cs_arch_segment_seal_flags(keys, dev, 4, 0, b.data, b.len, &sealed), 0);
    assert_int_equal(sealed.data[4], 1);
    cs_arch_keys_free(keys);
    cs_amk_free(amk);
    cs_arch_state_free(x);
    cs_arch_state_free(y);
    cs_buf_free(&b);
    cs_buf_free(&enc);
    cs_buf_free(&sealed);
    cs_buf_free(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marker_parse),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_deletion_stamp),
        cmocka_unit_test(test_state_versions),
        cmocka_unit_test(test_dir_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
