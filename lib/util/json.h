/* SPDX-License-Identifier: MIT */
/* The one way untrusted JSON enters cloudseal: cs_json_parse() turns bytes
 * into a json-c tree (strict, bounded, one value and nothing after it), and
 * cs_json_dispatch() moves an object's members into a C struct by a table,
 * in the style of systemd's sd_json_dispatch:
 *
 *     static const cs_json_field fields[] = {
 *         CS_JSON_I64("time", struct x, time, 0, INT64_MAX - 1, CS_JSON_MANDATORY),
 *         CS_JSON_B64("salt", struct x, salt, CS_JSON_MANDATORY),
 *         {}
 *     };
 *     r = cs_json_dispatch(obj, fields, CS_JSON_REFUSE_UNKNOWN, &x, &err);
 *
 * Every type check, range check and length bound lives here, so a reader
 * only states what it expects; an error names the member ("field 'time'
 * missing") for the reader to prefix with its format's name.
 *
 * Duplicate members: json-c keeps the last value of a repeated key (the
 * tokener replaces the earlier one), so "{"a":1,"a":2}" reads as a = 2.
 * Readers that must refuse a repeat cannot see it through json-c.
 */
#ifndef CS_UTIL_JSON_H
#define CS_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define CS_JSON_MAX_BYTES (64u << 20) /* cs_json_parse()'s bound; readers pass their own, smaller */
#define CS_JSON_MAX_DEPTH 16

/* Parse len bytes of JSON text (no NUL inside, only whitespace after the
 * value) with json-c in strict mode, nested at most max_depth deep.
 * 0 and *out (put it with json_object_put), -E2BIG longer than max_len,
 * -EBADMSG not one JSON value, -ENOMEM.  *why, when given, says what was
 * wrong in a few words (a static string). */
int cs_json_parse_ex(const char *s, size_t len, size_t max_len, int max_depth, json_object **out, const char **why);
/* The same with CS_JSON_MAX_BYTES and CS_JSON_MAX_DEPTH. */
int cs_json_parse(const char *s, size_t len, json_object **out);
/* cs_json_parse_ex() that also wants an object at the top. */
int cs_json_parse_object(const char *s, size_t len, size_t max_len, int max_depth, json_object **out,
                         const char **why);

typedef struct cs_json_error {
    char msg[192];
} cs_json_error;

typedef enum cs_json_type {
    CS_JSON_TYPE_STRING, /* char *, strdup()ed: the caller frees it; at most .max bytes */
    CS_JSON_TYPE_STRBUF, /* char[.max + 1], NUL-ended */
    CS_JSON_TYPE_I64,    /* int64_t in [.min, .max] */
    CS_JSON_TYPE_U64,    /* uint64_t in [.min, .max] */
    CS_JSON_TYPE_U32,    /* uint32_t in [.min, .max] */
    CS_JSON_TYPE_INT,    /* int in [.min, .max] */
    CS_JSON_TYPE_BOOL,   /* bool */
    CS_JSON_TYPE_DOUBLE, /* double; a JSON integer is taken as well */
    CS_JSON_TYPE_B64,    /* uint8_t[.max], standard base64 of exactly .max bytes */
    CS_JSON_TYPE_HEX,    /* uint8_t[.max], hex (either case) of exactly .max bytes */
    CS_JSON_TYPE_OBJECT, /* .cb with a JSON object */
    CS_JSON_TYPE_ARRAY,  /* .cb with a JSON array */
    CS_JSON_TYPE_CUSTOM, /* .cb with a value of any type (a key in hex or base64, say) */
} cs_json_type;

#define CS_JSON_MANDATORY (1u << 0) /* field flag: absent is an error */
#define CS_JSON_REFUSE_UNKNOWN (1u << 0) /* table flag: a member not in the table is an error */

typedef struct cs_json_field cs_json_field;
/* A nested object or array: v is of the field's JSON type, base the struct
 * given to cs_json_dispatch(); returns 0 or a negative errno, with err set
 * (cs_json_fail()) when it refuses. */
typedef int (*cs_json_cb)(const cs_json_field *f, json_object *v, void *base, cs_json_error *err);

struct cs_json_field {
    const char *name; /* NULL ends the table */
    cs_json_type type;
    size_t offset; /* of the member in the struct */
    unsigned flags;
    int64_t min; /* integers: the range; string, strbuf: the least length */
    uint64_t max; /* integers: the range; string, strbuf: the most bytes; b64, hex: the bytes */
    cs_json_cb cb;
};

