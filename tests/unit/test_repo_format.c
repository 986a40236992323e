/* SPDX-License-Identifier: MIT */
/* Unit tests of the repository format: chunker, sealed objects, blobs,
 * pack headers, index objects, trees, snapshots, file cache, including
 * truncated, oversized and tampered input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <cmocka.h>
#include <sodium.h>
#include "repo/filecache.h"
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/secmem.h"

static cs_repo_keys *keys;

static int setup(void **state)
{
    cs_amk *amk;

    (void)state;
    assert_int_equal(cs_crypto_init(), 0);
    assert_int_equal(cs_amk_generate(&amk), 0);
    assert_int_equal(cs_rkeys_new(amk, &keys), 0);
    cs_amk_free(amk);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cs_rkeys_free(keys);
    return 0;
}

static void rand_gear(uint64_t g[256])
{
    randombytes_buf(g, 256 * sizeof(uint64_t));
}

static void test_chunker_bounds_and_determinism(void **state)
{
    cs_chunker c;
    uint64_t g[256];
    size_t n = 40u << 20, off = 0, count = 0;
    uint8_t *data = malloc(n);
    size_t cuts1[64], ncuts = 0;

    (void)state;
    rand_gear(g);
    assert_int_equal(cs_chunker_init(&c, g, CS_CHUNK_MIN, CS_CHUNK_AVG, CS_CHUNK_MAX), 0);
    randombytes_buf(data, n);
    while (off < n) {
        size_t cut = cs_chunker_next(&c, data + off, n - off, true);
        assert_true(cut > 0);
        assert_true(cut <= CS_CHUNK_MAX);
        if (off + cut < n)
            assert_true(cut >= CS_CHUNK_MIN);
        if (ncuts < 64)
            cuts1[ncuts++] = cut;
        off += cut;
        count++;
    }
    /* mean chunk between min and max, near the target */
    assert_true(n / count > CS_CHUNK_MIN && n / count < 3 * CS_CHUNK_AVG);
    /* cut points depend on content only: an insertion at the front resyncs */
    {
        uint8_t *d2 = malloc(n + 100);
        size_t o2 = 0, k = 0, o1 = 0, same = 0;
        memset(d2, 'x', 100);
        memcpy(d2 + 100, data, n);
        while (o2 < n + 100 && k < 30) {
            size_t cut = cs_chunker_next(&c, d2 + o2, n + 100 - o2, true);
            o2 += cut;
            while (o1 < o2 - 100 && k < ncuts)
                o1 += cuts1[k++];
            if (o1 == o2 - 100)
                same++;
        }
        assert_true(same >= 10);
        free(d2);
    }
    /* need more data: no cut is forced before max unless at EOF */
    assert_int_equal(cs_chunker_next(&c, data, CS_CHUNK_MIN, false), 0);
    assert_int_equal(cs_chunker_next(&c, data, 100, true), 100);
    /* a different secret table cuts elsewhere */
    {
        cs_chunker c2;
        rand_gear(g);
        cs_chunker_init(&c2, g, CS_CHUNK_MIN, CS_CHUNK_AVG, CS_CHUNK_MAX);
        assert_int_not_equal(cs_chunker_next(&c2, data, n, true), cuts1[0]);
    }
    assert_int_equal(cs_chunker_init(&c, g, 100, 50, 1000), -EINVAL);
    assert_int_equal(cs_chunker_init(&c, g, 1000, 3000, 10000), -EINVAL); /* avg not a power of two */
    free(data);
}

/* The byte-at-a-time FastCDC loop the chunker's two-bytes-per-step roll
 * must agree with exactly: a repository's cut points (and so its dedup)
 * must not depend on the version that wrote it. */
static size_t reference_next(const cs_chunker *c, const uint8_t *buf, size_t len, bool eof)
{
    size_t n = len, normal = c->avg, i;
    uint64_t h = 0;

    if (len <= c->min)
        return eof ? len : 0;
    if (n > c->max)
        n = c->max;
    if (normal > n)
        normal = n;
    for (i = c->min - 64; i < c->min; i++)
        h = (h << 1) + c->gear[buf[i]];
    for (; i < normal; i++) {
        h = (h << 1) + c->gear[buf[i]];
        if (!(h & c->mask_s))
            return i + 1;
    }
    for (; i < n; i++) {
        h = (h << 1) + c->gear[buf[i]];
        if (!(h & c->mask_l))
            return i + 1;
    }
    return n == c->max || eof ? n : 0;
}

