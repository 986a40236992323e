/* SPDX-License-Identifier: MIT */
/* lib/util/bytes.c: the bounded binary reader (truncation at every byte,
 * overflowing length prefixes, trailing bytes, sticky errors) and the
 * writer's byte order, pinned byte for byte. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/bytes.h"

/* One record with every field type; the exact bytes it must encode to. */
static const uint8_t record[] = {
    0x7f,                                           /* u8 */
    0x34, 0x12,                                     /* le16 0x1234 */
    0x78, 0x56, 0x34, 0x12,                         /* le32 0x12345678 */
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* le64 0x0102030405060708 */
    0x12, 0x34, 0x56, 0x78,                         /* be32 0x12345678 */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* be64 0x0102030405060708 */
    0x02, 'h', 'i',                                 /* lp8 "hi" */
    0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c',          /* lp_be32 "abc" */
    0x04, 'u', 's', 'e', 'r',                       /* str8 "user" */
    0xaa, 0xbb,                                     /* 2 raw bytes */
};

static int write_record(cs_buf *b)
{
    int r = cs_put_u8(b, 0x7f);

    if (r == 0) r = cs_put_le16(b, 0x1234);
    if (r == 0) r = cs_put_le32(b, 0x12345678);
    if (r == 0) r = cs_put_le64(b, 0x0102030405060708ull);
    if (r == 0) r = cs_put_be32(b, 0x12345678);
    if (r == 0) r = cs_put_be64(b, 0x0102030405060708ull);
    if (r == 0) r = cs_put_lp8(b, "hi", 2);
    if (r == 0) r = cs_put_lp_be32(b, "abc", 3);
    if (r == 0) r = cs_put_str8(b, "user");
    if (r == 0) r = cs_buf_append(b, "\xaa\xbb", 2);
    return r;
}

/* Read the whole record; the first getter's error, or 0. */
static int read_record(cs_reader *rd, char str[8])
{
    uint8_t u8, raw[2];
    uint16_t v16;
    uint32_t v32, b32;
    uint64_t v64, b64;
    const uint8_t *p1, *p2;
    size_t n1, n2;
    int r[10];

    r[0] = cs_get_u8(rd, &u8);
    r[1] = cs_get_le16(rd, &v16);
    r[2] = cs_get_le32(rd, &v32);
    r[3] = cs_get_le64(rd, &v64);
    r[4] = cs_get_be32(rd, &b32);
    r[5] = cs_get_be64(rd, &b64);
    r[6] = cs_get_lp8(rd, &p1, &n1);
    r[7] = cs_get_lp_be32(rd, &p2, &n2);
    r[8] = cs_get_str8(rd, str, 8);
    r[9] = cs_get_copy(rd, raw, 2);
    for (int i = 0; i < 10; i++) {
        if (r[i] < 0) {
            /* sticky: every later getter failed too */
            for (int j = i; j < 10; j++)
                assert_int_equal(r[j], -EBADMSG);
            assert_int_equal(rd->err, -EBADMSG);
            assert_int_equal(cs_rd_left(rd), 0);
            return r[i];
        }
    }
    assert_int_equal(u8, 0x7f);
    assert_int_equal(v16, 0x1234);
    assert_int_equal(v32, 0x12345678);
    assert_true(v64 == 0x0102030405060708ull);
    assert_int_equal(b32, 0x12345678);
    assert_true(b64 == 0x0102030405060708ull);
    assert_int_equal(n1, 2);
    assert_memory_equal(p1, "hi", 2);
    assert_int_equal(n2, 3);
    assert_memory_equal(p2, "abc", 3);
    assert_string_equal(str, "user");
    assert_memory_equal(raw, "\xaa\xbb", 2);
    return 0;
}

static void test_writer_byte_order(void **state)
{
    cs_buf b = CS_BUF_INIT;

    (void)state;
    assert_int_equal(write_record(&b), 0);
    assert_int_equal(b.len, sizeof(record));
    assert_memory_equal(b.data, record, sizeof(record));
    cs_buf_free(&b);
}

static void test_reader_roundtrip(void **state)
{
    cs_reader rd = cs_rd_init(record, sizeof(record));
    char str[8];

    (void)state;
    assert_int_equal(read_record(&rd, str), 0);
    assert_int_equal(cs_rd_left(&rd), 0);
    assert_int_equal(cs_rd_end(&rd), 0);
}

/* Every proper prefix fails cleanly; each one is its own heap block, so
 * ASan reports a read one byte past the end. */
