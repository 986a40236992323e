/* SPDX-License-Identifier: MIT */
/* s3:// URL parsing, SigV4 percent-encoding and canonical query strings. */
#include "storage/s3_url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage/storage.h"
#include "util/log.h"

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int cs_s3_uri_encode(const char *in, size_t len, bool keep_slash, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];

        if (is_unreserved(c) || (keep_slash && c == '/')) {
            if (o + 1 >= outsz)
                return -ENAMETOOLONG;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outsz)
                return -ENAMETOOLONG;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= outsz)
        return -ENAMETOOLONG;
    out[o] = '\0';
    return (int)o;
}

typedef struct enc_param {
    char name[64];
    char value[3 * 4096 + 1];
} enc_param;

static int cmp_param(const void *a, const void *b)
{
    const enc_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

int cs_s3_query_build(const cs_s3_param *params, size_t n, char *out, size_t outsz)
{
    enc_param *enc;
    size_t o = 0;
    int r = 0;

    if (n > 16)
        return -EINVAL;
    if (outsz == 0)
        return -ENAMETOOLONG;
    out[0] = '\0';
    if (n == 0)
        return 0;
    enc = calloc(n, sizeof(*enc));
    if (!enc)
        return -ENOMEM;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const char *v = params[i].value ? params[i].value : "";
        r = cs_s3_uri_encode(params[i].name, strlen(params[i].name), false, enc[i].name, sizeof(enc[i].name));
        if (r >= 0)
            r = cs_s3_uri_encode(v, strlen(v), false, enc[i].value, sizeof(enc[i].value));
    }
    if (r < 0)
        goto out;
    qsort(enc, n, sizeof(*enc), cmp_param);
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + o, outsz - o, "%s%s=%s", i ? "&" : "", enc[i].name, enc[i].value);
        if (w < 0 || (size_t)w >= outsz - o) {
            r = -ENAMETOOLONG;
            goto out;
        }
        o += (size_t)w;
    }
    r = (int)o;
out:
    free(enc);
    return r;
}

/* Host: a DNS name / IPv4 of [A-Za-z0-9.-], or a bracketed IPv6 literal. */
static int parse_host(const char *s, size_t n, char *out)
{
    if (n == 0 || n > CS_S3_HOST_MAX + 2)
        return -EINVAL;
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return -EINVAL;
        for (size_t i = 1; i < n - 1; i++)
            if (!strchr("0123456789abcdefABCDEF:.", s[i]))
                return -EINVAL;
    } else {
        if (n > CS_S3_HOST_MAX || s[0] == '.' || s[0] == '-')
            return -EINVAL;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-'))
                return -EINVAL;
        }
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int parse_port(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (n == 0 || n > 5)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Bucket names as S3 defines them (3-63 of a-z 0-9 . -, starting and ending
 * with a letter or digit).  '_' is accepted for old RGW/MinIO buckets. */
static int parse_bucket(const char *s, size_t n, char *out)
{
    if (n < 3 || n > CS_S3_BUCKET_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((i == 0 || i == n - 1) || (c != '.' && c != '-' && c != '_')))
            return -EINVAL;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int parse_prefix(const char *s, char *out)
{
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == '/') /* "bucket/prefix/" means the same as "bucket/prefix" */
        n--;
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    if (n > CS_S3_PREFIX_MAX)
        return -EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    if (cs_storage_key_valid(out) < 0)
        return -EINVAL;
    out[n] = '/';
    out[n + 1] = '\0';
    return 0;
}

int cs_s3_url_parse(const char *url, cs_s3_url *out)
{
    const char *p, *slash, *hostend, *colon;
    int r;

    memset(out, 0, sizeof(*out));
    if (!url)
        return -EINVAL;
    if (strncmp(url, "s3://", 5) == 0) {
        out->tls = true;
        p = url + 5;
    } else if (strncmp(url, "s3+http://", 10) == 0) {
        p = url + 10;
    } else {
        return -EPROTONOSUPPORT;
    }
    if (strlen(p) > CS_S3_HOST_MAX + 8 + CS_S3_BUCKET_MAX + CS_S3_PREFIX_MAX + 8)
        return -EINVAL;
    if (strpbrk(p, "?#@%\\ ")) /* no queries, fragments, userinfo or escapes in the URL */
        return -EINVAL;
    slash = strchr(p, '/');
    if (!slash)
        return -EINVAL; /* a bucket is required */
    /* host[:port]; an IPv6 literal's colons are inside brackets */
    hostend = slash;
    colon = NULL;
    if (p[0] == '[') {
        const char *rb = memchr(p, ']', (size_t)(slash - p));
        if (!rb)
            return -EINVAL;
        if (rb + 1 < slash) {
            if (rb[1] != ':')
                return -EINVAL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(slash - p));
    }
    if (colon) {
        hostend = colon;
        r = parse_port(colon + 1, (size_t)(slash - colon - 1), &out->port);
        if (r < 0)
            return r;
    }
    r = parse_host(p, (size_t)(hostend - p), out->host);
    if (r < 0)
        return r;
    p = slash + 1;
    slash = strchr(p, '/');
    r = parse_bucket(p, slash ? (size_t)(slash - p) : strlen(p), out->bucket);
    if (r < 0)
        return r;
    return slash ? parse_prefix(slash + 1, out->prefix) : 0;
}

bool cs_s3_host_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 || strncmp(host, "127.", 4) == 0;
}

int cs_s3_request_url(const cs_s3_url *u, bool path_style, const char *key, const char *query,
                      char *out, size_t outsz)
{
    char full[CS_S3_PREFIX_MAX + 2 + 1100], enc[3 * sizeof(full) + 1], port[16] = "";
    int w;

    if (key && strlen(key) > 1024)
        return -ENAMETOOLONG;
    snprintf(full, sizeof(full), "%s%s", key ? u->prefix : "", key ? key : "");
    if (cs_s3_uri_encode(full, strlen(full), true, enc, sizeof(enc)) < 0)
        return -ENAMETOOLONG;
    if (u->port)
        snprintf(port, sizeof(port), ":%u", u->port);
    if (path_style)
        w = snprintf(out, outsz, "%s://%s%s/%s%s%s%s%s", u->tls ? "https" : "http", u->host, port,
                     u->bucket, key ? "/" : "", enc, query && *query ? "?" : "", query ? query : "");
    else
        w = snprintf(out, outsz, "%s://%s.%s%s/%s%s%s", u->tls ? "https" : "http", u->bucket, u->host,
                     port, enc, query && *query ? "?" : "", query ? query : "");
    if (w < 0 || (size_t)w >= outsz)
        return -ENAMETOOLONG;
    return w;
}