static void test_chunker_matches_reference(void **state)
{
    uint64_t g[256];
    size_t n = 24u << 20;
    uint8_t *data = malloc(n);
    cs_chunker small, big;

    (void)state;
    rand_gear(g);
    randombytes_buf(data, n);
    /* runs of equal bytes and text-like data cut differently from random */
    memset(data + (3u << 20), 'a', 2u << 20);
    for (size_t i = 8u << 20; i < (10u << 20); i++)
        data[i] = (uint8_t)(' ' + (data[i] % 64));
    /* small sizes (odd min) exercise the odd tails of the two-byte loop */
    assert_int_equal(cs_chunker_init(&small, g, 4097, 8192, 65536), 0);
    assert_int_equal(cs_chunker_init(&big, g, CS_CHUNK_MIN, CS_CHUNK_AVG, CS_CHUNK_MAX), 0);
    for (int k = 0; k < 2; k++) {
        const cs_chunker *c = k ? &big : &small;
        size_t off = 0, cuts = 0;
        while (off < n) {
            size_t cut = cs_chunker_next(c, data + off, n - off, true);
            assert_int_equal(cut, reference_next(c, data + off, n - off, true));
            off += cut;
            cuts++;
        }
        assert_true(cuts > 4);
        /* partial buffers: "need more" answers agree too */
        for (size_t len = c->min - 3; len < c->min + 4096; len += 97)
            assert_int_equal(cs_chunker_next(c, data + 12345, len, false),
                             reference_next(c, data + 12345, len, false));
    }
    free(data);
}

static void test_seal_binds_type_and_id(void **state)
{
    cs_buf ct = CS_BUF_INIT, pt = CS_BUF_INIT;
    cs_id id, other;

    (void)state;
    randombytes_buf(id.b, 32);
    other = id;
    other.b[5] ^= 1;
    assert_int_equal(cs_seal(keys->data, CS_OBJ_SNAPSHOT, &id, "hello", 5, &ct), 0);
    assert_int_equal(cs_unseal(keys->data, CS_OBJ_SNAPSHOT, &id, ct.data, ct.len, &pt), 0);
    assert_memory_equal(pt.data, "hello", 5);
    cs_buf_reset(&pt);
    assert_int_equal(cs_unseal(keys->data, CS_OBJ_INDEX, &id, ct.data, ct.len, &pt), -EBADMSG);
    assert_int_equal(cs_unseal(keys->data, CS_OBJ_SNAPSHOT, &other, ct.data, ct.len, &pt), -EBADMSG);
    for (size_t i = 0; i < ct.len; i++) {
        ct.data[i] ^= 0x40;
        cs_buf_reset(&pt);
        assert_int_equal(cs_unseal(keys->data, CS_OBJ_SNAPSHOT, &id, ct.data, ct.len, &pt), -EBADMSG);
        ct.data[i] ^= 0x40;
    }
    for (size_t l = 0; l < ct.len; l++)
        assert_int_equal(cs_unseal(keys->data, CS_OBJ_SNAPSHOT, &id, ct.data, l, &pt), -EBADMSG);
    cs_buf_free(&ct);
    cs_buf_free(&pt);
}

