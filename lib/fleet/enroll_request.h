/* SPDX-License-Identifier: MIT */
/* The enrollment request: what `cloudseal enroll` files in storage so that
 * a fleet admin can pin the new account key (`cloudseal admin approve
 * --from-storage`) without it being typed over.
 *
 *   users/<user>/enrollment-request, JSON (at most 4 KiB):
 *   { "version": 1, "user": "alice", "account_key": "<base64 Ed25519 pk>",
 *     "host": "ws12", "time": 1790000000, "signature": "<base64, 64 bytes>" }
 *
 * The signature is the account key's own (Ed25519, derived from the AMK)
 * over "cloudseal-enrollment-request-v1\0" | user | "\0" | key | host |
 * "\0" | time (8 bytes little-endian): it proves that whoever filed the
 * request holds that account's keys and that nothing in it was changed.
 * It cannot prove who that is: anyone who may write to the bucket can file
 * a request of their own under any name.  So approving shows the key, host
 * and time for the admin to confirm with the user out of band. */
#ifndef CS_FLEET_ENROLL_REQUEST_H
#define CS_FLEET_ENROLL_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "fleet/fleet.h"

#define CS_ENROLL_REQUEST_MAX 4096
#define CS_ENROLL_HOST_MAX 255

typedef struct cs_enroll_request {
    char user[CS_FLEET_NAME_MAX + 1];
    char host[CS_ENROLL_HOST_MAX + 1];
    uint8_t account_key[CS_FLEET_PK_BYTES];
    int64_t time;
} cs_enroll_request;

/* A signed request for user's account; *json is malloc'd, NUL-terminated. */
int cs_enroll_request_make(const char *user, const char *host, int64_t time, const cs_amk *amk, char **json);
/* Parse and verify one.  -EBADMSG (with why in err) for anything malformed,
 * oversized, badly signed, or filed under another user name than expect_user. */
int cs_enroll_request_parse(const void *data, size_t len, const char *expect_user, cs_enroll_request *out,
                            cs_fleet_err *err);

#endif
