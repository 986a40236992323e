/* SPDX-License-Identifier: MIT */
/* Unit tests of the archive building blocks: HLC, entry encoding, sealed
 * bodies and segments, local state, Maildir names, the CRDT rules, and the
 * documented conflict rules through real syncs of two devices. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "archive/archive.h"
#include "archive/claim.h"
#include "archive/collect.h"
#include "archive/gc.h"
#include "archive/entry.h"
#include "archive/hlc.h"
#include "archive/maildir.h"
#include "archive/seal.h"
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "util/fileio.h"
#include "util/secmem.h"

static cs_amk *test_amk(void)
{
    uint8_t k[32];
    cs_amk *a;

    memset(k, 0x42, sizeof(k));
    assert_int_equal(cs_amk_from_bytes(k, 32, &a), 0);
    return a;
}

static cs_arch_keys *test_keys(void)
{
    cs_amk *a = test_amk();
    cs_arch_keys *k;

    assert_int_equal(cs_arch_keys_derive(a, &k), 0);
    cs_amk_free(a);
    return k;
}

/* ---- HLC ---- */

static void test_hlc_tick(void **s)
{
    cs_hlc c = 0, a, b;

    (void)s;
    a = cs_hlc_tick(&c, 1000);
    assert_int_equal(CS_HLC_MS(a), 1000);
    assert_int_equal(CS_HLC_COUNTER(a), 0);
    b = cs_hlc_tick(&c, 1000); /* same millisecond: the counter moves */
    assert_true(b > a);
    assert_int_equal(CS_HLC_COUNTER(b), 1);
    a = cs_hlc_tick(&c, 900); /* wall clock went backwards: still increasing */
    assert_true(a > b);
    assert_int_equal(CS_HLC_MS(a), 1000);
    c = CS_HLC_PACK(2000, 0xffff); /* counter overflow carries into the ms */
    a = cs_hlc_tick(&c, 1500);
    assert_int_equal(CS_HLC_MS(a), 2001);
    assert_int_equal(CS_HLC_COUNTER(a), 0);
}

static void test_hlc_recv(void **s)
{
    cs_hlc c = CS_HLC_PACK(1000, 5), m = CS_HLC_PACK(5000, 7), t;

    (void)s;
    cs_hlc_recv(&c, m, 2000);
    t = cs_hlc_tick(&c, 2000);
    assert_true(t > m); /* causality: after receiving m, our stamps exceed m */
    /* a stamp far in the future is not adopted */
    c = CS_HLC_PACK(1000, 0);
    cs_hlc_recv(&c, CS_HLC_PACK(1000 + 10ull * CS_HLC_MAX_DRIFT_MS, 0), 1000);
    assert_true(CS_HLC_MS(c) <= 1000 + CS_HLC_MAX_DRIFT_MS);
    /* equal ms on both sides: max counter + 1 */
    c = CS_HLC_PACK(3000, 2);
    cs_hlc_recv(&c, CS_HLC_PACK(3000, 9), 100);
    assert_int_equal(c, CS_HLC_PACK(3000, 10));
}

/* ---- entries ---- */

static void fill_add(cs_arch_entry *e, const char *key)
{
    memset(e, 0, sizeof(*e));
    e->type = CS_AE_ADD;
    e->hlc = CS_HLC_PACK(1700000000000ull, 3);
    snprintf(e->key, sizeof(e->key), "%s", key);
    memset(e->id, 0xab, sizeof(e->id));
    memset(e->ref.pack, 0xcd, sizeof(e->ref.pack));
    e->ref.offset = 10;
    e->ref.length = 100;
    e->ref.size = 70;
    e->mask = CS_AE_FOLDER | CS_AE_SUBDIR | CS_AE_FLAGS;
    snprintf(e->folder, sizeof(e->folder), ".Lists.debian");
    e->subdir = CS_MD_CUR;
    e->flag_mask = CS_MD_FLAGS_ALL;
    e->flags = (1u << ('S' - 'A')) | (1u << ('F' - 'A'));
    e->mtime = 1700000123;
}

static void test_entry_roundtrip(void **s)
{
    cs_buf b = CS_BUF_INIT;
    cs_arch_entry e, set, del, d;
    cs_reader r;

    (void)s;
    fill_add(&e, "1700000000.M1P2.host");
    memset(&set, 0, sizeof(set));
    set.type = CS_AE_SET;
    set.hlc = 77;
    snprintf(set.key, sizeof(set.key), "k1");
    set.mask = CS_AE_FLAGS | CS_AE_FOLDER;
    set.flag_mask = 1u << ('S' - 'A');
    set.flags = 0;
    set.folder[0] = '\0';
    memset(&del, 0, sizeof(del));
    del.type = CS_AE_DEL;
    del.hlc = 78;
    snprintf(del.key, sizeof(del.key), "k2");
    assert_int_equal(cs_arch_entry_encode(&e, &b), 0);
    assert_int_equal(cs_arch_entry_encode(&set, &b), 0);
    assert_int_equal(cs_arch_entry_encode(&del, &b), 0);
    r = cs_rd_init(b.data, b.len);
    assert_int_equal(cs_arch_entry_decode(&r, &d), 0);
    assert_memory_equal(&d, &e, sizeof(d));
    assert_int_equal(cs_arch_entry_decode(&r, &d), 0);
    assert_memory_equal(&d, &set, sizeof(d));
    assert_int_equal(cs_arch_entry_decode(&r, &d), 0);
    assert_memory_equal(&d, &del, sizeof(d));
    assert_int_equal(cs_rd_left(&r), 0);
    cs_buf_free(&b);
}

static void test_entry_truncated(void **s)
{
    cs_buf b = CS_BUF_INIT;
    cs_arch_entry e, d;

    (void)s;
    fill_add(&e, "abc");
    assert_int_equal(cs_arch_entry_encode(&e, &b), 0);
    for (size_t n = 0; n < b.len; n++) {
        cs_reader r = cs_rd_init(b.data, n);

        assert_int_equal(cs_arch_entry_decode(&r, &d), -EBADMSG);
    }
    cs_buf_free(&b);
}

