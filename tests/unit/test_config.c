/* SPDX-License-Identifier: MIT */
/* cloudseal.conf: parsing, errors, bounds, durations, sizes, defaults. */
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
#include "util/fileio.h"

static char path[] = "/tmp/cs-test-config-XXXXXX";

static int load_text(const char *text, cs_config **out)
{
    int fd = mkstemp(path);
    int r;

    assert_true(fd >= 0);
    assert_int_equal(cs_write_all(fd, text, strlen(text)), 0);
    close(fd);
    r = cs_config_load(path, out);
    unlink(path);
    strcpy(path, "/tmp/cs-test-config-XXXXXX");
    return r;
}

static void test_defaults_valid(void **state)
{
    cs_config *c = NULL;

    /* every declared default must pass its own validation */
    assert_int_equal(cs_config_new_default(&c), 0);
    for (size_t i = 0; cs_config_keys[i].section; i++) {
        const cs_config_key *k = &cs_config_keys[i];
        if (k->default_value && cs_config_set(c, k->section, k->key, k->default_value) != 0)
            fail_msg("default of [%s] %s (%s) is invalid", k->section, k->key, k->default_value);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->section, cs_config_keys[j].section) && !strcmp(k->key, cs_config_keys[j].key))
                fail_msg("[%s] %s declared twice", k->section, k->key);
    }
    assert_int_equal(cs_config_int(c, "kdf", "memory"), 256LL << 20);
    assert_int_equal(cs_config_int(c, "kdf", "target_time_ms"), 700);
    assert_int_equal(cs_config_int(c, "storage", "login_timeout"), 3);
    cs_config_free(c);
}

static void test_missing_file(void **state)
{
    cs_config *c = NULL;

    /* named on purpose (--config, $CLOUDSEAL_CONFIG): it must exist */
    assert_int_equal(cs_config_load("/nonexistent/cloudseal.conf", &c), -ENOENT);
    assert_null(c);
    /* and set something: an empty or comment-only file is a mistake */
    assert_int_equal(load_text("", &c), -EINVAL);
    assert_int_equal(load_text("; nothing\n\n[storage]\n", &c), -EINVAL);
    assert_int_equal(cs_config_new_default(&c), 0);
    assert_string_equal(cs_config_str(c, "paths", "state_dir"), "/var/lib/cloudseal");
    cs_config_free(c);
}

static void test_duplicate_key(void **state)
{
    cs_config *c = NULL;

    /* the same key twice in one section, or in two blocks of one section */
    assert_int_equal(load_text("[kdf]\nmemory = 8M\nmemory = 16M\n", &c), -EINVAL);
    assert_int_equal(load_text("[kdf]\nmemory = 8M\n[storage]\nlogin_timeout = 2\n[kdf]\nmemory = 9M\n", &c),
                     -EINVAL);
    /* the same name in two sections is two keys */
    assert_int_equal(load_text("[storage]\nconnect_timeout = 5\nrequest_timeout = 5\n"
                               "[kdf]\nmemory = 8M\n", &c), 0);
    cs_config_free(c);
}

