/* SPDX-License-Identifier: MIT */
/* Strict JSON parsing and table-driven member dispatch: see json.h. */
#include "util/json.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

int cs_json_fail(cs_json_error *err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

static int parse_fail(const char **why, const char *what, int r)
{
    if (why)
        *why = what;
    return r;
}

int cs_json_parse_ex(const char *s, size_t len, size_t max_len, int max_depth, json_object **out, const char **why)
{
    json_tokener *tok;
    json_object *root;
    enum json_tokener_error e;
    size_t end;

    *out = NULL;
    if (len > max_len || len > INT32_MAX)
        return parse_fail(why, "too large", -E2BIG);
    if (len == 0)
        return parse_fail(why, "empty", -EBADMSG);
    if (memchr(s, '\0', len))
        return parse_fail(why, "a NUL byte inside", -EBADMSG);
    tok = json_tokener_new_ex(max_depth);
    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, s, (int)len);
    e = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || e != json_tokener_success) {
        json_object_put(root);
        return parse_fail(why, e == json_tokener_continue ? "truncated" : json_tokener_error_desc(e), -EBADMSG);
    }
    /* only whitespace may follow the value: a second document is an attack
     * on whoever reads the first one only */
    for (; end < len; end++)
        if (!strchr(" \t\r\n", s[end])) {
            json_object_put(root);
            return parse_fail(why, "trailing data after the value", -EBADMSG);
        }
    *out = root;
    return 0;
}

int cs_json_parse(const char *s, size_t len, json_object **out)
{
    return cs_json_parse_ex(s, len, CS_JSON_MAX_BYTES, CS_JSON_MAX_DEPTH, out, NULL);
}

int cs_json_parse_object(const char *s, size_t len, size_t max_len, int max_depth, json_object **out,
                         const char **why)
{
    int r = cs_json_parse_ex(s, len, max_len, max_depth, out, why);

    if (r == 0 && !json_object_is_type(*out, json_type_object)) {
        json_object_put(*out);
        *out = NULL;
        return parse_fail(why, "not a JSON object", -EBADMSG);
    }
    return r;
}