static void test_entry_hostile(void **s)
{
    cs_buf b = CS_BUF_INIT;
    cs_arch_entry e, d;
    cs_reader r;
    size_t keyoff = 1 + 8 + 1;

    (void)s;
    /* invalid entries are refused by the encoder */
    fill_add(&e, "a/b");
    assert_int_equal(cs_arch_entry_encode(&e, &b), -EINVAL);
    fill_add(&e, "ok");
    snprintf(e.folder, sizeof(e.folder), "../etc");
    assert_int_equal(cs_arch_entry_encode(&e, &b), -EINVAL);
    fill_add(&e, "ok");
    e.ref.length = 3;
    assert_int_equal(cs_arch_entry_encode(&e, &b), -EINVAL);
    /* and by the decoder when crafted by hand */
    fill_add(&e, "abc");
    assert_int_equal(cs_arch_entry_encode(&e, &b), 0);
    b.data[keyoff + 1] = '/'; /* "a/c" */
    r = cs_rd_init(b.data, b.len);
    assert_int_equal(cs_arch_entry_decode(&r, &d), -EBADMSG);
    b.data[keyoff + 1] = 'b';
    b.data[0] = 9; /* unknown type */
    r = cs_rd_init(b.data, b.len);
    assert_int_equal(cs_arch_entry_decode(&r, &d), -EBADMSG);
    b.data[0] = CS_AE_ADD;
    b.data[b.len - 9] = 0xff; /* flags beyond the 52 letters */
    r = cs_rd_init(b.data, b.len);
    assert_int_equal(cs_arch_entry_decode(&r, &d), -EBADMSG);
    b.data[b.len - 9] = 0;
    b.data[b.len - 1] = 0x80; /* a negative mtime */
    r = cs_rd_init(b.data, b.len);
    assert_int_equal(cs_arch_entry_decode(&r, &d), -EBADMSG);
    b.data[b.len - 1] = 0;
    r = cs_rd_init(b.data, b.len);
    assert_int_equal(cs_arch_entry_decode(&r, &d), 0); /* and back to valid */
    b.data[9] = 250; /* key length past the end */
    r = cs_rd_init(b.data, b.len);
    assert_int_equal(cs_arch_entry_decode(&r, &d), -EBADMSG);
    cs_buf_free(&b);
}

/* ---- bodies and segments ---- */

static void test_body_seal(void **s)
{
    cs_arch_keys *k = test_keys();
    const char msg[] = "From: a@b\nSubject: hi\n\nhello hello hello hello\n";
    uint8_t id[32], other[32];
    cs_buf sealed = CS_BUF_INIT, out = CS_BUF_INIT;

    (void)s;
    cs_arch_content_id(k, msg, sizeof(msg), id);
    assert_int_equal(cs_arch_body_seal(k, id, msg, sizeof(msg), &sealed), 0);
    assert_int_equal(cs_arch_body_open(k, id, sealed.data, sealed.len, &out), 0);
    assert_int_equal(out.len, sizeof(msg));
    assert_memory_equal(out.data, msg, sizeof(msg));
    /* another id (a swapped body) fails */
    memcpy(other, id, 32);
    other[0] ^= 1;
    assert_int_equal(cs_arch_body_open(k, other, sealed.data, sealed.len, &out), -EBADMSG);
    /* every tampered byte fails */
    for (size_t i = 0; i < sealed.len; i++) {
        sealed.data[i] ^= 0x20;
        assert_int_equal(cs_arch_body_open(k, id, sealed.data, sealed.len, &out), -EBADMSG);
        sealed.data[i] ^= 0x20;
    }
    for (size_t n = 0; n < sealed.len; n++)
        assert_int_equal(cs_arch_body_open(k, id, sealed.data, n, &out), -EBADMSG);
    cs_buf_free(&sealed);
    cs_buf_free(&out);
    cs_arch_keys_free(k);
}

