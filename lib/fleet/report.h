/* SPDX-License-Identifier: MIT */
/* Fleet backup health reports (docs/reports.md): a small status object per
 * user and host, signed with the user's account key and then sealed to the
 * fleet's report key, at fleet/reports/<user>/<host_id>.
 *
 *   object = "CSRPT\0\0\1" || crypto_box_seal(sig[64] || body || zeros)
 *   sig    = Ed25519(account sk, "cloudseal report v1\0" || body)
 *
 * The body names its own user and host_id: an inner report moved to another
 * path is refused (the outer box is anonymous, see the doc). */
#ifndef CS_FLEET_REPORT_H
#define CS_FLEET_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "fleet/fleet.h"
#include "util/buf.h"

#define CS_REPORT_OBJECT_MAX 4096
#define CS_REPORT_BODY_MAX 2048
#define CS_REPORT_HOST_MAX 64
#define CS_REPORT_HOST_ID_HEX 32
#define CS_REPORT_VERSION_MAX 32
#define CS_REPORT_FUTURE_SKEW 600 /* seconds a report may be ahead of the reader's clock */
#define CS_REPORT_PREFIX "fleet/reports/"

typedef enum cs_report_error {
    CS_REPORT_ERR_NONE,
    CS_REPORT_ERR_UNREACHABLE,
    CS_REPORT_ERR_LOCKED,
    CS_REPORT_ERR_NO_REPOSITORY,
    CS_REPORT_ERR_NEEDS_CONSENT,
    CS_REPORT_ERR_FAILED,
    CS_REPORT_ERR_OTHER, /* read only: a class this version does not know */
} cs_report_error;

typedef struct cs_report {
    char user[CS_FLEET_NAME_MAX + 1];
    char host[CS_REPORT_HOST_MAX + 1];
    char host_id[CS_REPORT_HOST_ID_HEX + 1];
    uint64_t sequence;
    int64_t time;
    char agent_version[CS_REPORT_VERSION_MAX + 1];
    int64_t last_backup, last_sync; /* 0: never */
    uint64_t snapshots, repo_bytes;
    cs_report_error last_error;
    int64_t last_error_time;
} cs_report;

/* What a reader makes of one object (cs_report_check). */
typedef enum cs_report_state {
    CS_REPORT_OK,
    CS_REPORT_INVALID,      /* cannot be opened or parsed */
    CS_REPORT_FORGED,       /* signature does not verify with the pinned key */
    CS_REPORT_UNKNOWN_USER, /* not in the directory, disabled or no key pinned */
    CS_REPORT_MISPLACED,    /* user/host_id differ from the object's path */
    CS_REPORT_FUTURE,       /* time beyond the reader's clock + skew */
    CS_REPORT_REPLAYED,     /* older than one already seen (the reader's state) */
} cs_report_state;

const char *cs_report_error_name(cs_report_error e);
cs_report_error cs_report_error_from_name(const char *s); /* unknown: OTHER */
const char *cs_report_state_name(cs_report_state s);
bool cs_report_host_id_valid(const char *s);

/* fleet/reports/<user>/<host_id>; -EINVAL for an invalid name or id. */
int cs_report_key(const char *user, const char *host_id, char *out, size_t len);
/* The body's JSON (malloc'd) after checking every member's bounds. */
int cs_report_to_json(const cs_report *r, char **json);
/* Strict parse of a body: -EBADMSG (why in err) unless every member is
 * present, typed and bounded, and nothing else is. */
int cs_report_parse(const char *data, size_t len, cs_report *out, cs_fleet_err *err);
/* Sign r with amk's account key and seal it to report_pk into out. */
int cs_report_seal(const cs_report *r, const cs_amk *amk, const uint8_t report_pk[CS_FLEET_ESCROW_PK_BYTES],
                   cs_buf *out);

/* An opened object: the parsed body and what its signature covers. */
typedef struct cs_report_opened {
    cs_report r;
    uint8_t sig[64];
    char body[CS_REPORT_BODY_MAX];
    size_t body_len;
} cs_report_opened;
/* Open with the report secret key and parse: -EBADMSG (why in err). */
int cs_report_open(const void *data, size_t len, const uint8_t report_sk[32], cs_report_opened *out,
                   cs_fleet_err *err);
/* Does the signature verify with account_pk?  0, else -EKEYREJECTED. */
int cs_report_verify(const cs_report_opened *o, const uint8_t account_pk[CS_FLEET_PK_BYTES]);
/* Everything a reader checks but replay (which needs its own state): the
 * object found at fleet/reports/<path_user>/<path_host_id>, against the
 * directory's pinned keys and the clock.  out is filled when the body
 * parsed (state other than INVALID), err says why when not OK. */
cs_report_state cs_report_check(const void *data, size_t len, const uint8_t report_sk[32], const char *path_user,
                                const char *path_host_id, const cs_directory *d, int64_t now, cs_report *out,
                                cs_fleet_err *err);

/* The report key the fleet's signed directory in st names, after the
 * checks directory-sync makes (report_key.c): 0, -ENOENT outside a fleet or
 * when the directory names none, else why the directory was not accepted. */
int cs_fleet_report_key(const cs_config *cfg, cs_storage *st, uint8_t pk[CS_FLEET_ESCROW_PK_BYTES]);

#endif