static void test_errors(void **state)
{
    static const char *bad[] = {
        "[storage]\nlogin_timeout = 0\n",        /* below min */
        "[storage]\nlogin_timeout = 61\n",       /* above max */
        "[storage]\nlogin_timeout = 5x\n",       /* bad suffix */
        "[storage]\nlogin_timeout = -1\n",       /* negative */
        "[storage]\nlogin_timeout = \n",         /* empty */
        "[storage]\npath_style = maybe\n",       /* bad bool */
        "[kdf]\nmemory = 1K\n",                  /* below 8 MiB */
        "[kdf]\nmemory = 5G\n",                  /* above 4 GiB */
        "[kdf]\nmemory = 1T\n",                  /* unknown suffix */
        "[kdf]\nmemory = 99999999999999999999999M\n", /* overflow */
        "[kdf]\ntarget_time_ms = 12ms\n",        /* ints take no suffix */
        "[kdf]\nmin_ops = 65\n",
        "[kdf\nmemory = 8M\n",                   /* syntax */
        "just a line without equals\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_config *c = NULL;
        if (load_text(bad[i], &c) != -EINVAL)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_good_file(void **state)
{
    cs_config *c = NULL;

    assert_int_equal(load_text("[storage]\nurl = s3://127.0.0.1:9000/b\nlogin_timeout = 1min\n"
                               "connect_timeout = 45\npath_style = off\n"
                               "[kdf]\nmemory = 512M\ntarget_time_ms = 900\nmin_ops = 2\n"
                               "[unknown]\nfoo = bar\n", &c), 0);
    assert_string_equal(cs_config_str(c, "storage", "url"), "s3://127.0.0.1:9000/b");
    assert_int_equal(cs_config_int(c, "storage", "login_timeout"), 60);
    assert_int_equal(cs_config_int(c, "storage", "connect_timeout"), 45);
    assert_false(cs_config_bool(c, "storage", "path_style"));
    assert_int_equal(cs_config_int(c, "kdf", "memory"), 512LL << 20);
    assert_int_equal(cs_config_int(c, "kdf", "min_ops"), 2);
    cs_config_free(c);
}

/* End-of-line comments as README.md writes them: after a space or tab, a
 * # or ; starts a comment; inside a word it is part of the value. */
static void test_inline_comments(void **state)
{
    cs_config *c = NULL;

    assert_int_equal(load_text("[storage]\nurl = s3://h/b#frag   # or file:///srv/cloudseal (NFS)\n"
                               "[session]\nlock = reboot\t# stay unlocked\n"
                               "[agent]\ninterval = 30min ; half-hourly\n"
                               "[backup]\nexclude = a#b c;d #\n"
                               "[archive]\nmaildir = # nothing but a comment\n", &c), 0);
    assert_string_equal(cs_config_str(c, "storage", "url"), "s3://h/b#frag");
    assert_string_equal(cs_config_str(c, "session", "lock"), "reboot");
    assert_int_equal(cs_config_int(c, "agent", "interval"), 1800);
    assert_string_equal(cs_config_str(c, "backup", "exclude"), "a#b c;d");
    assert_string_equal(cs_config_str(c, "archive", "maildir"), "");
    cs_config_free(c);
}

/* Keys that take one of a few words are checked when the file is read, and
 * the message says what was expected. */
static void test_choices(void **state)
{
    cs_config *c = NULL;
    char buf[160];

    assert_int_equal(load_text("[session]\nlock = logout          # or reboot: stay unlocked\n", &c), 0);
    assert_string_equal(cs_config_str(c, "session", "lock"), "logout");
    cs_config_free(c);
    c = NULL;
    assert_int_equal(load_text("[session]\nlock = sometimes\n", &c), -EINVAL);
    assert_int_equal(load_text("[storage]\nconditional_put = maybe\n", &c), -EINVAL);
    for (size_t i = 0; cs_config_keys[i].section; i++) {
        const cs_config_key *k = &cs_config_keys[i];
        cs_config_expected(k, buf, sizeof(buf));
        if (!strcmp(k->section, "session") && !strcmp(k->key, "lock"))
            assert_string_equal(buf, "logout or reboot");
        if (!strcmp(k->section, "agent") && !strcmp(k->key, "interval"))
            assert_string_equal(buf, "a duration like 1h or 30min, from 1s to 1w");
        if (!strcmp(k->section, "kdf") && !strcmp(k->key, "memory"))
            assert_string_equal(buf, "a size like 256M or 1G, from 8M to 4G");
        if (!strcmp(k->section, "kdf") && !strcmp(k->key, "min_ops"))
            assert_string_equal(buf, "a whole number from 1 to 64");
    }
}

static void test_parsers(void **state)
{
    int64_t v;
    bool b;

    assert_int_equal(cs_parse_duration("90", &v), 0);  assert_int_equal(v, 90);
    assert_int_equal(cs_parse_duration("3s", &v), 0);  assert_int_equal(v, 3);
    assert_int_equal(cs_parse_duration("2min", &v), 0); assert_int_equal(v, 120);
    assert_int_equal(cs_parse_duration("2h", &v), 0);  assert_int_equal(v, 7200);
    assert_int_equal(cs_parse_duration("1d", &v), 0);  assert_int_equal(v, 86400);
    assert_int_equal(cs_parse_duration("1w", &v), 0);  assert_int_equal(v, 604800);
    assert_int_equal(cs_parse_duration("", &v), -EINVAL);
    assert_int_equal(cs_parse_duration("s", &v), -EINVAL);
    assert_int_equal(cs_parse_duration("-5", &v), -EINVAL);
    assert_int_equal(cs_parse_duration("5y", &v), -EINVAL);
    assert_int_equal(cs_parse_duration("99999999999999999w", &v), -ERANGE);
    assert_int_equal(cs_parse_size("8M", &v), 0);      assert_int_equal(v, 8 << 20);
    assert_int_equal(cs_parse_size("4G", &v), 0);      assert_int_equal(v, 4LL << 30);
    assert_int_equal(cs_parse_size("16KiB", &v), 0);   assert_int_equal(v, 16 << 10);
    assert_int_equal(cs_parse_size("100", &v), 0);     assert_int_equal(v, 100);
    assert_int_equal(cs_parse_size("1.5G", &v), -EINVAL);
    assert_int_equal(cs_parse_size("M", &v), -EINVAL);
    assert_int_equal(cs_parse_size("18446744073709551615", &v), -ERANGE);
    assert_int_equal(cs_parse_bool("Yes", &b), 0);     assert_true(b);
    assert_int_equal(cs_parse_bool("off", &b), 0);     assert_false(b);
    assert_int_equal(cs_parse_bool("2", &b), -EINVAL);
}

static void test_set(void **state)
{
    cs_config *c = NULL;

    assert_int_equal(cs_config_new_default(&c), 0);
    assert_int_equal(cs_config_set(c, "nope", "nope", "1"), -ENOENT);
    assert_int_equal(cs_config_set(c, "kdf", "target_time_ms", "0"), -ERANGE);
    assert_int_equal(cs_config_set(c, "kdf", "target_time_ms", "5"), 0);
    assert_int_equal(cs_config_int(c, "kdf", "target_time_ms"), 5);
    cs_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_valid),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_inline_comments),
        cmocka_unit_test(test_choices),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_set),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