static void test_segment_seal(void **s)
{
    cs_arch_keys *k = test_keys();
    uint8_t dev[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, dev2[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };
    cs_buf entries = CS_BUF_INIT, sealed = CS_BUF_INIT, out = CS_BUF_INIT;
    cs_arch_entry e;

    (void)s;
    fill_add(&e, "m1");
    assert_int_equal(cs_arch_entry_encode(&e, &entries), 0);
    assert_int_equal(cs_arch_segment_seal(k, dev, 7, entries.data, entries.len, &sealed), 0);
    assert_int_equal(cs_arch_segment_open(k, dev, 7, sealed.data, sealed.len, &out), 0);
    assert_int_equal(out.len, entries.len);
    assert_memory_equal(out.data, entries.data, entries.len);
    /* renamed to another position or device */
    assert_int_equal(cs_arch_segment_open(k, dev, 8, sealed.data, sealed.len, &out), -EBADMSG);
    assert_int_equal(cs_arch_segment_open(k, dev2, 7, sealed.data, sealed.len, &out), -EBADMSG);
    /* tampered anywhere, truncated anywhere */
    for (size_t i = 0; i < sealed.len; i++) {
        int r;

        sealed.data[i] ^= 0x01;
        r = cs_arch_segment_open(k, dev, 7, sealed.data, sealed.len, &out);
        assert_true(r == -EBADMSG || (i == 4 && r == -EPROTONOSUPPORT));
        sealed.data[i] ^= 0x01;
    }
    for (size_t n = 0; n < sealed.len; n++)
        assert_int_equal(cs_arch_segment_open(k, dev, 7, sealed.data, n, &out), -EBADMSG);
    /* a newer format version is named as such; another known version is
     * part of what is authenticated */
    sealed.data[4] = 4;
    assert_int_equal(cs_arch_segment_open(k, dev, 7, sealed.data, sealed.len, &out), -EPROTONOSUPPORT);
    sealed.data[4] = 3; /* claims are only in compacted segments */
    assert_int_equal(cs_arch_segment_open(k, dev, 7, sealed.data, sealed.len, &out), -EBADMSG);
    sealed.data[4] = 2;
    assert_int_equal(cs_arch_segment_open(k, dev, 7, sealed.data, sealed.len, &out), -EBADMSG);
    sealed.data[4] = 0;
    assert_int_equal(cs_arch_segment_open(k, dev, 7, sealed.data, sealed.len, &out), -EBADMSG);
    /* a compacted segment opens only for callers that know the flag */
    sealed.data[4] = 1;
    {
        cs_buf c2 = CS_BUF_INIT;
        uint8_t fl = 0;

        assert_int_equal(cs_arch_segment_seal_flags(k, dev, 9, CS_ARCH_SEG_COMPACTED, entries.data, entries.len,
                                                    &c2), 0);
        assert_int_equal(cs_arch_segment_open(k, dev, 9, c2.data, c2.len, &out), -EBADMSG);
        assert_int_equal(cs_arch_segment_open_flags(k, dev, 9, c2.data, c2.len, &out, &fl), 0);
        assert_int_equal(fl, CS_ARCH_SEG_COMPACTED);
        c2.data[5] = 0x80; /* unknown flag */
        assert_int_equal(cs_arch_segment_open_flags(k, dev, 9, c2.data, c2.len, &out, &fl), -EBADMSG);
        cs_buf_free(&c2);
    }
    /* oversized: refused before any work */
    assert_int_equal(cs_arch_segment_open(k, dev, 7, sealed.data, (size_t)CS_ARCH_SEG_MAX + 1, &out), -EMSGSIZE);
    cs_buf_free(&entries);
    cs_buf_free(&sealed);
    cs_buf_free(&out);
    cs_arch_keys_free(k);
}

static void test_segment_bad_entries(void **s)
{
    /* authentic segment, malformed content (a buggy device): -EBADMSG */
    cs_arch_state *st;
    uint8_t junk[] = { CS_AE_ADD, 1, 2, 3 };

    (void)s;
    assert_int_equal(cs_arch_state_new(&st), 0);
    assert_int_equal(cs_arch_apply_segment(st, 0, junk, sizeof(junk), NULL), -EBADMSG);
    cs_arch_state_free(st);
}

/* ---- Maildir names ---- */

static void test_maildir_names(void **s)
{
    char u[CS_MD_UNIQUE_MAX + 1], name[CS_MD_NAME_MAX + 1];
    uint64_t f;

    (void)s;
    assert_int_equal(cs_md_parse_name("123.M4P5.host:2,SF", u, &f), 0);
    assert_string_equal(u, "123.M4P5.host");
    assert_int_equal(f, (1u << ('S' - 'A')) | (1u << ('F' - 'A')));
    assert_int_equal(cs_md_render_name(u, CS_MD_CUR, f, name), 0);
    assert_string_equal(name, "123.M4P5.host:2,FS"); /* sorted, as the spec asks */
    assert_int_equal(cs_md_render_name(u, CS_MD_NEW, 0, name), 0);
    assert_string_equal(name, "123.M4P5.host");
    assert_int_equal(cs_md_render_name(u, CS_MD_CUR, 0, name), 0);
    assert_string_equal(name, "123.M4P5.host:2,");
    assert_int_equal(cs_md_parse_name("x:2,Sa", u, &f), 0); /* Dovecot keyword letters */
    assert_int_equal(f, (1u << ('S' - 'A')) | (UINT64_C(1) << 26));
    assert_int_equal(cs_md_parse_name(".hidden", u, &f), -EINVAL);
    assert_int_equal(cs_md_parse_name(":2,S", u, &f), -EINVAL);
    assert_int_equal(cs_md_folder_valid(""), 0);
    assert_int_equal(cs_md_folder_valid(".Sent"), 0);
    assert_int_equal(cs_md_folder_valid(".a.b"), 0);
    assert_int_equal(cs_md_folder_valid(".."), -EINVAL);
    assert_int_equal(cs_md_folder_valid("."), -EINVAL);
    assert_int_equal(cs_md_folder_valid(".a..b"), -EINVAL);
    assert_int_equal(cs_md_folder_valid(".a/b"), -EINVAL);
    assert_int_equal(cs_md_folder_valid("Sent"), -EINVAL);
}

/* ---- CRDT rules, directly on the state ---- */

static cs_arch_entry set_flags(const char *key, cs_hlc t, uint64_t mask, uint64_t val)
{
    cs_arch_entry e;

    memset(&e, 0, sizeof(e));
    e.type = CS_AE_SET;
    e.hlc = t;
    snprintf(e.key, sizeof(e.key), "%s", key);
    e.mask = CS_AE_FLAGS;
    e.flag_mask = mask;
    e.flags = val;
    return e;
}

#define BIT(c) (UINT64_C(1) << ((c) - 'A'))

static void test_crdt_rules(void **s)
{
    cs_arch_state *st;
    cs_arch_entry add, a, b;
    uint8_t d1[8] = { 1 }, d2[8] = { 2 };
    int i1, i2;
    cs_arch_inst *in;

    (void)s;
    assert_int_equal(cs_arch_state_new(&st), 0);
    i1 = cs_arch_state_dev(st, d1);
    i2 = cs_arch_state_dev(st, d2);
    fill_add(&add, "m");
    add.flags = 0;
    add.hlc = 100;
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i1, &add), 1);
    /* different flags concurrently: both */
    a = set_flags("m", 200, BIT('S'), BIT('S'));
    b = set_flags("m", 199, BIT('F'), BIT('F'));
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i1, &a), 1);
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i2, &b), 1);
    in = cs_arch_state_find(st, "m");
    assert_int_equal(in->flags, BIT('S') | BIT('F'));
    /* the same flag: the later stamp wins, whatever the order of arrival */
    a = set_flags("m", 300, BIT('S'), 0);
    b = set_flags("m", 290, BIT('S'), BIT('S'));
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i1, &a), 1);
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i2, &b), 0);
    assert_int_equal(in->flags, BIT('F'));
    /* a tie: the larger device id wins */
    a = set_flags("m", 400, BIT('T'), BIT('T'));
    b = set_flags("m", 400, BIT('T'), 0);
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i2, &b), 1);
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i1, &a), 0);
    assert_int_equal(in->flags & BIT('T'), 0);
    /* idempotence */
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i2, &b), 0);
    /* an older ADD replayed later does not undo newer flag writes */
    add.hlc = 50;
    add.flags = BIT('D');
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i2, &add), 1); /* smaller stamp: owns the content */
    assert_int_equal(in->flags, BIT('F'));
    /* remove-wins: a deletion sticks even against later writes */
    memset(&a, 0, sizeof(a));
    a.type = CS_AE_DEL;
    a.hlc = 10;
    snprintf(a.key, sizeof(a.key), "m");
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)i1, &a), 1);
    b = set_flags("m", 9999, BIT('S'), BIT('S'));
    cs_arch_state_apply(st, (uint16_t)i2, &b);
    assert_true(in->deleted);
    cs_arch_state_free(st);
}