static void test_blob_roundtrip_compress_and_tamper(void **state)
{
    cs_buf enc = CS_BUF_INIT, tmp = CS_BUF_INIT, out = CS_BUF_INIT;
    size_t n = 1 << 20;
    uint8_t *text = malloc(n), *rnd = malloc(n);
    void *z = cs_zctx_new();
    cs_id id, id2;

    (void)state;
    for (size_t i = 0; i < n; i++)
        text[i] = "the quick brown fox "[i % 20];
    randombytes_buf(rnd, n);
    cs_blob_id(keys, text, n, &id);
    assert_int_equal(cs_blob_seal(keys, CS_BLOB_DATA, &id, text, n, z, &enc), 0);
    assert_true(enc.len < n / 10); /* compressed */
    assert_int_equal(cs_blob_open(keys, CS_BLOB_DATA, &id, enc.data, enc.len, (uint32_t)n, &tmp, &out), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, text, n);
    /* wrong type, wrong raw length, flipped byte */
    assert_int_equal(cs_blob_open(keys, CS_BLOB_TREE, &id, enc.data, enc.len, (uint32_t)n, &tmp, &out), -EBADMSG);
    assert_int_equal(cs_blob_open(keys, CS_BLOB_DATA, &id, enc.data, enc.len, (uint32_t)n - 1, &tmp, &out), -EBADMSG);
    enc.data[enc.len / 2] ^= 1;
    assert_int_equal(cs_blob_open(keys, CS_BLOB_DATA, &id, enc.data, enc.len, (uint32_t)n, &tmp, &out), -EBADMSG);
    /* random data is stored raw (no expansion beyond the fixed overhead) */
    cs_blob_id(keys, rnd, n, &id2);
    assert_int_equal(cs_blob_seal(keys, CS_BLOB_DATA, &id2, rnd, n, z, &enc), 0);
    assert_int_equal(enc.len, n + CS_BLOB_OVERHEAD);
    assert_int_equal(cs_blob_open(keys, CS_BLOB_DATA, &id2, enc.data, enc.len, (uint32_t)n, &tmp, &out), 0);
    /* a valid blob under another id is refused (substitution) */
    assert_int_equal(cs_blob_open(keys, CS_BLOB_DATA, &id, enc.data, enc.len, (uint32_t)n, &tmp, &out), -EBADMSG);
    assert_int_equal(cs_blob_open(keys, CS_BLOB_DATA, &id2, enc.data, 10, (uint32_t)n, &tmp, &out), -EBADMSG);
    /* media with a compressible head or tail (a PDF's text around an image):
     * the middle alone would say "incompressible", the chunk still shrinks */
    for (int end = 0; end < 2; end++) {
        memcpy(rnd + (end ? n - n / 8 : 0), text, n / 8);
        cs_blob_id(keys, rnd, n, &id2);
        assert_int_equal(cs_blob_seal(keys, CS_BLOB_DATA, &id2, rnd, n, z, &enc), 0);
        assert_true(enc.len < n - n / 16);
        assert_int_equal(cs_blob_open(keys, CS_BLOB_DATA, &id2, enc.data, enc.len, (uint32_t)n, &tmp, &out), 0);
        assert_memory_equal(out.data, rnd, n);
        randombytes_buf(rnd, n);
    }
    cs_zctx_free(z);
    free(text);
    free(rnd);
    cs_buf_free(&enc);
    cs_buf_free(&tmp);
    cs_buf_free(&out);
}

/* The compressors' workspaces are allocated once, for the largest input of
 * each size class: compressing any size, big before small and small before
 * big, neither fails for want of memory nor reallocates (which faulted fresh
 * pages in for every regrowth). */
static void test_zctx_workspace_fixed(void **state)
{
    const size_t sizes[] = { 64, 100, 4095, 4096, 5000, 32767, 32768, 65536, 131071, 131072,
                             300000, CS_CHUNK_MAX, CS_CHUNK_MAX + (1u << 20), 64, 4096, 32768 };
    size_t n = CS_CHUNK_MAX + (1u << 20);
    uint8_t *text = malloc(n);
    cs_buf scratch = CS_BUF_INIT;
    void *z = cs_zctx_new();
    size_t held;

    (void)state;
    assert_non_null(text);
    assert_non_null(z);
    for (size_t i = 0; i < n; i++)
        text[i] = (uint8_t)"the quick brown fox jumps over the lazy dog "[(i * 7 + i / 4096) % 44];
    held = cs_zctx_sizeof(z);
    assert_true(held > 0);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            const uint8_t *payload;
            size_t plen;
            uint8_t flag;
            assert_int_equal(cs_blob_payload(z, text, sizes[i], &scratch, &payload, &plen, &flag), 0);
            assert_int_equal(flag, 1); /* compressed: no allocation failure */
            assert_true(plen < sizes[i]);
            assert_int_equal(cs_zctx_sizeof(z), held);
        }
        /* many small inputs after the big ones: zstd shrank its own after 128 */
        for (int i = 0; i < 300; i++) {
            const uint8_t *payload;
            size_t plen;
            uint8_t flag;
            assert_int_equal(cs_blob_payload(z, text + i, 200, &scratch, &payload, &plen, &flag), 0);
        }
        assert_int_equal(cs_zctx_sizeof(z), held);
    }
    cs_zctx_free(z);
    cs_buf_free(&scratch);
    free(text);
}

