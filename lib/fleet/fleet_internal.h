/* SPDX-License-Identifier: MIT */
/* Helpers shared by the lib/fleet sources only. */
#ifndef CS_FLEET_INTERNAL_H
#define CS_FLEET_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include "fleet/fleet.h"

/* Arrays of users, groups and names grow by doubling at powers of two
 * (directory.c); an array created with n entries must have this capacity. */
static inline size_t cs_fleet_capacity(size_t n)
{
    size_t c = 1;

    while (c < n)
        c <<= 1;
    return c;
}

__attribute__((format(printf, 2, 3)))
static inline int cs_fleet_fail(cs_fleet_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* small_object.c: the small JSON objects users file for admins (keybag
 * seal, enrollment request, escrow), {"version": 1, "user": ..., ...}. */
#include <json-c/json.h>
#include "crypto/keys.h"
#include "util/buf.h"
#include "util/bytes.h"
#include "util/json.h"

typedef struct cs_fleet_small {
    int64_t version;
    char user[CS_FLEET_NAME_MAX + 1];
} cs_fleet_small;
/* The table entries of the members every small object has, for a struct T
 * holding a cs_fleet_small named head. */
#define CS_FLEET_SMALL_FIELDS(T)                                     \
    CS_JSON_I64("version", T, head.version, 0, 0, CS_JSON_MANDATORY), \
        CS_JSON_STRBUF("user", T, head.user, CS_JSON_MANDATORY)
#define CS_FLEET_SIG64_BYTES 89 /* sodium_base64_ENCODED_LEN(64, ORIGINAL) */

/* Read data (at most max bytes): strict JSON, version 1, a valid user
 * (expect_user's, unless NULL) into *head, then the members by the table
 * into base.  -EBADMSG with the reason in err, -ENOMEM. */
int cs_fleet_small_read(const void *data, size_t len, size_t max, const cs_json_field *fields, unsigned flags,
                        cs_fleet_small *head, void *base, const char *expect_user, cs_fleet_err *err);
/* A new {"version": 1, "user": user}; its text into *json (malloc'd), consuming o. */
json_object *cs_fleet_small_new(const char *user);
int cs_fleet_small_finish(json_object *o, char **json);
/* The signed bytes start with the domain and the user, both NUL-ended;
 * numbers follow as 8 bytes little-endian (cs_put_le64). */
int cs_fleet_small_message(cs_buf *m, const char *domain, const char *user);
/* Sign m with amk's account key, the signature in base64 into sig64. */
int cs_fleet_small_sign(const cs_buf *m, const cs_amk *amk, char sig64[CS_FLEET_SIG64_BYTES]);

#endif
