/* SPDX-License-Identifier: MIT */
/* The s3:// backend's extras beyond storage.h: opening from the
 * configuration, S3-only limits, and messages that tell the user what to do.
 *
 * Credentials, first match wins:
 *   1. cs_storage_opts.access_key + secret_key (+ session_token): per-user
 *      credentials from the keybag's encrypted payload, or a command's own;
 *   2. [storage] access_key + secret_key_file in cloudseal.conf (admins);
 *   3. the environment, then the AWS shared files' profile (s3_creds.h).
 * The secret and token are copied into secure memory at open and never
 * logged; an expired token is -EKEYEXPIRED with a message naming its source.
 *
 * cs_storage_opts.path_style: 1 path-style, -1 virtual-hosted, 0 automatic
 * (path-style when the URL has a port, an IP address or localhost).
 *
 * Errors beyond storage.h's: -ENOKEY no credentials at all, -ENXIO the
 * bucket does not exist, -EPROTO TLS failed (certificate, CA file), -E2BIG a
 * listing over list_max_keys, -EBADMSG a reply that is not valid S3 (a
 * malformed or looping listing).  cs_s3_hint() turns any of them into a
 * sentence for the user.
 */
#ifndef CS_STORAGE_STORAGE_S3_H
#define CS_STORAGE_STORAGE_S3_H

#include "config/config.h"
#include "storage/storage.h"
#include "util/secmem.h"

/* s3+http:// (plain HTTP, for test servers on loopback) */
extern const struct cs_storage_ops cs_storage_s3http_ops;

/* Fill opts from [storage] (region, path_style, ca_file, timeouts, retries,
 * access_key) and read secret_key_file into *secret (NULL when the key is
 * unset; the caller frees it after cs_storage_open, which copies it).
 * Pointers in opts point into c.  -EPERM when the secret file is readable by
 * others, -errno when it cannot be read. */
int cs_storage_opts_from_config(const cs_config *c, cs_storage_opts *opts, cs_secret **secret);

/* Open url (NULL: [storage] url) with the options and credentials of c, and
 * apply the S3 limits of c.  What every caller that has a config uses. */
int cs_storage_open_config(const cs_config *c, const char *url, cs_storage **out);
/* Whether url names S3 storage (s3:// or s3+http://): only then do
 * credentials matter. */
bool cs_storage_url_is_s3(const char *url);

/* The [storage] url for the login path: connect and request timeouts of
 * [storage] login_timeout, no retries, small listings.  A login never waits
 * on a slow store for longer than that; callers fall back to local caches. */
int cs_storage_open_config_login(const cs_config *c, cs_storage **out);

/* Like cs_storage_open_config, with explicit credentials (a user's own,
 * from the keybag's encrypted payload) instead of the config's or the
 * environment's: creds' access_key, secret_key, session_token,
 * token_expires and cred_source are used, the rest ignored; the secrets
 * stay the caller's (in its secure memory). */
int cs_storage_open_config_creds(const cs_config *c, const char *url, const cs_storage_opts *creds,
                                 cs_storage **out);

/* Limits of the s3 backend beyond cs_storage_opts (defaults in brackets). */
typedef struct cs_s3_limits {
    uint64_t list_max_keys;    /* keys one list() may return [10,000,000] */
    int retry_time_ms;         /* total time spent retrying one request [60 s] */
    int conditional_put;       /* -1 auto-detect [default], 1 If-None-Match: *, 0 HEAD then PUT */
    uint64_t multipart_threshold; /* larger objects go up in parts [64 MiB], at most 5 GiB */
    uint64_t multipart_part_size; /* [16 MiB], at least 5 MiB */
    int multipart_parallel;       /* parts in flight at once [4] */
    uint64_t upload_limit;        /* bytes per second over all transfers, 0 none [0] */
    uint64_t download_limit;
} cs_s3_limits;

/* Apply limits to an open s3 backend; -EINVAL if s is not one. */
int cs_s3_set_limits(cs_storage *s, const cs_s3_limits *l);

/* Where the open backend's credentials come from ("AWS_ACCESS_KEY_ID
 * (environment)", "/home/u/.aws/credentials, profile x"...), never a
 * secret; NULL when s is not S3. */
const char *cs_s3_credential_source(cs_storage *s);
/* The access key in use (not a secret); NULL when s is not S3. */
const char *cs_s3_access_key(cs_storage *s);

/* How put-immutable is done on this backend after the first such put:
 * "conditional" (If-None-Match: *), "head-then-put", or "unknown". */
const char *cs_s3_immutable_mode(cs_storage *s);

/* Request counters since open (for `cloudseal storage` and the benchmark). */
int cs_s3_stats(cs_storage *s, uint64_t *requests, uint64_t *retries, uint64_t *sent, uint64_t *received);

/* Create the URL's bucket (admins and tests; region's LocationConstraint is
 * sent when it is not us-east-1).  0 also when it exists and is ours. */
int cs_s3_create_bucket(cs_storage *s);

/* Abort the unfinished multipart uploads under the URL's prefix begun
 * more than max_age_s seconds ago (a crash or a kill left them; the store
 * keeps and bills their parts).  *aborted counts them. */
int cs_s3_cleanup_uploads(cs_storage *s, int64_t max_age_s, unsigned *aborted);

/* One line telling the user what to do about err from an S3 operation. */
const char *cs_s3_hint(int err);

#endif