static void test_pack_header(void **state)
{
    cs_buf pack = CS_BUF_INIT;
    cs_pack_blob b[3], *got = NULL;
    size_t n = 0;

    (void)state;
    for (int i = 0; i < 3; i++) {
        b[i].type = i == 2 ? CS_BLOB_TREE : CS_BLOB_DATA;
        randombytes_buf(b[i].id.b, 32);
        b[i].offset = (uint32_t)pack.len;
        b[i].enc_len = 100 + (uint32_t)i;
        b[i].raw_len = 50;
        uint8_t junk[110] = { 0 };
        cs_buf_append(&pack, junk, b[i].enc_len);
    }
    assert_int_equal(cs_pack_finish(keys, b, 3, &pack), 0);
    assert_int_equal(cs_pack_read_header(keys, pack.data, pack.len, &got, &n), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(got[i].id.b, b[i].id.b, 32);
        assert_int_equal(got[i].offset, b[i].offset);
        assert_int_equal(got[i].enc_len, b[i].enc_len);
    }
    free(got);
    /* truncated anywhere, or a flipped trailer/header byte: refused */
    for (size_t l = 0; l < pack.len; l += 7)
        assert_int_not_equal(cs_pack_read_header(keys, pack.data, l, &got, &n), 0);
    pack.data[pack.len - 1] ^= 1;
    assert_int_equal(cs_pack_read_header(keys, pack.data, pack.len, &got, &n), -EBADMSG);
    pack.data[pack.len - 1] ^= 1;
    pack.data[pack.len - 6] ^= 0x10; /* header length */
    assert_int_equal(cs_pack_read_header(keys, pack.data, pack.len, &got, &n), -EBADMSG);
    cs_buf_free(&pack);
    /* plaintext header parser: counts that do not match the bytes */
    {
        cs_buf h = CS_BUF_INIT;
        cs_put_le32(&h, 1);
        cs_put_le32(&h, 1000000);
        assert_int_equal(cs_pack_header_parse(h.data, h.len, 0, &got, &n), -EBADMSG);
        cs_buf_free(&h);
    }
}

/* The pack-header fallback reads only a pack's tail: the trailer names the
 * sealed header's length, which must fit the pack; a tail too short for the
 * trailer, a wrong magic, an impossible length or a flipped header byte is
 * refused. */