/* Every order of the same entries gives the same state. */
static void test_crdt_commutes(void **s)
{
    cs_arch_entry v[6];
    uint8_t d1[8] = { 1 }, d2[8] = { 2 };
    int perm[6] = { 0, 1, 2, 3, 4, 5 };
    cs_buf ref = CS_BUF_INIT;

    (void)s;
    fill_add(&v[0], "m");
    v[0].hlc = 100;
    v[1] = set_flags("m", 150, BIT('S') | BIT('R'), BIT('S'));
    v[2] = set_flags("m", 160, BIT('S'), 0);
    fill_add(&v[3], "m");
    v[3].hlc = 120;
    v[3].flags = BIT('T');
    snprintf(v[3].folder, sizeof(v[3].folder), ".Other");
    v[4] = set_flags("m", 170, BIT('P'), BIT('P'));
    v[4].mask |= CS_AE_FOLDER;
    snprintf(v[4].folder, sizeof(v[4].folder), ".Moved");
    v[5] = set_flags("m", 110, BIT('F'), BIT('F'));
    for (int round = 0; round < 200; round++) {
        cs_arch_state *st;
        cs_buf enc = CS_BUF_INIT;
        uint8_t dev0[8] = { 0 };

        assert_int_equal(cs_arch_state_new(&st), 0);
        memcpy(st->devs[0].id, dev0, 8);
        cs_arch_state_dev(st, d1);
        cs_arch_state_dev(st, d2);
        for (int i = 5; i > 0; i--) { /* a pseudo-random permutation per round */
            int j = (int)((unsigned)(round * 7 + i * 13) % (unsigned)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int i = 0; i < 6; i++)
            cs_arch_state_apply(st, (uint16_t)(1 + perm[i] % 2), &v[perm[i]]);
        assert_int_equal(cs_arch_state_encode(st, &enc), 0);
        if (round == 0)
            cs_buf_append(&ref, enc.data, enc.len);
        else {
            assert_int_equal(enc.len, ref.len);
            assert_memory_equal(enc.data, ref.data, ref.len);
        }
        cs_buf_free(&enc);
        cs_arch_state_free(st);
    }
    cs_buf_free(&ref);
}

/* ---- local state file ---- */

static void test_state_roundtrip_and_hostile(void **s)
{
    cs_arch_state *st, *back;
    cs_arch_entry e;
    cs_buf a = CS_BUF_INIT, b = CS_BUF_INIT;
    cs_arch_inst *in;

    (void)s;
    assert_int_equal(cs_arch_state_new(&st), 0);
    fill_add(&e, "m1");
    e.hlc = 5;
    assert_int_equal(cs_arch_state_apply(st, 0, &e), 1);
    e = set_flags("m1", 6, BIT('S'), BIT('S'));
    assert_int_equal(cs_arch_state_apply(st, 0, &e), 1);
    in = cs_arch_state_find(st, "m1");
    assert_int_equal(cs_arch_inst_set_local(in, ".Lists.debian", 1, "m1:2,FS"), 0);
    assert_int_equal(cs_arch_state_encode(st, &a), 0);
    assert_int_equal(cs_arch_state_decode(a.data, a.len, &back), 0);
    assert_int_equal(cs_arch_state_encode(back, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    cs_arch_state_free(back);
    for (size_t n = 0; n < a.len; n++)
        assert_int_equal(cs_arch_state_decode(a.data, n, &back), -EBADMSG);
    for (size_t i = 0; i < a.len; i++) {
        a.data[i] ^= 0x80;
        assert_true(cs_arch_state_decode(a.data, a.len, &back) < 0);
        a.data[i] ^= 0x80;
    }
    cs_buf_free(&a);
    cs_buf_free(&b);
    cs_arch_state_free(st);
}

/* Claims (the body of version 3 segments): round trip, and every
 * truncated, oversized or non-canonical form refused. */
static void test_claim_hostile(void **s)
{
    cs_arch_claim_front front[2] = { { { 1 }, 10 }, { { 2 }, 20 } };
    uint64_t coll[3] = { 1, 5, 9 };
    cs_arch_claim c = { .t = 1234, .retired = true, .retired_by = { 9 }, .nfront = 2, .front = front,
                        .ncollected = 3, .collected = coll }, d;
    cs_buf b = CS_BUF_INIT, body = CS_BUF_INIT;
    uint64_t first;
    size_t off;

    (void)s;
    assert_int_equal(cs_arch_claim_encode(&c, &b), 0);
    {
        cs_reader rd = cs_rd_init(b.data, b.len);

        assert_int_equal(cs_arch_claim_decode(&rd, &d), 0);
        assert_int_equal(cs_rd_left(&rd), 0);
        assert_true(d.retired && d.t == 1234 && d.nfront == 2 && d.front[1].hlc == 20 && d.ncollected == 3);
        assert_int_equal(d.retired_by[0], 9);
        cs_arch_claim_free(&d);
    }
    for (size_t n = 0; n < b.len; n++) { /* truncated anywhere */
        cs_reader rd = cs_rd_init(b.data, n);

        assert_int_equal(cs_arch_claim_decode(&rd, &d), -EBADMSG);
    }
    {   /* unsorted devices, duplicate or unsorted names, unknown flags, counts beyond the input */
        static const size_t at[] = { 0, 18, 35 + 8 + 8 + 4 + 8 + 7 };
        for (size_t i = 0; i < 3; i++) {
            cs_reader rd = cs_rd_init(b.data, b.len);
            uint8_t save = b.data[at[i]];

            b.data[at[i]] = i == 0 ? 0x80 : 0xff;
            assert_int_equal(cs_arch_claim_decode(&rd, &d), -EBADMSG);
            b.data[at[i]] = save;
        }
    }
    {
        cs_reader rd = cs_rd_init(b.data, b.len);

        b.data[9 + 8 + 1] = 0xff; /* nfront = 0xff02: more than the bytes left */
        assert_int_equal(cs_arch_claim_decode(&rd, &d), -EBADMSG);
        b.data[9 + 8 + 1] = 0;
    }
    /* the body of a compacted version 3 segment: first <= seq, then the claim */
    cs_put_le64(&body, 4);
    cs_buf_append(&body, b.data, b.len);
    assert_int_equal(cs_arch_segment_body(body.data, body.len, CS_ARCH_SEG_COMPACTED | CS_ARCH_SEG_CLAIM, 7, &first,
                                          &d, &off), 0);
    assert_int_equal(first, 4);
    assert_int_equal(off, body.len);
    cs_arch_claim_free(&d);
    assert_int_equal(cs_arch_segment_body(body.data, body.len, CS_ARCH_SEG_COMPACTED | CS_ARCH_SEG_CLAIM, 3, &first,
                                          &d, &off), -EBADMSG); /* supersedes a later sequence */
    assert_int_equal(cs_arch_segment_body(body.data, 12, CS_ARCH_SEG_COMPACTED | CS_ARCH_SEG_CLAIM, 7, &first,
                                          &d, &off), -EBADMSG);
    cs_buf_free(&b);
    cs_buf_free(&body);
}

/* R4 on a state: a deletion goes only once every device's claim (in its
 * lowest segment) covers it past the keep period, at a second collection. */
static void test_collect_rule(void **s)
{
    cs_arch_state *st;
    cs_arch_entry e = { .type = CS_AE_DEL, .hlc = CS_HLC_PACK(1000, 0) };
    cs_arch_collect_stats cs;
    uint8_t other[CS_ARCH_DEV_BYTES] = { 0x42 };
    cs_arch_claim c0, c1;
    int b;

    (void)s;
    assert_int_equal(cs_arch_state_new(&st), 0);
    b = cs_arch_state_dev(st, other);
    snprintf(e.key, sizeof(e.key), "gone");
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)b, &e), 1);
    st->clock = CS_HLC_PACK(2000, 0);
    /* no claims: blocked */
    assert_int_equal(cs_arch_collect_tombstones(st, 5000, 1000, 0, false, &cs, NULL), 0);
    assert_true(cs.blocked == 1 && cs.collected == 0);
    assert_int_equal(cs_arch_claim_make(st, 3000, &c0), 0);
    assert_int_equal(cs_arch_claim_record(st, 0, 4, &c0, NULL), 0);
    st->devs[0].lowest = 4;
    /* the other device claimed before merging the deletion: still blocked */
    c1 = c0;
    c1.front = NULL;
    c1.nfront = 0;
    assert_int_equal(cs_arch_claim_record(st, (uint16_t)b, 9, &c1, NULL), 0);
    st->devs[b].lowest = 9;
    assert_int_equal(cs_arch_collect_tombstones(st, 5000, 1000, 0, false, &cs, NULL), 0);
    assert_true(cs.blocked == 1 && cs.collected == 0);
    /* it claims the deletion, but its older segments are still listed */
    assert_int_equal(cs_arch_claim_record(st, (uint16_t)b, 10, &c0, NULL), 0);
    assert_int_equal(cs_arch_collect_tombstones(st, 5000, 1000, 0, false, &cs, NULL), 0);
    assert_true(cs.blocked == 1);
    st->devs[b].lowest = 10;
    /* the keep period is not over at the time of a claim: blocked */
    assert_int_equal(cs_arch_collect_tombstones(st, 5000, 2500, 0, false, &cs, NULL), 0);
    assert_true(cs.blocked == 1);
    /* all covered: noted first, dropped at the next collection */
    assert_int_equal(cs_arch_collect_tombstones(st, 5000, 1000, 0, false, &cs, NULL), 0);
    assert_true(cs.waiting == 1 && cs.collected == 0);
    assert_int_equal(cs_arch_collect_tombstones(st, 5001, 1000, 0, true, &cs, NULL), 0); /* dry run */
    assert_true(cs.collected == 1 && st->ninst == 1);
    assert_int_equal(cs_arch_collect_tombstones(st, 5001, 1000, 0, false, &cs, NULL), 0);
    assert_true(cs.collected == 1 && st->ninst == 0 && cs_arch_collected(st, "gone"));
    assert_null(cs_arch_state_find(st, "gone"));
    /* a late DEL of a collected name changes nothing */
    assert_int_equal(cs_arch_state_apply(st, (uint16_t)b, &e), 0);
    assert_int_equal(st->ninst, 0);
    /* a forgotten device stays in a claim's frontier: a retirement claim
     * must be able to cover what it deleted itself */
    st->devs[b].retired = true;
    cs_arch_claim_free(&c0);
    assert_int_equal(cs_arch_claim_make(st, 6000, &c0), 0);
    assert_int_equal(c0.nfront, 2);
    assert_int_equal(c0.ncollected, 1);
    cs_arch_claim_free(&c0);
    cs_arch_state_free(st);
}

