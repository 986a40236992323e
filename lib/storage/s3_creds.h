/* SPDX-License-Identifier: MIT */
/* Where S3 credentials come from, in the order the AWS tools use:
 *
 *   1. the caller's (cs_storage_opts: a user's own from the keybag payload,
 *      or [storage] access_key + secret_key_file of cloudseal.conf);
 *   2. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN,
 *      AWS_CREDENTIAL_EXPIRATION) in the environment;
 *   3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 *      ~/.aws/credentials, section [NAME]) then the shared config file
 *      (AWS_CONFIG_FILE, else ~/.aws/config, section [profile NAME] or
 *      [default]), NAME being AWS_PROFILE or "default".
 *
 * The region, when [storage] region is unset: AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's region in the config file, us-east-1.
 *
 * Secrets (secret key, session token) only ever sit in secure memory: the
 * shared files are read into it, and inih parses their structure from
 * lines whose values have been replaced by references (see s3_profile.c).
 * source names where the credentials came from, for messages and
 * `cloudseal storage credentials show`; it never holds a secret. */
#ifndef CS_STORAGE_S3_CREDS_H
#define CS_STORAGE_S3_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/secmem.h"

#define CS_S3_ACCESS_MAX 128
#define CS_S3_SECRET_MAX 256
#define CS_S3_SESSION_TOKEN_MAX 4096 /* STS tokens are 400 to ~2000 bytes */
#define CS_S3_REGION_MAX 32
#define CS_S3_SOURCE_MAX 512
#define CS_S3_PROFILE_FILE_MAX (1024 * 1024)

typedef struct cs_s3_creds {
    char access_key[CS_S3_ACCESS_MAX + 1];  /* "" when none */
    cs_secret *secret;                      /* NULL when none */
    cs_secret *token;                       /* NULL: no session token */
    int64_t expires;                        /* Unix time the token expires, 0: not known */
    char region[CS_S3_REGION_MAX + 1];      /* a profile's region, "" none */
    char source[CS_S3_SOURCE_MAX];          /* e.g. "AWS_ACCESS_KEY_ID (environment)" */
} cs_s3_creds;

void cs_s3_creds_clear(cs_s3_creds *c);

/* Secret keys and tokens are printable ASCII without spaces. */
bool cs_s3_secret_valid(const char *s, size_t len, size_t max);

/* "2026-12-05T03:00:00Z" (optionally with fractional seconds or "+00:00")
 * -> Unix time; -EINVAL for anything else. */
int cs_s3_time_parse(const char *s, int64_t *out);

/* The environment's key pair (and token, expiry): 0, -ENOENT when the pair
 * is not complete, -EINVAL (logged) when it is malformed. */
int cs_s3_creds_from_env(cs_s3_creds *c);

/* The shared files of the profile in use: credentials when a complete pair
 * is found (0), the config file's region either way.  -ENOENT: no pair,
 * -EPERM a credentials file others may read, -EINVAL malformed (logged). */
int cs_s3_creds_from_profile(cs_s3_creds *c);

/* Only the profile's region, from the config file (credentials from
 * elsewhere): region "" when it has none.  Errors as above. */
int cs_s3_region_from_profile(char region[CS_S3_REGION_MAX + 1]);

/* Parse one shared file's text (len bytes; need not be NUL-terminated) for
 * profile: config_file selects "[profile NAME]" sections (and [default]).
 * Fills what the profile's section has; keys found later override earlier
 * ones.  0, -EINVAL (syntax, a value too long), -E2BIG (too many values). */
int cs_s3_profile_parse(const char *text, size_t len, const char *profile, bool config_file,
                        cs_s3_creds *c);

#endif