static void test_pack_tail_header(void **state)
{
    cs_buf pack = CS_BUF_INIT;
    cs_pack_blob b = { CS_BLOB_DATA, { { 0 } }, 0, 200, 10 }, *got = NULL;
    uint8_t junk[200] = { 0 };
    size_t n = 0;
    uint32_t hlen;

    (void)state;
    randombytes_buf(b.id.b, 32);
    cs_buf_append(&pack, junk, sizeof(junk));
    assert_int_equal(cs_pack_finish(keys, &b, 1, &pack), 0);
    /* a tail of the last 8 bytes is enough for the trailer */
    assert_int_equal(cs_pack_trailer(pack.data + pack.len - 8, 8, pack.len, &hlen), 0);
    assert_int_equal(cs_pack_open_header(keys, pack.data + pack.len - 8 - hlen, hlen, pack.len, &got, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(got[0].id.b, b.id.b, 32);
    free(got);
    assert_int_equal(cs_pack_trailer(pack.data + pack.len - 7, 7, pack.len, &hlen), -EBADMSG);
    /* a length beyond the pack (as listed) */
    assert_int_equal(cs_pack_trailer(pack.data + pack.len - 8, 8, hlen + 7, &hlen), -EBADMSG);
    /* the header claims the blobs end elsewhere than where it starts */
    assert_int_equal(cs_pack_trailer(pack.data + pack.len - 8, 8, pack.len, &hlen), 0);
    assert_int_equal(cs_pack_open_header(keys, pack.data + pack.len - 8 - hlen, hlen, pack.len + 1, &got, &n),
                     -EBADMSG);
    pack.data[pack.len - 8 - hlen + 30] ^= 4;
    assert_int_equal(cs_pack_open_header(keys, pack.data + pack.len - 8 - hlen, hlen, pack.len, &got, &n),
                     -EBADMSG);
    pack.data[pack.len - 2] ^= 1; /* magic */
    assert_int_equal(cs_pack_trailer(pack.data + pack.len - 8, 8, pack.len, &hlen), -EBADMSG);
    cs_buf_free(&pack);
}

static int count_cb(const cs_index_pack_blobs *p, void *ud)
{
    (*(size_t *)ud) += p->n;
    return 0;
}

static void test_index_roundtrip_and_hostile(void **state)
{
    cs_pack_blob blobs[5];
    cs_index_pack_blobs p = { .size = 10000, .n = 5, .blobs = blobs };
    cs_buf enc = CS_BUF_INIT;
    cs_index ix;
    size_t count = 0;

    (void)state;
    randombytes_buf(p.pack_id.b, 32);
    for (int i = 0; i < 5; i++)
        blobs[i] = (cs_pack_blob){ CS_BLOB_DATA, { { 0 } }, (uint32_t)i * 1000, 900, 800 }, randombytes_buf(blobs[i].id.b, 32);
    assert_int_equal(cs_index_encode(&p, 1, &enc), 0);
    assert_int_equal(cs_index_parse(enc.data, enc.len, count_cb, &count), 0);
    assert_int_equal(count, 5);
    assert_int_equal(cs_index_init(&ix), 0);
    assert_int_equal(cs_index_merge(&ix, enc.data, enc.len), 0);
    assert_non_null(cs_index_find(&ix, &blobs[3].id));
    assert_int_equal(cs_index_find(&ix, &blobs[3].id)->offset, 3000);
    assert_int_equal(ix.npacks, 1);
    /* the same pack named by two index objects (interrupted prune) is one pack */
    assert_int_equal(cs_index_merge(&ix, enc.data, enc.len), 0);
    assert_int_equal(ix.npacks, 1);
    /* truncation at every length */
    for (size_t l = 0; l < enc.len; l++)
        assert_int_equal(cs_index_parse(enc.data, l, count_cb, &count), -EBADMSG);
    /* trailing garbage, a blob past the pack's end, a bad type */
    cs_buf_append(&enc, "x", 1);
    assert_int_equal(cs_index_parse(enc.data, enc.len, count_cb, &count), -EBADMSG);
    blobs[4].offset = 9500;
    cs_buf_reset(&enc);
    cs_index_encode(&p, 1, &enc);
    assert_int_equal(cs_index_parse(enc.data, enc.len, count_cb, &count), -EBADMSG);
    blobs[4].offset = 4000;
    blobs[1].type = 9;
    cs_buf_reset(&enc);
    cs_index_encode(&p, 1, &enc);
    assert_int_equal(cs_index_parse(enc.data, enc.len, count_cb, &count), -EBADMSG);
    /* a huge pack count with few bytes allocates nothing */
    cs_buf_reset(&enc);
    cs_put_le32(&enc, 1);
    cs_put_le32(&enc, 0xffffffffu);
    assert_int_equal(cs_index_parse(enc.data, enc.len, count_cb, &count), -EBADMSG);
    /* growth keeps every entry */
    for (int i = 0; i < 5000; i++) {
        cs_id id;
        randombytes_buf(id.b, 32);
        assert_int_equal(cs_index_claim(&ix, &id, CS_BLOB_DATA, NULL), 1);
        assert_int_equal(cs_index_claim(&ix, &id, CS_BLOB_DATA, NULL), 0);
    }
    assert_non_null(cs_index_find(&ix, &blobs[0].id));
    cs_index_free(&ix);
    cs_buf_free(&enc);
}

static void make_node(cs_node *n, const char *name, int type)
{
    memset(n, 0, sizeof(*n));
    n->type = (uint8_t)type;
    n->name = strdup(name);
    n->name_len = (uint16_t)strlen(name);
    n->user = strdup("alice");
    n->group = strdup("users");
    n->mode = 0100644;
    n->mtime_s = 1700000000;
    n->mtime_ns = 123456789;
}

static void test_tree_roundtrip_and_hostile(void **state)
{
    cs_node nodes[4];
    cs_buf enc = CS_BUF_INIT;
    cs_tree t;

    (void)state;
    make_node(&nodes[0], "a file", CS_NODE_FILE);
    nodes[0].ncontent = 2;
    nodes[0].content = calloc(2, sizeof(cs_id));
    nodes[0].nxattrs = 1;
    nodes[0].xattrs = calloc(1, sizeof(cs_xattr));
    nodes[0].xattrs[0].name = strdup("user.k");
    nodes[0].xattrs[0].value = malloc(3);
    memcpy(nodes[0].xattrs[0].value, "v\0w", 3);
    nodes[0].xattrs[0].len = 3;
    make_node(&nodes[1], "dir", CS_NODE_DIR);
    randombytes_buf(nodes[1].subtree.b, 32);
    make_node(&nodes[2], "link\n\xff", CS_NODE_SYMLINK);
    nodes[2].link = strdup("../target");
    nodes[2].link_len = 9;
    make_node(&nodes[3], "zz", CS_NODE_FIFO);
    assert_int_equal(cs_tree_encode(nodes, 4, &enc), 0);
    assert_int_equal(cs_tree_parse(enc.data, enc.len, &t), 0);
    assert_int_equal(t.n, 4);
    assert_string_equal(t.nodes[2].name, "link\n\xff");
    assert_string_equal(t.nodes[2].link, "../target");
    assert_int_equal(t.nodes[0].ncontent, 2);
    assert_int_equal(t.nodes[0].xattrs[0].len, 3);
    assert_memory_equal(t.nodes[0].xattrs[0].value, "v\0w", 3);
    assert_int_equal(t.nodes[0].mtime_ns, 123456789);
    assert_memory_equal(t.nodes[1].subtree.b, nodes[1].subtree.b, 32);
    cs_tree_free(&t);
    for (size_t l = 0; l < enc.len; l++)
        assert_int_equal(cs_tree_parse(enc.data, l, &t), -EBADMSG);
    /* unsorted / duplicate names, '/', '..' and NUL in names are refused */
    {
        cs_node tmp = nodes[0];
        nodes[0] = nodes[1];
        nodes[1] = tmp;
        cs_buf_reset(&enc);
        cs_tree_encode(nodes, 2, &enc);
        assert_int_equal(cs_tree_parse(enc.data, enc.len, &t), -EBADMSG);
        nodes[1] = nodes[0];
        nodes[0] = tmp;
    }
    const char *bad[] = { "a/b", "..", ".", "" };
    for (size_t i = 0; i < 4; i++) {
        cs_node b;
        make_node(&b, "x", CS_NODE_FIFO);
        free(b.name);
        b.name = strdup(bad[i]);
        b.name_len = (uint16_t)strlen(bad[i]);
        cs_buf_reset(&enc);
        cs_tree_encode(&b, 1, &enc);
        assert_int_equal(cs_tree_parse(enc.data, enc.len, &t), -EBADMSG);
        cs_node_clear(&b);
    }
    /* node count far larger than the bytes */
    cs_buf_reset(&enc);
    cs_put_le32(&enc, 1);
    cs_put_le32(&enc, 999999);
    assert_int_equal(cs_tree_parse(enc.data, enc.len, &t), -EBADMSG);
    for (int i = 0; i < 4; i++)
        cs_node_clear(&nodes[i]);
    cs_buf_free(&enc);
}

static void test_snapshot_json_hostile(void **state)
{
    cs_snapshot s;
    const char *good = "{\"time_sec\":5,\"time_ns\":7,\"host\":\"h\",\"paths\":[\"/a\"],\"tags\":[],"
                       "\"tree\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"}";
    const char *bad[] = {
        "", "[]", "{\"time_sec\":5}", "{\"time_sec\":5,\"tree\":\"zz\"}",
        "{\"time_sec\":5,\"time_ns\":1000000000,\"tree\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"}",
        "{\"time_sec\":5,\"paths\":[1],\"tree\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"}",
        "{\"time_sec\":5,\"paths\":\"x\",\"tree\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"}",
    };

    (void)state;
    assert_int_equal(cs_snapshot_parse((const uint8_t *)good, strlen(good), &s), 0);
    assert_int_equal(s.npaths, 1);
    assert_string_equal(s.paths[0], "/a");
    assert_int_equal(s.tree.b[31], 0x1f);
    cs_snapshot_clear(&s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cs_snapshot_parse((const uint8_t *)bad[i], strlen(bad[i]), &s), -EBADMSG);
}