/* ---- conflict rules through real syncs ---- */

typedef struct two {
    char base[128], md[2][256], state[2][256], store[300];
    cs_storage *s;
    cs_amk *amk;
} two;

static void two_setup(two *t)
{
    snprintf(t->base, sizeof(t->base), "/tmp/cs-arch-unit-XXXXXX");
    assert_non_null(mkdtemp(t->base));
    char base[sizeof(t->base)];

    memcpy(base, t->base, sizeof(base)); /* not t->base itself: snprintf into the same struct */
    for (int d = 0; d < 2; d++) {
        snprintf(t->md[d], sizeof(t->md[d]), "%s/md%d", base, d);
        snprintf(t->state[d], sizeof(t->state[d]), "%s/st%d", base, d);
    }
    snprintf(t->store, sizeof(t->store), "file://%s/store", base);
    assert_int_equal(cs_storage_open(t->store, NULL, &t->s), 0);
    t->amk = test_amk();
}

static void two_teardown(two *t)
{
    char cmd[300];

    cs_storage_close(t->s);
    cs_amk_free(t->amk);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->base);
    assert_int_equal(system(cmd), 0);
}

static int two_sync(two *t, int d, cs_archive_stats *st)
{
    cs_archive_opts o = { .storage = t->s, .user = "alice", .maildir = t->md[d], .state_dir = t->state[d] };
    cs_archive_stats dummy;

    return cs_archive_sync(&o, t->amk, st ? st : &dummy);
}

static void put(const char *dir, const char *rel, const char *text)
{
    char p[600];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *dir, const char *rel)
{
    char p[600];

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return access(p, F_OK) == 0;
}

