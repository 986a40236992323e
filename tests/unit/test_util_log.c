/* SPDX-License-Identifier: MIT */
/* lib/util/log.c: log_*_errno() with the reason at the end or in place
 * ("%m"), byte for byte the text the strerror() calls it replaced printed,
 * and cs_format_errno() for messages kept in a buffer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/log.h"

/* Run the logging in fn with stderr sent to a file; its text in out. */
static void capture(void (*fn)(void), char *out, size_t n)
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t len;

    assert_non_null(f);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    fn();
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(f);
    len = fread(out, 1, n - 1, f);
    out[len] = '\0';
    fclose(f);
}

static int ret;

static void at_end(void)
{
    ret = log_error_errno(-ENOENT, "cannot read %s", "/x");
}

static void in_place(void)
{
    ret = log_warning_errno(-EACCES, "cannot read %s (%m); run '%s'", "/x", "cloudseal check");
}

static void literal_percent(void)
{
    ret = log_error_errno(-EIO, "100%%m done");
}

static void positive(void)
{
    ret = log_error_errno(ENOSPC, "full");
}

static void not_printed(void)
{
    ret = log_debug_errno(-EIO, "quiet %m");
}

static void test_reason_at_end(void **state)
{
    char out[512];

    (void)state;
    capture(at_end, out, sizeof(out));
    assert_string_equal(out, "cloudseal: cannot read /x: No such file or directory\n");
    assert_int_equal(ret, -ENOENT);
}

static void test_reason_in_place(void **state)
{
    char out[512], want[512];

    (void)state;
    snprintf(want, sizeof(want), "cloudseal: cannot read /x (%s); run 'cloudseal check'\n", strerror(EACCES));
    errno = EAGAIN;
    capture(in_place, out, sizeof(out));
    assert_string_equal(out, want);
    assert_int_equal(ret, -EACCES);
    assert_int_equal(errno, EAGAIN); /* a caller may still look at errno */
}

static void test_literal_percent_and_sign(void **state)
{
    char out[512];

    (void)state;
    capture(literal_percent, out, sizeof(out));
    assert_string_equal(out, "cloudseal: 100%m done: Input/output error\n");
    capture(positive, out, sizeof(out));
    assert_string_equal(out, "cloudseal: full: No space left on device\n");
    assert_int_equal(ret, ENOSPC);
    capture(not_printed, out, sizeof(out));
    assert_string_equal(out, "");
    assert_int_equal(ret, -EIO);
}

static void test_format_errno(void **state)
{
    char buf[64], small[12];

    (void)state;
    errno = EAGAIN;
    assert_int_equal(cs_format_errno(buf, sizeof(buf), -ENOENT, "cannot open %s: %m", "it"), -ENOENT);
    assert_string_equal(buf, "cannot open it: No such file or directory");
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(cs_format_errno(buf, sizeof(buf), -EIO, "no reason"), -EIO);
    assert_string_equal(buf, "no reason"); /* nothing appended to a kept message */
    cs_format_errno(small, sizeof(small), -ENOENT, "%m");
    assert_string_equal(small, "No such fil");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_at_end), cmocka_unit_test(test_reason_in_place),
        cmocka_unit_test(test_literal_percent_and_sign), cmocka_unit_test(test_format_errno),
    };

    unsetenv("JOURNAL_STREAM");
    cs_log_setup("cloudseal", LOG_INFO);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
