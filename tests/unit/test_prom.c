/* SPDX-License-Identifier: MIT */
/* lib/util/prom.c: a label value holding a quote, a backslash, a newline
 * or bytes that are not UTF-8 stays inside its quotes, on its own line,
 * and reads back (as a Prometheus parser reads it) as it was written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/json.h"
#include "util/prom.h"

static char *sample(const char *name, const char *const *labels, uint64_t value)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    assert_int_equal(cs_prom_sample(f, name, labels, value), 0);
    assert_int_equal(fclose(f), 0);
    assert_true(cs_utf8_valid(text, len));
    return text;
}

/* One quoted value at *p, unescaped as the text format defines it (only
 * \\, \" and \n); *p left after its closing quote.  NULL: not a value. */
static char *unquote(const char **p)
{
    const char *s = *p;
    char *out = calloc(strlen(s) + 1, 1), *o = out;

    assert_non_null(out);
    if (*s++ != '"')
        goto bad;
    for (; *s && *s != '"' && *s != '\n'; s++) {
        if (*s != '\\') {
            *o++ = *s;
            continue;
        }
        s++;
        if (*s == '\\' || *s == '"')
            *o++ = *s;
        else if (*s == 'n')
            *o++ = '\n';
        else
            goto bad;
    }
    if (*s != '"')
        goto bad;
    *p = s + 1;
    return out;
bad:
    free(out);
    return NULL;
}

/* text is exactly one sample line `name{k="v",...} value`: its values
 * into got (n of them, in order), each key checked against want's. */
static void parse_line(const char *text, const char *name, const char *const *want, char **got, size_t n,
                       const char *value)
{
    const char *p = text, *nl = strchr(text, '\n');
    size_t i = 0;

    assert_non_null(nl);
    assert_string_equal(nl + 1, ""); /* nothing after the one line: no line injected */
    assert_memory_equal(p, name, strlen(name));
    p += strlen(name);
    assert_int_equal(*p++, '{');
    for (; i < n; i++) {
        size_t k = strlen(want[2 * i]);
        assert_memory_equal(p, want[2 * i], k);
        p += k;
        assert_int_equal(*p++, '=');
        got[i] = unquote(&p);
        assert_non_null(got[i]);
        assert_int_equal(*p++, i + 1 < n ? ',' : '}');
    }
    assert_int_equal(*p++, ' ');
    assert_memory_equal(p, value, strlen(value));
    assert_ptr_equal(p + strlen(value), nl);
}

static void test_hostile_values_stay_in_their_label(void **state)
{
    const char *user = "ev\"il\\na\nme\xe9", *host = "x\"} 1\ncloudseal_snapshots{user=\"root\",host=\"h\"} 9";
    const char *labels[] = { "user", user, "host", host, "class", "none", NULL };
    char *text = sample("cloudseal_last_error", labels, 1), *got[3];

    parse_line(text, "cloudseal_last_error", labels, got, 3, "1");
    assert_string_equal(got[0], "ev\"il\\na\nme\xef\xbf\xbd"); /* Latin-1 0xe9: U+FFFD */
    assert_string_equal(got[1], host);
    assert_string_equal(got[2], "none");
    for (size_t i = 0; i < 3; i++)
        free(got[i]);
    free(text);
    (void)state;
}

static void test_plain_values_are_written_as_they_are(void **state)
{
    const char *labels[] = { "user", "alice", "host", "ws-a.example", NULL };
    char *text = sample("cloudseal_snapshots", labels, 18446744073709551615ull);

    assert_string_equal(text, "cloudseal_snapshots{user=\"alice\",host=\"ws-a.example\"} 18446744073709551615\n");
    free(text);
    text = sample("cloudseal_up", NULL, 0);
    assert_string_equal(text, "cloudseal_up 0\n");
    free(text);
    (void)state;
}

static void test_utf8_is_kept_and_broken_sequences_replaced(void **state)
{
    /* valid: é, €, 😀; then a truncated sequence, an overlong '/', a surrogate */
    const char *labels[] = { "host", "caf\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80", NULL };
    char *text = sample("m", labels, 2), *got[1];

    parse_line(text, "m", labels, got, 1, "2");
    assert_string_equal(got[0], "caf\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xef\xbf\xbd\xef\xbf\xbd|"
                                "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(got[0]);
    free(text);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_values_stay_in_their_label),
        cmocka_unit_test(test_plain_values_are_written_as_they_are),
        cmocka_unit_test(test_utf8_is_kept_and_broken_sequences_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