static void mv(const char *dir, const char *from, const char *to)
{
    char a[600], b[600];

    snprintf(a, sizeof(a), "%s/%s", dir, from);
    snprintf(b, sizeof(b), "%s/%s", dir, to);
    assert_int_equal(rename(a, b), 0);
}

static void test_sync_concurrent_flags(void **s)
{
    two t;

    (void)s;
    two_setup(&t);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    put(t.md[0], "cur/100.M1.a:2,", "Subject: x\n\nbody\n");
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_int_equal(two_sync(&t, 1, NULL), 0);
    assert_true(exists(t.md[1], "cur/100.M1.a:2,"));
    /* A marks it seen, B flags it, concurrently: both flags survive */
    mv(t.md[0], "cur/100.M1.a:2,", "cur/100.M1.a:2,S");
    mv(t.md[1], "cur/100.M1.a:2,", "cur/100.M1.a:2,F");
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_int_equal(two_sync(&t, 1, NULL), 0);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_true(exists(t.md[0], "cur/100.M1.a:2,FS"));
    assert_true(exists(t.md[1], "cur/100.M1.a:2,FS"));
    /* A moves it to .Archive, B to .Sent, concurrently: the later move wins */
    mkdir(strcat(strcpy((char[600]){0}, t.md[0]), "/.Archive"), 0700);
    mkdir(strcat(strcpy((char[600]){0}, t.md[0]), "/.Archive/cur"), 0700);
    mkdir(strcat(strcpy((char[600]){0}, t.md[1]), "/.Sent"), 0700);
    mkdir(strcat(strcpy((char[600]){0}, t.md[1]), "/.Sent/cur"), 0700);
    mv(t.md[0], "cur/100.M1.a:2,FS", ".Archive/cur/100.M1.a:2,FS");
    mv(t.md[1], "cur/100.M1.a:2,FS", ".Sent/cur/100.M1.a:2,FS");
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    usleep(2000);
    assert_int_equal(two_sync(&t, 1, NULL), 0); /* stamped later */
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_true(exists(t.md[0], ".Sent/cur/100.M1.a:2,FS"));
    assert_false(exists(t.md[0], ".Archive/cur/100.M1.a:2,FS"));
    assert_true(exists(t.md[1], ".Sent/cur/100.M1.a:2,FS"));
    /* A deletes it while B flags it: the deletion wins */
    mv(t.md[1], ".Sent/cur/100.M1.a:2,FS", ".Sent/cur/100.M1.a:2,FRS");
    put(t.md[0], ".Sent/cur/keep:2,", "Subject: other\n\n");
    assert_int_equal(unlink(strcat(strcpy((char[600]){0}, t.md[0]), "/.Sent/cur/100.M1.a:2,FS")), 0);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_int_equal(two_sync(&t, 1, NULL), 0);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_false(exists(t.md[1], ".Sent/cur/100.M1.a:2,FRS"));
    assert_false(exists(t.md[0], ".Sent/cur/100.M1.a:2,FRS"));
    assert_true(exists(t.md[1], ".Sent/cur/keep:2,"));
    two_teardown(&t);
}

static void test_sync_dedup_and_tamper(void **s)
{
    two t;
    cs_archive_stats st;
    char cmd[800];

    (void)s;
    two_setup(&t);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    put(t.md[0], "new/a1", "Subject: same\n\nsame body\n");
    put(t.md[0], "new/a2", "Subject: same\n\nsame body\n");
    assert_int_equal(two_sync(&t, 0, &st), 0);
    assert_int_equal(st.local_added, 2);
    assert_int_equal(st.bodies_reused, 1); /* the same message is stored once */
    assert_int_equal(st.packs_uploaded, 1);
    /* a no-change sync uploads nothing */
    assert_int_equal(two_sync(&t, 0, &st), 0);
    assert_int_equal(st.bytes_uploaded, 0);
    /* a second device gets both; then the server deletes a segment: detected */
    assert_int_equal(two_sync(&t, 1, &st), 0);
    assert_int_equal(st.delivered, 2);
    /* the received date (mtime) travels with the message */
    {
        char p[600];
        struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
        struct stat stb;

        snprintf(p, sizeof(p), "%s/new/a3", t.md[0]);
        put(t.md[0], "new/a3", "Subject: old\n\nfrom 2001\n");
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
        assert_int_equal(two_sync(&t, 0, NULL), 0);
        assert_int_equal(two_sync(&t, 1, NULL), 0);
        snprintf(p, sizeof(p), "%s/new/a3", t.md[1]);
        assert_int_equal(stat(p, &stb), 0);
        assert_int_equal(stb.st_mtim.tv_sec, 1000000000);
    }
    snprintf(cmd, sizeof(cmd), "rm -f %s/store/users/alice/archive/log/*/0000000000000001", t.base);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(two_sync(&t, 1, NULL), -EBADMSG);
    two_teardown(&t);
}

