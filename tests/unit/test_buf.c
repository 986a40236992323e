/* SPDX-License-Identifier: MIT */
/* lib/util/buf.c: the wipe covers every byte a writer may have written
 * (through len, through a reservation past len, before a shrink, across a
 * growth) and not the capacity it never touched. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <malloc.h>

#include "util/buf.h"

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* A writer that fills its reservation and fails before it moves len
 * (cs_unseal decrypting tampered input): the bytes are wiped. */
static void test_wipe_reserve_and_write(void **state)
{
    cs_buf b = CS_BUF_INIT;

    (void)state;
    assert_int_equal(cs_buf_append(&b, "head", 4), 0);
    assert_int_equal(cs_buf_reserve(&b, 100), 0);
    memset(b.data + b.len, 0xaa, 100);
    cs_buf_wipe(&b);
    assert_int_equal(b.len, 0);
    assert_true(all(b.data, 104, 0));
    cs_buf_free(&b);
}

/* Capacity past every reservation (the doubling's slack) holds nothing:
 * the wipe leaves it alone, so its pages are never faulted in.  The 0x55
 * stands for a page the wipe must not touch. */
static void test_wipe_stops_at_written(void **state)
{
    cs_buf b = CS_BUF_INIT;

    (void)state;
    assert_int_equal(cs_buf_reserve(&b, 10), 0);
    assert_true(b.cap >= 200);
    memset(b.data, 0xaa, 10);
    b.data[199] = 0x55;
    b.len = 10;
    cs_buf_wipe(&b);
    assert_true(all(b.data, 10, 0));
    assert_int_equal(b.data[199], 0x55);
    cs_buf_free(&b);
}

/* len made smaller by the writer: what was past the new len is wiped. */
static void test_wipe_after_shrink(void **state)
{
    cs_buf b = CS_BUF_INIT;
    uint8_t secret[1000];

    (void)state;
    memset(secret, 0xaa, sizeof(secret));
    assert_int_equal(cs_buf_append(&b, secret, sizeof(secret)), 0);
    b.len = 10;
    cs_buf_reset(&b);
    assert_int_equal(cs_buf_append(&b, "x", 1), 0);
    cs_buf_wipe(&b);
    assert_true(all(b.data, sizeof(secret), 0));
    cs_buf_free(&b);
}

/* Grown by realloc: the bytes written before the growth (moved with it)
 * and after it, through len and through a reservation, are all wiped. */
static void test_wipe_after_growth(void **state)
{
    cs_buf b = CS_BUF_INIT;
    uint8_t secret[300];
    size_t end;

    (void)state;
    memset(secret, 0xaa, sizeof(secret));
    assert_int_equal(cs_buf_append(&b, secret, 200), 0);
    assert_int_equal(b.cap, 256);
    assert_int_equal(cs_buf_append(&b, secret, sizeof(secret)), 0);
    assert_true(b.cap > 256);
    assert_int_equal(cs_buf_reserve(&b, 1000), 0);
    memset(b.data + b.len, 0xbb, 1000);
    end = b.len + 1000;
    cs_buf_wipe(&b);
    assert_true(all(b.data, end, 0));
    cs_buf_free(&b);
}

/* A buffer kept across uses (pack buffers): a wipe resets the mark, so the
 * next, smaller use is wiped only as far as it wrote. */
static void test_wipe_resets_mark(void **state)
{
    cs_buf b = CS_BUF_INIT;

    (void)state;
    assert_int_equal(cs_buf_reserve(&b, 4096), 0);
    memset(b.data, 0xaa, 4096);
    b.len = 4096;
    cs_buf_wipe(&b);
    assert_true(all(b.data, 4096, 0));
    b.data[1000] = 0x55;
    assert_int_equal(cs_buf_append(&b, "y", 1), 0);
    cs_buf_wipe(&b);
    assert_int_equal(b.data[0], 0);
    assert_int_equal(b.data[1000], 0x55);
    cs_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.written, 0);
}

/* The limit still holds, and a refused reservation marks nothing. */
static void test_reserve_past_limit(void **state)
{
    cs_buf b = CS_BUF_INIT;

    (void)state;
    b.limit = 64;
    assert_int_equal(cs_buf_reserve(&b, 65), -EMSGSIZE);
    assert_int_equal(b.written, 0);
    assert_int_equal(cs_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(cs_buf_reserve(&b, 55), -EMSGSIZE);
    assert_int_equal(b.written, 10);
    cs_buf_free(&b);
}

#ifndef __SANITIZE_ADDRESS__ /* ASan brings its own allocator: no interposing it */
/* The heap as the test sees it: realloc here always moves the block (as
 * glibc's does whenever it cannot grow it in place), and free looks at the
 * watched block as it goes back to the heap: a stale copy is caught where
 * it is left, whatever the allocator would have done with it later. */
extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);
static const void *watched;
static bool watched_freed, watched_stale;

void free(void *p)
{
    if (p && p == watched) {
        watched_freed = true;
        watched_stale = !all(p, 1000, 0);
        watched = NULL;
    }
    __libc_free(p);
}

void *realloc(void *p, size_t n)
{
    void *q = __libc_malloc(n);
    size_t old = p ? malloc_usable_size(p) : 0;

    if (!q)
        return NULL;
    if (p) {
        memcpy(q, p, old < n ? old : n);
        free(p);
    }
    return q;
}

/* Growth never leaves the old block's bytes in the heap: the block is
 * zero when it is freed, and the bytes moved to the new one intact. */
static void test_growth_leaves_no_copy(void **state)
{
    cs_buf b = CS_BUF_INIT;
    uint8_t secret[1000];

    (void)state;
    memset(secret, 0xaa, sizeof(secret));
    assert_int_equal(cs_buf_append(&b, secret, sizeof(secret)), 0);
    assert_int_equal(b.cap, 1024);
    watched = b.data;
    watched_freed = watched_stale = false;
    assert_int_equal(cs_buf_reserve(&b, 1000), 0);
    assert_true(watched_freed);
    assert_false(watched_stale);
    assert_int_equal(b.len, sizeof(secret));
    assert_memory_equal(b.data, secret, sizeof(secret));
    /* emptied (a scratch buffer between uses), then grown: nothing to
     * keep, and nothing left behind either */
    memset(b.data, 0xaa, b.len);
    cs_buf_reset(&b);
    watched = b.data;
    watched_freed = watched_stale = false;
    assert_int_equal(cs_buf_reserve(&b, b.cap + 1), 0);
    assert_true(watched_freed);
    assert_false(watched_stale);
    cs_buf_free(&b);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wipe_reserve_and_write),
        cmocka_unit_test(test_wipe_stops_at_written),
        cmocka_unit_test(test_wipe_after_shrink),
        cmocka_unit_test(test_wipe_after_growth),
        cmocka_unit_test(test_wipe_resets_mark),
        cmocka_unit_test(test_reserve_past_limit),
#ifndef __SANITIZE_ADDRESS__
        cmocka_unit_test(test_growth_leaves_no_copy),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