static const cs_json_field *find_field(const cs_json_field *t, const char *name)
{
    for (; t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

/* A JSON integer as int64 or uint64, and whether it is negative: json-c
 * keeps either, and clips int64 reads of a large uint64 to INT64_MAX.
 * It also clamps what does not fit 64 bits to INT64_MIN or UINT64_MAX
 * while parsing, silently: those two values are refused as out of range,
 * whatever the table says, since they may stand for any larger number. */
static int get_integer(const cs_json_field *f, json_object *v, bool *neg, uint64_t *mag, cs_json_error *err)
{
    int64_t i;

    if (!json_object_is_type(v, json_type_int))
        return cs_json_fail(err, "field '%s' is not an integer", f->name);
    i = json_object_get_int64(v);
    *neg = i < 0;
    *mag = i < 0 ? (uint64_t)(-(i + 1)) + 1 : i == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)i;
    if (i == INT64_MIN || *mag == UINT64_MAX)
        return cs_json_fail(err, "field '%s' is out of range", f->name);
    return 0;
}

/* Within [lo, hi], which may be wider than any uint64 or int64 alone. */
static bool in_range(bool neg, uint64_t mag, int64_t lo, uint64_t hi)
{
    if (neg)
        return lo < 0 && mag <= (uint64_t)(-(lo + 1)) + 1;
    return (lo < 0 || mag >= (uint64_t)lo) && mag <= hi;
}

static int put_integer(const cs_json_field *f, json_object *v, void *p, cs_json_error *err)
{
    static const struct {
        int64_t lo;
        uint64_t hi;
    } full[] = {
        [CS_JSON_TYPE_I64] = { INT64_MIN, INT64_MAX },
        [CS_JSON_TYPE_U64] = { 0, UINT64_MAX },
        [CS_JSON_TYPE_U32] = { 0, UINT32_MAX },
        [CS_JSON_TYPE_INT] = { INT_MIN, INT_MAX },
    };
    int64_t lo = full[f->type].lo;
    uint64_t hi = full[f->type].hi;
    bool neg = false;
    uint64_t mag = 0;
    int r = get_integer(f, v, &neg, &mag, err);

    if (r < 0)
        return r;
    if (f->min != 0 || f->max != 0) { /* the table's range, within the type's */
        lo = f->min > lo ? f->min : lo;
        hi = f->max < hi ? f->max : hi;
    }
    if (!in_range(neg, mag, lo, hi))
        return cs_json_fail(err, "field '%s' is out of range", f->name);
    if (f->type == CS_JSON_TYPE_I64)
        *(int64_t *)p = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
    else if (f->type == CS_JSON_TYPE_U64)
        *(uint64_t *)p = mag;
    else if (f->type == CS_JSON_TYPE_INT)
        *(int *)p = neg ? -(int)(mag - 1) - 1 : (int)mag;
    else
        *(uint32_t *)p = (uint32_t)mag;
    return 0;
}

/* A string member's text, refused when it is not a string, holds a NUL or
 * has a length outside [min, max]. */
static const char *get_string(const cs_json_field *f, json_object *v, cs_json_error *err)
{
    size_t n;

    if (!json_object_is_type(v, json_type_string))
        return cs_json_fail(err, "field '%s' is not a string", f->name), NULL;
    n = (size_t)json_object_get_string_len(v);
    if (strlen(json_object_get_string(v)) != n)
        return cs_json_fail(err, "field '%s' holds a NUL character", f->name), NULL;
    if (n > f->max)
        return cs_json_fail(err, "field '%s' is longer than %llu bytes", f->name, (unsigned long long)f->max), NULL;
    if (f->min > 0 && n < (size_t)f->min)
        return cs_json_fail(err, "field '%s' is shorter than %lld bytes", f->name, (long long)f->min), NULL;
    return json_object_get_string(v);
}

static int put_bytes(const cs_json_field *f, json_object *v, void *p, cs_json_error *err)
{
    cs_json_field bound = *f;
    const char *s, *end = NULL;
    size_t got = 0;
    int r;

    bound.min = 0;
    bound.max = f->type == CS_JSON_TYPE_HEX ? 2 * f->max : sodium_base64_ENCODED_LEN(f->max, sodium_base64_VARIANT_ORIGINAL);
    if (!(s = get_string(&bound, v, err)))
        return -EBADMSG;
    if (f->type == CS_JSON_TYPE_HEX)
        r = sodium_hex2bin(p, f->max, s, strlen(s), NULL, &got, &end) == 0 && end == s + strlen(s) ? 0 : -1;
    else
        r = sodium_base642bin(p, f->max, s, strlen(s), NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL);
    if (r != 0 || got != f->max)
        return cs_json_fail(err, "field '%s' is not %s of %llu bytes", f->name,
                            f->type == CS_JSON_TYPE_HEX ? "hex" : "base64", (unsigned long long)f->max);
    return 0;
}

static int put_string(const cs_json_field *f, json_object *v, void *p, cs_json_error *err)
{
    const char *s = get_string(f, v, err);
    char *copy;

    if (!s)
        return -EBADMSG;
    if (f->type == CS_JSON_TYPE_STRBUF) {
        memcpy(p, s, strlen(s) + 1);
        return 0;
    }
    if (!(copy = strdup(s)))
        return -ENOMEM;
    free(*(char **)p);
    *(char **)p = copy;
    return 0;
}

static int put_simple(const cs_json_field *f, json_object *v, void *p, cs_json_error *err)
{
    if (f->type == CS_JSON_TYPE_BOOL) {
        if (!json_object_is_type(v, json_type_boolean))
            return cs_json_fail(err, "field '%s' is not true or false", f->name);
        *(bool *)p = json_object_get_boolean(v);
        return 0;
    }
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return cs_json_fail(err, "field '%s' is not a number", f->name);
    *(double *)p = json_object_get_double(v);
    return 0;
}

static int put_nested(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    bool object = f->type == CS_JSON_TYPE_OBJECT;

    if (!json_object_is_type(v, object ? json_type_object : json_type_array))
        return cs_json_fail(err, "field '%s' is not %s", f->name, object ? "an object" : "an array");
    return f->cb(f, v, base, err);
}

static int put_field(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    void *p = (char *)base + f->offset;

    switch (f->type) {
    case CS_JSON_TYPE_STRING:
    case CS_JSON_TYPE_STRBUF:
        return put_string(f, v, p, err);
    case CS_JSON_TYPE_I64:
    case CS_JSON_TYPE_U64:
    case CS_JSON_TYPE_U32:
    case CS_JSON_TYPE_INT:
        return put_integer(f, v, p, err);
    case CS_JSON_TYPE_BOOL:
    case CS_JSON_TYPE_DOUBLE:
        return put_simple(f, v, p, err);
    case CS_JSON_TYPE_B64:
    case CS_JSON_TYPE_HEX:
        return put_bytes(f, v, p, err);
    case CS_JSON_TYPE_OBJECT:
    case CS_JSON_TYPE_ARRAY:
        return put_nested(f, v, base, err);
    case CS_JSON_TYPE_CUSTOM:
        return f->cb(f, v, base, err);
    }
    return -EINVAL;
}

int cs_json_dispatch_value(json_object *v, const cs_json_field *f, void *p, cs_json_error *err)
{
    cs_json_field one = *f;

    one.offset = 0;
    return put_field(&one, v, p, err);
}

int cs_json_dispatch(json_object *o, const cs_json_field *table, unsigned flags, void *base, cs_json_error *err)
{
    uint64_t seen = 0;
    size_t i;
    int r;

    if (!json_object_is_type(o, json_type_object))
        return cs_json_fail(err, "not a JSON object");
    /* members in document order, so that the first error reported is the
     * first in the text; one pass, each member looked up in the table */
    json_object_object_foreach(o, key, val) {
        const cs_json_field *f = find_field(table, key);

        if (!f) {
            if (flags & CS_JSON_REFUSE_UNKNOWN)
                return cs_json_fail(err, "unknown field '%.64s'", key);
            continue;
        }
        assert(f - table < 64);
        seen |= UINT64_C(1) << (f - table);
        if ((r = put_field(f, val, base, err)) < 0)
            return r;
    }
    for (i = 0; table[i].name; i++)
        if ((table[i].flags & CS_JSON_MANDATORY) && !(seen & (UINT64_C(1) << i)))
            return cs_json_fail(err, "field '%s' missing", table[i].name);
    return 0;
}