static int count_dir(const char *dir, const char *sub)
{
    char p[600];
    int n = 0;
    DIR *d;
    struct dirent *e;

    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    if (!(d = opendir(p)))
        return 0;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* cp of a message keeps its unique name: the copy gets a fresh one and
 * both travel. */
static void test_sync_copy_gets_new_name(void **s)
{
    two t;
    char p[600];

    (void)s;
    two_setup(&t);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    put(t.md[0], "cur/55.M1.a:2,S", "Subject: copied\n\nbody\n");
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    snprintf(p, sizeof(p), "%s/.Keep", t.md[0]);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/.Keep/cur", t.md[0]);
    mkdir(p, 0700);
    put(t.md[0], ".Keep/cur/55.M1.a:2,S", "Subject: copied\n\nbody\n");
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_int_equal(two_sync(&t, 1, NULL), 0);
    assert_int_equal(count_dir(t.md[0], "cur") + count_dir(t.md[0], ".Keep/cur"), 2);
    assert_int_equal(count_dir(t.md[1], "cur"), 1);
    assert_int_equal(count_dir(t.md[1], ".Keep/cur"), 1);
    assert_true(exists(t.md[1], "cur/55.M1.a:2,S") || exists(t.md[1], ".Keep/cur/55.M1.a:2,S"));
    two_teardown(&t);
}

/* Two devices create different messages under one unique name (a broken
 * delivery agent): nothing is lost, both end with both messages. */
static void test_sync_unique_name_collision(void **s)
{
    two t;

    (void)s;
    two_setup(&t);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_int_equal(two_sync(&t, 1, NULL), 0);
    put(t.md[0], "new/77.same", "Subject: from a\n\nA\n");
    put(t.md[1], "new/77.same", "Subject: from b\n\nB\n");
    for (int round = 0; round < 3; round++) {
        assert_int_equal(two_sync(&t, 0, NULL), 0);
        assert_int_equal(two_sync(&t, 1, NULL), 0);
    }
    assert_int_equal(count_dir(t.md[0], "new"), 2);
    assert_int_equal(count_dir(t.md[1], "new"), 2);
    assert_true(exists(t.md[0], "new/77.same"));
    assert_true(exists(t.md[1], "new/77.same"));
    {   /* the name belongs to the same message on both */
        char p0[600], p1[600];
        cs_buf b0 = CS_BUF_INIT, b1 = CS_BUF_INIT;

        snprintf(p0, sizeof(p0), "%s/new/77.same", t.md[0]);
        snprintf(p1, sizeof(p1), "%s/new/77.same", t.md[1]);
        assert_int_equal(cs_read_file(p0, 4096, &b0), 0);
        assert_int_equal(cs_read_file(p1, 4096, &b1), 0);
        assert_int_equal(b0.len, b1.len);
        assert_memory_equal(b0.data, b1.data, b0.len);
        cs_buf_free(&b0);
        cs_buf_free(&b1);
    }
    two_teardown(&t);
}

/* A message whose deletion this device holds (mass-deletion guard) and
 * that the user then flags gets no SET: nothing may be written to a
 * deleted instance (docs/archive.md section 8, R5), or the write would
 * outlive the tombstone's collection. */
static void test_sync_no_write_to_held_deletion(void **s)
{
    two t;
    cs_archive_stats st;
    cs_arch_state *state = NULL;
    const cs_arch_inst *in;
    char name[64];
    int fd;

    (void)s;
    two_setup(&t);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    for (int i = 0; i < 80; i++) {
        snprintf(name, sizeof(name), "new/1700000000.M%dP1.a", i);
        put(t.md[0], name, "Subject: held\n\nbody\n");
    }
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    assert_int_equal(two_sync(&t, 1, NULL), 0);
    for (int i = 0; i < 60; i++) {
        char p[600];

        snprintf(p, sizeof(p), "%s/new/1700000000.M%dP1.a", t.md[0], i);
        assert_int_equal(unlink(p), 0);
    }
    {
        cs_archive_opts o = { .storage = t.s, .user = "alice", .maildir = t.md[0], .state_dir = t.state[0],
                              .allow_deletions = 60 };

        assert_int_equal(cs_archive_sync(&o, t.amk, &st), 0);
    }
    assert_int_equal(two_sync(&t, 1, &st), -ECANCELED);
    assert_int_equal(st.deletions_held, 60);
    mv(t.md[1], "new/1700000000.M7P1.a", "cur/1700000000.M7P1.a:2,F");
    assert_int_equal(two_sync(&t, 1, &st), -ECANCELED);
    assert_int_equal(st.local_changed, 0);
    fd = open(t.state[1], O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(cs_arch_load_state(fd, t.state[1], &state), 0);
    close(fd);
    in = cs_arch_state_find(state, "1700000000.M7P1.a");
    assert_non_null(in);
    assert_true(in->deleted && in->local_present);
    assert_string_equal(in->local_name, "1700000000.M7P1.a:2,F"); /* where the file is now */
    assert_int_equal(in->flags, 0);                              /* but nothing recorded */
    assert_int_equal(in->subdir, CS_MD_NEW);
    cs_arch_state_free(state);
    two_teardown(&t);
}

static int collect_dir(const char *path, void *ud)
{
    int *n = ud;

    (*n)++;
    assert_true(path[0] == '/');
    return 0;
}

/* last-sync is a file on disk: a damaged or edited one reads as "never",
 * not as the number its first digits make. */
static void test_status_last_sync_hostile(void **s)
{
    static const char *const bad[] = { "12abc\n", "+12\n", " 12\n", "-1\n", "\n", "",
                                       "99999999999999999999\n", "12\n\n" };
    cs_archive_status st;
    two t;

    (void)s;
    two_setup(&t);
    assert_int_equal(two_sync(&t, 0, NULL), 0);
    put(t.state[0], "last-sync", "1700000000\n");
    assert_int_equal(cs_archive_get_status(t.state[0], &st), 0);
    assert_int_equal(st.last_sync, 1700000000);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put(t.state[0], "last-sync", bad[i]);
        assert_int_equal(cs_archive_get_status(t.state[0], &st), 0);
        assert_true(st.initialised);
        if (st.last_sync != 0)
            fail_msg("last-sync \"%s\" read as %lld", bad[i], (long long)st.last_sync);
    }
    two_teardown(&t);
}

static void test_watch_dirs(void **s)
{
    two t;
    char p[600];
    int n = 0;

    (void)s;
    two_setup(&t);
    assert_int_equal(cs_archive_watch_dirs(t.md[0], collect_dir, &n), -ENOENT);
    assert_int_equal(two_sync(&t, 0, NULL), 0); /* creates the Maildir */
    snprintf(p, sizeof(p), "%s/.Sent", t.md[0]);
    mkdir(p, 0700);
    assert_int_equal(cs_archive_watch_dirs(t.md[0], collect_dir, &n), 0);
    assert_int_equal(n, 1 + 2 * 2); /* root, INBOX new+cur, .Sent new+cur */
    two_teardown(&t);
}

/* The gc-candidates file: strict, bounded, sorted; anything else refused. */
static void test_gc_candidates_parse(void **state)
{
#define HEAD "{\"version\":1,\"collected\":1764350000,\"packs\":"
    static const char *const bad[] = {
        "", "{}", "[]", "{\"version\":1}", "{\"version\":1,\"packs\":{}}",      /* no collected */
        "{\"version\":2,\"collected\":1,\"packs\":{}}", "{\"version\":1,\"collected\":-1,\"packs\":{}}",
        "{\"version\":1,\"collected\":\"1\",\"packs\":{}}", HEAD "[]}", HEAD "{},\"x\":1}",
        HEAD "{\"zz\":1}}",
        HEAD "{\"70CF5C44E72A3C8FD224EF8DE2C0CD69\":1}}",   /* uppercase */
        HEAD "{\"70cf5c44e72a3c8fd224ef8de2c0cd6\":1}}",    /* short */
        HEAD "{\"70cf5c44e72a3c8fd224ef8de2c0cd69\":-1}}",
        HEAD "{\"70cf5c44e72a3c8fd224ef8de2c0cd69\":\"1\"}}",
        HEAD "{\"70cf5c44e72a3c8fd224ef8de2c0cd69\":1}} x",  /* trailing */
        HEAD "{\"70cf5c44e72a3c8fd224ef8de2c0cd69\":1}",     /* truncated */
    };
    const char *good = HEAD "{\"ff000000000000000000000000000000\":7,\"00000000000000000000000000000001\":9}}";
    cs_arch_gc_candidate *c = NULL;
    size_t n = 0;
    int64_t collected = 0;
    char *big;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cs_arch_gc_candidates_parse(bad[i], strlen(bad[i]), &c, &n, &collected), -EBADMSG);
        assert_null(c);
    }
    assert_int_equal(cs_arch_gc_candidates_parse(good, strlen(good), &c, &n, &collected), 0);
    assert_int_equal(n, 2);
    assert_int_equal(collected, 1764350000);
    assert_int_equal(c[0].id[15], 1); /* sorted by id */
    assert_int_equal(c[0].first_seen, 9);
    assert_int_equal(c[1].id[0], 0xff);
    free(c);
    big = calloc(1, (17u << 20) + 1);
    assert_non_null(big);
    memset(big, ' ', 17u << 20);
    assert_int_equal(cs_arch_gc_candidates_parse(big, 17u << 20, &c, &n, &collected), -E2BIG);
    free(big);
