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

/* small_object.c: strict parse of a flat JSON object of at most max bytes
 * (-EBADMSG with the reason in err); a string member of at most max bytes
 * without NUL (NULL if not); a base64 member of exactly len bytes; version. */
#include <json-c/json.h>
/* A new {"version": 1, "user": user}; its text into *json (malloc'd), consuming o. */
json_object *cs_fleet_small_new(const char *user);
int cs_fleet_small_finish(json_object *o, char **json);
int cs_fleet_small_json(const void *data, size_t len, size_t max, json_object **out, cs_fleet_err *err);
const char *cs_fleet_json_str(json_object *o, const char *name, size_t max);
int cs_fleet_json_b64(json_object *o, const char *name, uint8_t *out, size_t len);
int cs_fleet_json_version(json_object *o, int64_t want);
/* Version 1 and a valid "user" (expect_user's, unless NULL): the user, else
 * NULL with the reason in err. */
const char *cs_fleet_small_user(json_object *o, const char *expect_user, cs_fleet_err *err);

#endif