static void test_truncated_at_every_byte(void **state)
{
    (void)state;
    for (size_t n = 0; n < sizeof(record); n++) {
        uint8_t *copy = malloc(n ? n : 1);
        cs_reader rd;
        char str[8];

        assert_non_null(copy);
        memcpy(copy, record, n);
        rd = cs_rd_init(copy, n);
        assert_int_equal(read_record(&rd, str), -EBADMSG);
        assert_int_equal(cs_rd_end(&rd), -EBADMSG);
        free(copy);
    }
}

static void test_trailing_bytes(void **state)
{
    uint8_t buf[sizeof(record) + 1];
    cs_reader rd;
    char str[8];

    (void)state;
    memcpy(buf, record, sizeof(record));
    buf[sizeof(record)] = 0;
    rd = cs_rd_init(buf, sizeof(buf));
    assert_int_equal(read_record(&rd, str), 0);
    assert_int_equal(cs_rd_left(&rd), 1);
    assert_int_equal(cs_rd_end(&rd), -EBADMSG);
}

static void test_length_prefix_overflow(void **state)
{
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'x', 'y' };
    static const uint8_t lp8[] = { 0x05, 'x', 'y' };
    const uint8_t *p = (const uint8_t *)"";
    size_t n = 0;
    uint32_t v = 1;
    cs_reader rd;

    (void)state;
    rd = cs_rd_init(huge, sizeof(huge));
    n = 1;
    assert_int_equal(cs_get_lp_be32(&rd, &p, &n), -EBADMSG);
    assert_null(p);
    assert_int_equal(n, 0);
    /* failed for good: the two bytes left are not handed out */
    assert_int_equal(cs_get_bytes(&rd, 1, &p), -EBADMSG);
    assert_int_equal(cs_get_le32(&rd, &v), -EBADMSG);
    assert_int_equal(v, 0);

    rd = cs_rd_init(lp8, sizeof(lp8));
    assert_int_equal(cs_get_lp8(&rd, &p, &n), -EBADMSG);
    assert_null(p);

    /* a SIZE_MAX request cannot wrap the bounds check */
    rd = cs_rd_init(lp8, sizeof(lp8));
    assert_int_equal(cs_get_bytes(&rd, SIZE_MAX, &p), -EBADMSG);
}

static void test_str8_tampered(void **state)
{
    static const uint8_t nul[] = { 0x03, 'a', 0, 'b' };
    static const uint8_t ok[] = { 0x03, 'a', 'b', 'c' };
    char dst[4];
    cs_reader rd;

    (void)state;
    rd = cs_rd_init(nul, sizeof(nul));
    assert_int_equal(cs_get_str8(&rd, dst, sizeof(dst)), -EBADMSG);
    assert_int_equal(rd.err, -EBADMSG);
    rd = cs_rd_init(ok, sizeof(ok));
    assert_int_equal(cs_get_str8(&rd, dst, 3), -EBADMSG); /* no room for the NUL */
    assert_string_equal(dst, "");
    rd = cs_rd_init(ok, sizeof(ok));
    assert_int_equal(cs_get_str8(&rd, dst, sizeof(dst)), 0);
    assert_string_equal(dst, "abc");
    assert_int_equal(cs_rd_end(&rd), 0);
}

static void test_fail_marks_reader(void **state)
{
    static const uint8_t two[] = { 1, 2 };
    cs_reader rd = cs_rd_init(two, sizeof(two));
    uint8_t v = 9;

    (void)state;
    assert_int_equal(cs_rd_fail(&rd), -EBADMSG);
    assert_int_equal(cs_get_u8(&rd, &v), -EBADMSG);
    assert_int_equal(v, 0);
    assert_int_equal(cs_rd_end(&rd), -EBADMSG);
}

static void test_writer_limits(void **state)
{
    char name[257];
    cs_buf b = CS_BUF_INIT;

    (void)state;
    memset(name, 'a', 256);
    name[256] = '\0';
    assert_int_equal(cs_put_lp8(&b, name, 256), -EMSGSIZE);
    assert_int_equal(cs_put_str8(&b, name), -ENAMETOOLONG);
    assert_int_equal(b.len, 0);
    name[255] = '\0';
    assert_int_equal(cs_put_str8(&b, name), 0);
    assert_int_equal(b.len, 256);
    cs_buf_free(&b);

    b.limit = 3;
    assert_int_equal(cs_put_le32(&b, 1), -EMSGSIZE);
    assert_int_equal(cs_put_le16(&b, 1), 0);
    assert_int_equal(cs_put_le16(&b, 1), -EMSGSIZE);
    cs_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_byte_order),
        cmocka_unit_test(test_reader_roundtrip),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_length_prefix_overflow),
        cmocka_unit_test(test_str8_tampered),
        cmocka_unit_test(test_fail_marks_reader),
        cmocka_unit_test(test_writer_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