/* Every member is typed by snapshot.c's table: json-c's coercions
 * ("5" as 5, a double as an integer, a uid cut to 32 bits) and a summary
 * of the wrong type are refused instead of read as something else. */
static void test_snapshot_json_typed(void **state)
{
#define TREE "\"tree\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\""
    const char *bad[] = {
        "{\"time_sec\":\"5\"," TREE "}",
        "{\"time_sec\":5.5," TREE "}",
        "{\"time_sec\":5,\"uid\":4294967296," TREE "}",
        "{\"time_sec\":5,\"host\":7," TREE "}",
        "{\"time_sec\":5,\"summary\":[]," TREE "}",
        "{\"time_sec\":5,\"summary\":{\"files_new\":-1}," TREE "}",
        "{\"time_sec\":5,\"parent\":null," TREE "}",
        "{\"time_sec\":5," TREE ",}",
    };
    const char *good = "{\"time_sec\":5,\"summary\":{\"files_new\":3,\"duration\":2,\"future\":1},\"x\":[]," TREE "}";
    cs_snapshot s;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cs_snapshot_parse((const uint8_t *)bad[i], strlen(bad[i]), &s), -EBADMSG);
    assert_int_equal(cs_snapshot_parse((const uint8_t *)good, strlen(good), &s), 0);
    assert_int_equal(s.summary.files_new, 3);
    assert_true(s.summary.duration == 2.0);
    assert_string_equal(s.host, "");
    assert_false(s.has_parent);
    cs_snapshot_clear(&s);
