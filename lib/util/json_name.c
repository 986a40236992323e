/* SPDX-License-Identifier: MIT */
/* File names in JSON output.  JSON text is UTF-8, a Unix file name is any
 * bytes but '/' and NUL: a name that is not UTF-8 written as it is makes the
 * whole document unreadable to a strict parser.  Such a name goes out twice:
 * for people, with each byte that is not part of a valid UTF-8 sequence
 * replaced by U+FFFD; for programs, exactly, as base64 in KEY_base64.  An
 * array of names likewise: KEY_base64 is an array of the same length, null
 * where the name went out as it is, present only when one did not. */
#include "util/json.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "util/buf.h"

size_t cs_utf8_sequence(const char *s, size_t left)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0)
            lo = 0xa0;          /* overlong */
        else if (p[0] == 0xed)
            hi = 0x9f;          /* surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0)
            lo = 0x90;          /* overlong */
        else if (p[0] == 0xf4)
            hi = 0x8f;          /* above U+10FFFF */
    } else
        return 0;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

bool cs_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if (!(n = cs_utf8_sequence(s + i, len - i)))
            return false;
    return true;
}

/* s with every invalid byte replaced by U+FFFD, NUL-terminated. */
static int utf8_replace(const char *s, size_t len, char **out)
{
    cs_buf b = CS_BUF_INIT;
    int r = 0;

    for (size_t i = 0, n; r >= 0 && i < len; i += n) {
        n = cs_utf8_sequence(s + i, len - i);
        if (n)
            r = cs_buf_append(&b, s + i, n);
        else {
            r = cs_buf_append(&b, "\xef\xbf\xbd", 3);
            n = 1;
        }
    }
    if (r >= 0)
        r = cs_buf_append(&b, "", 1);
    if (r < 0) {
        cs_buf_free(&b);
        return r;
    }
    *out = (char *)b.data;
    return 0;
}

/* name as base64, a new string object, or NULL. */
static json_object *base64_string(const char *name, size_t len)
{
    size_t b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    json_object *v;

    if (!b64)
        return NULL;
    sodium_bin2base64(b64, b64_len, (const unsigned char *)name, len, sodium_base64_VARIANT_ORIGINAL);
    v = json_object_new_string(b64);
    free(b64);
    return v;
}

/* name for people: as it is when valid UTF-8, else with U+FFFD. */
static json_object *shown_string(const char *name, size_t len)
{
    char *shown = NULL;
    json_object *v;

    if (cs_utf8_valid(name, len))
        return json_object_new_string_len(name, (int)len);
    if (utf8_replace(name, len, &shown) < 0)
        return NULL;
    v = json_object_new_string(shown);
    free(shown);
    return v;
}

static int add(json_object *o, const char *key, json_object *v)
{
    if (!v || json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

int cs_json_add_names(json_object *o, const char *key, char *const *names, size_t n)
{
    json_object *shown = json_object_new_array(), *exact = NULL;
    char *b64_key = NULL;
    int r = -ENOMEM;

    assert(o && key && (names || n == 0));
    for (size_t i = 0; shown && i < n; i++) {
        size_t len = strlen(names[i]);
        bool valid = cs_utf8_valid(names[i], len);
        json_object *v = shown_string(names[i], len);

        if (!v || json_object_array_add(shown, v) < 0) {
            json_object_put(v);
            goto out;
        }
        if (valid && !exact)
            continue;
        if (!exact) { /* the first invalid name: nulls for the valid ones before it */
            if (!(exact = json_object_new_array()))
                goto out;
            for (size_t k = 0; k < i; k++)
                if (json_object_array_add(exact, NULL) < 0)
                    goto out;
        }
        v = valid ? NULL : base64_string(names[i], len);
        if ((!valid && !v) || json_object_array_add(exact, v) < 0) {
            json_object_put(v);
            goto out;
        }
    }
    if (!shown || (exact && asprintf(&b64_key, "%s_base64", key) < 0))
        goto out;
    r = add(o, key, shown);
    shown = NULL;
    if (r == 0 && exact) {
        r = add(o, b64_key, exact);
        exact = NULL;
    }
out:
    json_object_put(shown);
    json_object_put(exact);
    free(b64_key);
    return r;
}

int cs_json_add_name(json_object *o, const char *key, const char *name)
{
    size_t len = strlen(name);
    char *b64_key = NULL;
    int r;

    assert(o && key && name);
    r = add(o, key, shown_string(name, len));
    if (r < 0 || cs_utf8_valid(name, len))
        return r;
    if (asprintf(&b64_key, "%s_base64", key) < 0)
        return -ENOMEM;
    r = add(o, b64_key, base64_string(name, len));
    free(b64_key);
    return r;
}
