/* SPDX-License-Identifier: MIT */
/* The [fleet] state's record of a failed directory sync (sync_status.c):
 * parsed as hostile input, written without disturbing the pinned serial
 * and ETag, dropped by a clear. */
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

#include "config/config.h"
#include "fleet/fleet.h"
#include "util/buf.h"
#include "util/fileio.h"

static int parse(const char *s, cs_fleet_sync_status *st)
{
    return cs_fleet_sync_status_parse(s, strlen(s), st);
}

static void test_parse(void **state)
{
    cs_fleet_sync_status st;
    char big[5000];

    (void)state;
    assert_int_equal(parse("{\"serial\":3,\"etag\":\"x\"}", &st), 0);
    assert_int_equal(st.serial, 3);
    assert_string_equal(st.etag, "x");
    assert_int_equal(st.failed_at, 0);
    assert_int_equal(parse("{\"serial\":3,\"failed_at\":99,\"failure\":\"a\\u0007b\",\"refused\":true}", &st), 0);
    assert_int_equal(st.failed_at, 99);
    assert_true(st.refused);
    assert_string_equal(st.reason, "a?b"); /* never a control character */
    /* truncated, tampered, wrong types: -EBADMSG, all zero */
    assert_int_equal(parse("{\"serial\":3,\"failed_at\":99,\"fail", &st), -EBADMSG);
    assert_int_equal(st.serial, 0);
    assert_int_equal(parse("{\"serial\":3,\"failed_at\":99}", &st), -EBADMSG);
    assert_int_equal(parse("{\"serial\":\"3\"}", &st), -EBADMSG);
    assert_int_equal(parse("{\"serial\":3,\"failed_at\":-1,\"failure\":\"x\"}", &st), -EBADMSG);
    assert_int_equal(parse("{\"failed_at\":9,\"failure\":\"x\",\"refused\":1}", &st), -EBADMSG);
    assert_int_equal(parse("[1]", &st), -EBADMSG);
    assert_int_equal(parse("{\"serial\":3,\"etag\":3}", &st), -EBADMSG);
    snprintf(big, sizeof(big), "{\"etag\":\"%080d\"}", 7); /* longer than any ETag kept */
    assert_int_equal(parse(big, &st), -EBADMSG);
    assert_int_equal(cs_fleet_sync_status_parse("{}\0{}", 5, &st), -EBADMSG);
    /* oversized: refused before parsing; a long reason is cut, terminated */
    memset(big, ' ', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(parse(big, &st), -E2BIG);
    snprintf(big, sizeof(big), "{\"failed_at\":9,\"failure\":\"%0600d\"}", 7);
    assert_int_equal(parse(big, &st), 0);
    assert_int_equal(strlen(st.reason), CS_FLEET_REASON_MAX - 1);
}

static void test_record_and_clear(void **state)
{
    char dir[] = "/tmp/cs-test-fleet-state-XXXXXX", path[256], line[512];
    cs_fleet_sync_status st;
    cs_config *cfg = NULL;
    cs_buf b = CS_BUF_INIT;
    static const char pinned[] = "{\"serial\":7,\"etag\":\"e1\"}";

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state", dir);
    assert_int_equal(cs_config_new_default(&cfg), 0);
    assert_int_equal(cs_config_set(cfg, "fleet", "state", path), 0);
    snprintf(line, sizeof(line), "%s/none.cache", dir);
    assert_int_equal(cs_config_set(cfg, "fleet", "cache", line), 0);
    assert_int_equal(cs_write_file_atomic(path, pinned, strlen(pinned), 0644), 0);

    cs_fleet_sync_record_failure(cfg, 1234, true, "bad\nthing");
    assert_int_equal(cs_fleet_sync_status_read(cfg, &st), 0);
    assert_int_equal(st.serial, 7); /* the pin survives */
    assert_int_equal(st.failed_at, 1234);
    assert_string_equal(st.reason, "bad?thing");
    assert_int_equal(cs_fleet_sync_warning(cfg, &st, line, sizeof(line)), 1);
    assert_non_null(strstr(line, "was refused at 1970-01-01 00:20 UTC: bad?thing; no directory is installed"));
    assert_int_equal(cs_read_file(path, 4096, &b), 0);
    assert_non_null(memmem(b.data, b.len, "\"etag\":\"e1\"", 11));
    cs_buf_free(&b);

    cs_fleet_sync_clear_failure(cfg);
    assert_int_equal(cs_fleet_sync_status_read(cfg, &st), 0);
    assert_int_equal(st.serial, 7);
    assert_int_equal(st.failed_at, 0);
    assert_int_equal(cs_fleet_sync_warning(cfg, &st, line, sizeof(line)), 0);

    /* a damaged state is left alone: rewritten with the failure only, it
     * would lose the serial it pins */
    assert_int_equal(cs_write_file_atomic(path, "{\"serial\":7", 11, 0644), 0);
    cs_fleet_sync_record_failure(cfg, 5, false, "x");
    assert_int_equal(cs_read_file(path, 4096, &b), 0);
    assert_int_equal(b.len, 11);
    cs_buf_free(&b);

    /* no state at all: recorded from scratch */
    unlink(path);
    cs_fleet_sync_record_failure(cfg, 5, false, "x");
    assert_int_equal(cs_fleet_sync_status_read(cfg, &st), 0);
    assert_false(st.refused);
    unlink(path);
    assert_int_equal(cs_fleet_sync_status_read(cfg, &st), -ENOENT);
    rmdir(dir);
    cs_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_record_and_clear),
    };
    return cmocka_run_group_tests_name("fleet_state", tests, NULL, NULL);
}