#undef TREE
}

/* One entry of path "/p" (ino 7, size 3, one id of 0x42s, age 0) as
 * version 1 or 2 writes it; 2 adds the flags byte after the age. */
static void fc_image(cs_buf *b, uint32_t version, uint32_t count, uint8_t flags, const uint8_t key[32])
{
    uint8_t pk[16];
    cs_id id;

    memset(id.b, 0x42, sizeof(id.b));
    crypto_generichash(pk, 16, (const uint8_t *)"/p", 2, key, 32);
    cs_put_le32(b, version);
    cs_put_le32(b, count);
    cs_buf_append(b, pk, 16);
    cs_put_le64(b, 7);
    cs_put_le64(b, 3);
    cs_put_le64(b, 100);
    cs_put_le32(b, 5);
    cs_put_le64(b, 200);
    cs_put_le32(b, 6);
    cs_put_le16(b, 0);
    if (version >= 2)
        cs_put_u8(b, flags);
    cs_put_le32(b, 1);
    cs_buf_append(b, id.b, sizeof(id.b));
}

static int fc_parse(uint32_t version, uint32_t count, uint8_t flags, size_t cut, bool *nox)
{
    uint8_t key[32] = { 3 };
    struct stat st = { .st_ino = 7, .st_size = 3 };
    cs_buf b = CS_BUF_INIT;
    cs_fcache *c;
    const cs_id *ids;
    uint32_t n;
    int r;

    st.st_mtim = (struct timespec){ 100, 5 };
    st.st_ctim = (struct timespec){ 200, 6 };
    fc_image(&b, version, count, flags, key);
    assert_int_equal(cs_fcache_new_empty(key, &c), 0);
    r = cs_fcache_parse(c, b.data, b.len - cut);
    if (r == 0) {
        r = cs_fcache_lookup(c, "/p", &st, &ids, &n, nox);
        assert_int_equal(n, 1);
        assert_int_equal(ids[0].b[31], 0x42);
    }
    cs_fcache_free(c);
    cs_buf_free(&b);
    return r;
}

/* Issue 23: version 2 records carry "no xattrs"; version 1 caches still
 * load (their files are asked for xattrs once); truncated, oversized and
 * unknown-version images are refused. */
static void test_filecache_versions(void **state)
{
    bool nox = true;

    (void)state;
    assert_int_equal(fc_parse(1, 1, 0, 0, &nox), 1);
    assert_false(nox);
    assert_int_equal(fc_parse(2, 1, 1, 0, &nox), 1);
    assert_true(nox);
    assert_int_equal(fc_parse(2, 1, 0, 0, &nox), 1);
    assert_false(nox);
    assert_int_equal(fc_parse(2, 1, 1, 1, &nox), -EBADMSG);  /* an id byte short */
    assert_int_equal(fc_parse(2, 1, 1, 40, &nox), -EBADMSG); /* inside the record */
    assert_int_equal(fc_parse(2, 2, 1, 0, &nox), -EBADMSG);  /* count says more */
    assert_int_equal(fc_parse(3, 1, 1, 0, &nox), -EBADMSG);  /* a version to come */
    assert_int_equal(fc_parse(0, 1, 1, 0, &nox), -EBADMSG);
}

