/* SPDX-License-Identifier: MIT */
/* S3 URLs and the canonical forms SigV4 needs.
 *
 *   s3://host[:port]/bucket[/prefix]        HTTPS (the default, for real stores)
 *   s3+http://host[:port]/bucket[/prefix]   plain HTTP (test servers on loopback)
 *
 * SigV4 signs the request's path and query exactly as sent, and curl 7.88
 * does not canonicalise either (TESTING-NOTES §5), so we build them here:
 * object keys are percent-encoded per segment (RFC 3986 unreserved bytes
 * kept, '/' kept), query parameters are encoded and sorted by name.
 */
#ifndef CS_STORAGE_S3_URL_H
#define CS_STORAGE_S3_URL_H

#include <stdbool.h>
#include <stddef.h>

#define CS_S3_HOST_MAX 253
#define CS_S3_BUCKET_MAX 63
#define CS_S3_PREFIX_MAX 512
/* An encoded request URL: scheme + host + bucket + 3 x (prefix + key) + query. */
#define CS_S3_URL_MAX 8192

typedef struct cs_s3_url {
    bool tls;                          /* https (s3://) or http (s3+http://) */
    char host[CS_S3_HOST_MAX + 3];     /* a DNS name, IPv4 or "[v6]" */
    unsigned port;                     /* 0: the scheme's default */
    char bucket[CS_S3_BUCKET_MAX + 1];
    char prefix[CS_S3_PREFIX_MAX + 2]; /* "" or "a/b/" (always ends in '/') */
} cs_s3_url;

/* Parse and validate; -EINVAL for anything malformed (message logged at
 * debug level), -EPROTONOSUPPORT for another scheme. */
int cs_s3_url_parse(const char *url, cs_s3_url *out);

/* True when host is 127.0.0.0/8, ::1 or "localhost". */
bool cs_s3_host_is_loopback(const char *host);

/* Percent-encode in (len bytes) per SigV4: every byte except A-Z a-z 0-9
 * - . _ ~ (and '/' when keep_slash) becomes %XX (upper-case hex).  Writes a
 * NUL-terminated string; returns its length or -ENAMETOOLONG. */
int cs_s3_uri_encode(const char *in, size_t len, bool keep_slash, char *out, size_t outsz);

typedef struct cs_s3_param {
    const char *name;
    const char *value; /* NULL or "": "name=" */
} cs_s3_param;

/* Canonical query string: each name and value encoded, pairs sorted by
 * encoded name then value, joined with '&'.  Returns length or -ENAMETOOLONG,
 * -EINVAL (n > 16). */
int cs_s3_query_build(const cs_s3_param *params, size_t n, char *out, size_t outsz);

/* The request URL for key (relative to the URL's prefix; NULL = the bucket
 * itself) with an optional canonical query (without '?').  Path-style:
 * scheme://host:port/bucket/prefix/key; virtual-hosted:
 * scheme://bucket.host:port/prefix/key.  Returns length or -ENAMETOOLONG. */
int cs_s3_request_url(const cs_s3_url *u, bool path_style, const char *key, const char *query,
                      char *out, size_t outsz);

#endif
