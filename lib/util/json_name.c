/* SPDX-License-Identifier: MIT */
/* File names in JSON output.  JSON text is UTF-8, a Unix file name is any
 * bytes but '/' and NUL: a name that is not UTF-8 written as it is makes the
 * whole document unreadable to a strict parser.  Such a name goes out twice:
 * for people, with each byte that is not part of a valid UTF-8 sequence
 * replaced by U+FFFD; for programs, exactly, as base64 in KEY_base64. */
#include "util/json.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "util/buf.h"

/* The length of the valid UTF-8 sequence at p (at most left bytes), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_sequence(const unsigned char *p, size_t left)
{
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
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0, n; i < len; i += n)
        if (!(n = utf8_sequence(p + i, len - i)))
            return false;
    return true;
}

/* s with every invalid byte replaced by U+FFFD, NUL-terminated. */
static int utf8_replace(const char *s, size_t len, char **out)
{
    const unsigned char *p = (const unsigned char *)s;
    cs_buf b = CS_BUF_INIT;
    int r = 0;

    for (size_t i = 0, n; r >= 0 && i < len; i += n) {
        n = utf8_sequence(p + i, len - i);
        if (n)
            r = cs_buf_append(&b, p + i, n);
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

int cs_json_add_name(json_object *o, const char *key, const char *name)
{
    size_t len = strlen(name), b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *shown = NULL, *b64 = NULL, *b64_key = NULL;
    json_object *v;
    int r = -ENOMEM;

    assert(o && key && name);
    if (cs_utf8_valid(name, len)) {
        v = json_object_new_string_len(name, (int)len);
        return v && json_object_object_add(o, key, v) == 0 ? 0 : (json_object_put(v), -ENOMEM);
    }
    if (utf8_replace(name, len, &shown) < 0 || !(b64 = malloc(b64_len)) || asprintf(&b64_key, "%s_base64", key) < 0) {
        b64_key = NULL;
        goto out;
    }
    sodium_bin2base64(b64, b64_len, (const unsigned char *)name, len, sodium_base64_VARIANT_ORIGINAL);
    v = json_object_new_string(shown);
    if (!v || json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        goto out;
    }
    v = json_object_new_string(b64);
    if (!v || json_object_object_add(o, b64_key, v) < 0) {
        json_object_put(v);
        goto out;
    }
    r = 0;
out:
    free(shown);
    free(b64);
    free(b64_key);
    return r;
}