static void test_filecache_parse_hostile(void **state)
{
    cs_fcache *c;
    cs_buf b = CS_BUF_INIT;
    uint8_t key[32] = { 1 };

    (void)state;
    cs_put_le32(&b, 1);
    cs_put_le32(&b, 1000000);
    assert_int_equal(cs_fcache_new_empty(key, &c), 0);
    assert_int_equal(cs_fcache_parse(c, b.data, b.len), -EBADMSG);
    cs_fcache_free(c);
    cs_buf_free(&b);
    /* put then lookup: exact stat match only */
    {
        struct stat st = { .st_ino = 5, .st_size = 10 };
        const cs_id *ids;
        uint32_t n;
        bool nox;
        cs_id id = { { 9 } };
        assert_int_equal(cs_fcache_new_empty(key, &c), 0);
        assert_int_equal(cs_fcache_put(c, "/a/b", &st, &id, 1, false), 0);
        assert_int_equal(cs_fcache_lookup(c, "/a/b", &st, &ids, &n, &nox), 1);
        assert_int_equal(n, 1);
        assert_false(nox);
        st.st_mtim.tv_nsec = 1;
        assert_int_equal(cs_fcache_lookup(c, "/a/b", &st, &ids, &n, &nox), 2);
        assert_int_equal(cs_fcache_lookup(c, "/a/c", &st, &ids, &n, &nox), 0);
        for (int i = 0; i < 3000; i++) {
            char p[32];
            snprintf(p, sizeof(p), "/f%d", i);
            assert_int_equal(cs_fcache_put(c, p, &st, &id, 1, i % 2), 0);
        }
        assert_int_equal(cs_fcache_lookup(c, "/f2999", &st, &ids, &n, &nox), 1);
        assert_true(nox);
        cs_fcache_free(c);
    }
}

static void test_forget_policy(void **state)
{
    /* one snapshot every 6 hours for 60 days, oldest first */
    size_t n = 240;
    cs_snapshot *v = calloc(n, sizeof(*v));
    bool *keep = calloc(n, sizeof(bool));
    size_t kept = 0;

    (void)state;
    setenv("TZ", "UTC", 1);
    for (size_t i = 0; i < n; i++)
        v[i].time_sec = 1700000000 + (int64_t)i * 6 * 3600;
    cs_forget_plan(v, n, &(cs_forget_policy){ .last = 2 }, keep);
    for (size_t i = 0; i < n; i++)
        kept += keep[i];
    assert_int_equal(kept, 2);
    assert_true(keep[n - 1] && keep[n - 2]);
    kept = 0;
    cs_forget_plan(v, n, &(cs_forget_policy){ .daily = 7, .weekly = 4 }, keep);
    for (size_t i = 0; i < n; i++)
        kept += keep[i];
    assert_true(keep[n - 1]);
    assert_true(kept >= 7 && kept <= 11); /* 7 days + up to 4 older weeks' newest */
    kept = 0;
    cs_forget_plan(v, n, &(cs_forget_policy){ .monthly = 12 }, keep);
    for (size_t i = 0; i < n; i++)
        kept += keep[i];
    assert_int_equal(kept, 3); /* 60 days span three calendar months */
    free(v);
    free(keep);
}

/* --group-by's words (the grouped plan: test_retention.c) */
static void test_group_by_parse(void **state)
{
    unsigned by;

    (void)state;
    assert_int_equal(cs_group_by_parse("host,paths,tags", &by), 0);
    assert_int_equal(by, CS_GROUP_HOST | CS_GROUP_PATHS | CS_GROUP_TAGS);
    assert_int_equal(cs_group_by_parse("", &by), 0);
    assert_int_equal(by, 0);
    assert_int_equal(cs_group_by_parse("paths,", &by), 0);
    assert_int_equal(by, CS_GROUP_PATHS);
    assert_int_equal(cs_group_by_parse("hosts", &by), -EINVAL);
    assert_int_equal(cs_group_by_parse("host,,tags", &by), -EINVAL);
    assert_int_equal(cs_group_by_parse("hos", &by), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunker_bounds_and_determinism),
        cmocka_unit_test(test_chunker_matches_reference),
        cmocka_unit_test(test_seal_binds_type_and_id),
        cmocka_unit_test(test_blob_roundtrip_compress_and_tamper),
        cmocka_unit_test(test_zctx_workspace_fixed),
        cmocka_unit_test(test_pack_header),
        cmocka_unit_test(test_pack_tail_header),
        cmocka_unit_test(test_index_roundtrip_and_hostile),
        cmocka_unit_test(test_tree_roundtrip_and_hostile),
        cmocka_unit_test(test_snapshot_json_hostile),
        cmocka_unit_test(test_snapshot_json_typed),
        cmocka_unit_test(test_filecache_parse_hostile),
        cmocka_unit_test(test_filecache_versions),
        cmocka_unit_test(test_forget_policy),
        cmocka_unit_test(test_group_by_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