#define CS_JSON__SIZE(T, m) sizeof(((T *)0)->m)
#define CS_JSON_STRING(n, T, m, maxlen, fl) \
    { .name = n, .type = CS_JSON_TYPE_STRING, .offset = offsetof(T, m), .flags = fl, .max = maxlen }
#define CS_JSON_STRBUF(n, T, m, fl)                                                            \
    { .name = n, .type = CS_JSON_TYPE_STRBUF, .offset = offsetof(T, m), .flags = fl,          \
      .max = CS_JSON__SIZE(T, m) - 1 }
#define CS_JSON_I64(n, T, m, lo, hi, fl) \
    { .name = n, .type = CS_JSON_TYPE_I64, .offset = offsetof(T, m), .flags = fl, .min = lo, .max = hi }
#define CS_JSON_U64(n, T, m, lo, hi, fl) \
    { .name = n, .type = CS_JSON_TYPE_U64, .offset = offsetof(T, m), .flags = fl, .min = lo, .max = hi }
#define CS_JSON_U32(n, T, m, lo, hi, fl) \
    { .name = n, .type = CS_JSON_TYPE_U32, .offset = offsetof(T, m), .flags = fl, .min = lo, .max = hi }
#define CS_JSON_INT(n, T, m, lo, hi, fl) \
    { .name = n, .type = CS_JSON_TYPE_INT, .offset = offsetof(T, m), .flags = fl, .min = lo, .max = hi }
#define CS_JSON_BOOL(n, T, m, fl) \
    { .name = n, .type = CS_JSON_TYPE_BOOL, .offset = offsetof(T, m), .flags = fl }
#define CS_JSON_DOUBLE(n, T, m, fl) \
    { .name = n, .type = CS_JSON_TYPE_DOUBLE, .offset = offsetof(T, m), .flags = fl }
#define CS_JSON_B64(n, T, m, fl)                                                               \
    { .name = n, .type = CS_JSON_TYPE_B64, .offset = offsetof(T, m), .flags = fl,             \
      .max = CS_JSON__SIZE(T, m) }
#define CS_JSON_HEX(n, T, m, fl)                                                               \
    { .name = n, .type = CS_JSON_TYPE_HEX, .offset = offsetof(T, m), .flags = fl,             \
      .max = CS_JSON__SIZE(T, m) }
#define CS_JSON_OBJECT(n, callback, fl) { .name = n, .type = CS_JSON_TYPE_OBJECT, .flags = fl, .cb = callback }
#define CS_JSON_ARRAY(n, callback, fl) { .name = n, .type = CS_JSON_TYPE_ARRAY, .flags = fl, .cb = callback }
/* The callback finds its member at (char *)base + f->offset. */
#define CS_JSON_CUSTOM(n, T, m, callback, fl) \
    { .name = n, .type = CS_JSON_TYPE_CUSTOM, .offset = offsetof(T, m), .flags = fl, .cb = callback }

/* Fill base's members from the object o by the table (ended by a field
 * whose name is NULL, at most 64 fields), member by member in document
 * order, then check that the mandatory ones were there.  Absent optional
 * members leave base untouched.
 * 0, -EBADMSG (err names the field), -ENOMEM; a callback's error as is.
 * On an error some members may be filled (CS_JSON_STRING ones allocated):
 * the caller clears the struct as it would any other. */
int cs_json_dispatch(json_object *o, const cs_json_field *table, unsigned flags, void *base, cs_json_error *err);

/* One value by one field (its name for messages, its type and bounds; its
 * offset is ignored) into p: an array's elements, say. */
int cs_json_dispatch_value(json_object *v, const cs_json_field *f, void *p, cs_json_error *err);

/* Set err's message (when err is not NULL) and return -EBADMSG. */
int cs_json_fail(cs_json_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void cs_json_putp(json_object **o)
{
    if (*o)
        json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(cs_json_putp)))

/* Whether s[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool cs_utf8_valid(const char *s, size_t len);
/* The length of the valid UTF-8 sequence at s (at most left >= 1 bytes),
 * or 0 when s[0] does not start one (the rules above). */
size_t cs_utf8_sequence(const char *s, size_t left);

/* Add a file name (any bytes) under key.  Valid UTF-8 goes out as it is;
 * otherwise key holds it with each invalid byte replaced by U+FFFD and
 * key_base64 the exact bytes.  0 or -ENOMEM. */
int cs_json_add_name(json_object *o, const char *key, const char *name);
/* The same for an array of n names: key an array of them, each as above;
 * when any is not UTF-8, key_base64 an array of the same length holding the
 * exact bytes of those and null for the others.  0 or -ENOMEM. */
int cs_json_add_names(json_object *o, const char *key, char *const *names, size_t n);

#endif