#undef HEAD
}

/* A listing of many packs grows the gc's array several times: every pack's
 * size must still be the one listed (issue 19: the ids and the sizes were
 * two arrays sharing one capacity, so one growing without the other wrote
 * past the end; ASan in `make asan` reports that, the sums below without). */
static void test_gc_many_packs(void **state)
{
    enum { NPACKS = 700 };
    two t;
    cs_arch_state *st;
    cs_arch_gc_stats gs;
    uint64_t sum = 0;
    char key[200], hex[CS_ARCH_PACK_BYTES * 2 + 1], *plan = NULL;
    size_t plan_len = 0, lines = 0;
    uint8_t id[CS_ARCH_PACK_BYTES], data[NPACKS];
    FILE *pf;
    int statefd;

    (void)state;
    two_setup(&t);
    memset(data, 'p', sizeof(data));
    for (unsigned i = 0; i < NPACKS; i++) {
        memset(id, 0, sizeof(id));
        id[0] = (uint8_t)(i >> 8);
        id[1] = (uint8_t)i;
        sodium_bin2hex(hex, sizeof(hex), id, sizeof(id));
        snprintf(key, sizeof(key), "users/alice/archive/pack/%s", hex);
        assert_int_equal(cs_storage_put(t.s, key, data, i + 1, CS_PUT_REPLACE), 0);
        sum += i + 1;
    }
    assert_int_equal(cs_storage_put(t.s, "users/alice/archive/pack/not-a-pack", "x", 1, CS_PUT_REPLACE), 0);
    assert_int_equal(mkdir(t.state[0], 0700), 0);
    statefd = open(t.state[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(statefd >= 0);
    assert_int_equal(cs_arch_state_new(&st), 0);

    cs_arch_gc_opts g = { .storage = t.s, .prefix = "users/alice/archive/", .statefd = statefd };
    assert_int_equal(cs_arch_gc(&g, st, &gs), 0); /* first sight: every pack a candidate */
    assert_int_equal(gs.packs, NPACKS);
    assert_int_equal(gs.waiting, NPACKS);
    assert_int_equal(gs.foreign, 1);
    assert_int_equal(gs.deleted, 0);

    pf = open_memstream(&plan, &plan_len);
    assert_non_null(pf);
    g.dry_run = true;
    g.plan = pf;
    assert_int_equal(cs_arch_gc(&g, st, &gs), 0); /* second sight, no grace: all would go */
    fclose(pf);
    assert_int_equal(gs.deleted, NPACKS);
    assert_int_equal(gs.bytes_freed, sum);
    for (char *p = plan; (p = strstr(p, "gc: delete pack ")); p++) {
        unsigned hi, lo;
        unsigned long long bytes;

        assert_int_equal(sscanf(p, "gc: delete pack %2x%2x%*30[0-9a-f] (%llu bytes", &hi, &lo, &bytes), 3);
        assert_int_equal(bytes, ((hi << 8) | lo) + 1ULL); /* this pack's own size */
        lines++;
    }
    assert_int_equal(lines, NPACKS);
    free(plan);
    cs_arch_state_free(st);
    close(statefd);
    two_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hlc_tick),
        cmocka_unit_test(test_hlc_recv),
        cmocka_unit_test(test_entry_roundtrip),
        cmocka_unit_test(test_entry_truncated),
        cmocka_unit_test(test_entry_hostile),
        cmocka_unit_test(test_body_seal),
        cmocka_unit_test(test_segment_seal),
        cmocka_unit_test(test_segment_bad_entries),
        cmocka_unit_test(test_maildir_names),
        cmocka_unit_test(test_crdt_rules),
        cmocka_unit_test(test_crdt_commutes),
        cmocka_unit_test(test_state_roundtrip_and_hostile),
        cmocka_unit_test(test_claim_hostile),
        cmocka_unit_test(test_collect_rule),
        cmocka_unit_test(test_sync_concurrent_flags),
        cmocka_unit_test(test_sync_dedup_and_tamper),
        cmocka_unit_test(test_sync_copy_gets_new_name),
        cmocka_unit_test(test_sync_unique_name_collision),
        cmocka_unit_test(test_sync_no_write_to_held_deletion),
        cmocka_unit_test(test_status_last_sync_hostile),
        cmocka_unit_test(test_watch_dirs),
        cmocka_unit_test(test_gc_candidates_parse),
        cmocka_unit_test(test_gc_many_packs),
    };

    if (cs_crypto_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
