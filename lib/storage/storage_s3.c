/* SPDX-License-Identifier: MIT */
/* s3:// backend: any S3-compatible store (AWS S3, MinIO, Ceph RGW, Garage).
 *
 * Implements storage.h over the signed, retried requests of s3_client.c:
 *   get             GET (Range for partial reads), bounded by max_len
 *   get_if_changed  GET with If-None-Match: 304 -> 1 (keybag, directory)
 *   put             PUT; immutable puts never overwrite: If-None-Match: *
 *                   where the server honours it (probed once), else HEAD
 *                   then PUT (logged: that is not atomic against a racing
 *                   writer).  A retried immutable PUT that finds the key
 *                   compares the stored bytes, so a lost reply to our own
 *                   successful PUT is not mistaken for a conflict.
 *   del, stat       DELETE, HEAD
 *   list            ListObjectsV2 pages (expat, s3_xml.c) with continuation
 *                   tokens; a reply whose keys are not strictly increasing,
 *                   that repeats a token, that keeps sending empty pages or
 *                   exceeds list_max_keys is refused with -EBADMSG/-E2BIG.
 */
#include "storage/storage_s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "storage/s3_client.h"
#include "storage/s3_creds.h"
#include "storage/s3_multipart.h"
#include <time.h>
#include "storage/s3_xml.h"
#include "util/log.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RETRIES 6
#define DEFAULT_RETRY_TIME_MS 60000
#define DEFAULT_LIST_MAX_KEYS 10000000ULL
#define LIST_PAGE_KEYS 1000
#define DEFAULT_MULTIPART_THRESHOLD (64ULL << 20)
#define DEFAULT_PART_SIZE (16ULL << 20)
#define DEFAULT_PARALLEL 4
#define LIST_MAX_EMPTY_PAGES 3
#define LIST_TOKENS_TRACKED 4096 /* hashes of recent tokens kept for loop detection */

enum { IMMUTABLE_UNKNOWN = -1, IMMUTABLE_HEAD_PUT = 0, IMMUTABLE_CONDITIONAL = 1 };

typedef struct s3_storage {
    cs_storage base;
    cs_s3_client client;
    uint64_t list_max_keys;
    uint64_t multipart_threshold, part_size;
    int parallel;
    pthread_mutex_t probe_lock;
    int immutable_mode; /* IMMUTABLE_*; guarded by probe_lock until known */
} s3_storage;

static s3_storage *S3(cs_storage *s)
{
    return (s3_storage *)s;
}

static bool region_valid(const char *r)
{
    size_t n = strlen(r);

    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return false;
    return true;
}

/* Printable ASCII without spaces or ':' (it is joined as "key:secret"). */
static bool access_key_valid(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f || k[i] == ':')
            return false;
    return true;
}

/* The caller's credentials, else the environment's, else the profile's
 * (s3_creds.h); the region from the profile when the config has none. */
static int resolve_credentials(const cs_storage_opts *o, cs_s3_creds *k)
{
    int r;

    if (o->access_key && o->secret_key) {
        if (!access_key_valid(o->access_key) || !cs_s3_secret_valid(o->secret_key, strlen(o->secret_key),
                                                                    CS_S3_SECRET_MAX))
            return -EINVAL;
        snprintf(k->access_key, sizeof(k->access_key), "%s", o->access_key);
        snprintf(k->source, sizeof(k->source), "%s", o->cred_source ? o->cred_source : "the caller's");
        k->expires = o->token_expires;
        if ((r = cs_secret_new(&k->secret)) < 0 ||
            (r = cs_secret_set(k->secret, o->secret_key, strlen(o->secret_key))) < 0)
            return r;
        if (o->session_token && *o->session_token &&
            ((r = cs_secret_new(&k->token)) < 0 ||
             (r = cs_secret_set(k->token, o->session_token, strlen(o->session_token))) < 0))
            return r;
        return 0;
    }
    r = cs_s3_creds_from_env(k);
    if (r == -ENOENT)
        r = cs_s3_creds_from_profile(k);
    return r == -ENOENT ? -ENOKEY : r;
}

static void choose_region(const cs_storage_opts *o, cs_s3_creds *k, char *out, size_t outsz)
{
    const char *r = o->region;

    if (!r || !*r)
        r = getenv("AWS_REGION");
    if (!r || !*r)
        r = getenv("AWS_DEFAULT_REGION");
    if ((!r || !*r) && !k->region[0])
        (void)cs_s3_region_from_profile(k->region); /* credentials from elsewhere: the profile's region counts */
    if ((!r || !*r) && k->region[0])
        r = k->region;
    snprintf(out, outsz, "%s", r && *r ? r : "us-east-1");
}

static int set_credentials(cs_s3_client *c, const cs_storage_opts *o)
{
    cs_s3_creds k = { 0 };
    int r = resolve_credentials(o, &k);

    if (r < 0)
        goto out;
    choose_region(o, &k, c->region, sizeof(c->region));
    if (!access_key_valid(k.access_key)) {
        r = -EINVAL;
        goto out;
    }
    strcpy(c->access_key, k.access_key);
    snprintf(c->cred_source, sizeof(c->cred_source), "%s", k.source);
    c->token_expires = k.expires;
    c->secret = cs_secure_alloc(k.secret->len + 1);
    if (!c->secret) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(c->secret, k.secret->data, k.secret->len + 1);
    if (k.token) {
        c->token = cs_secure_alloc(k.token->len + 1);
        if (!c->token) {
            r = -ENOMEM;
            goto out;
        }
        memcpy(c->token, k.token->data, k.token->len + 1);
    }
out:
    cs_s3_creds_clear(&k);
    return r;
}

/* path_style: 1 path, -1 virtual-hosted, 0 automatic (path-style for
 * endpoints with a port, an IP address or localhost; S3-compatible servers
 * rarely have wildcard DNS for virtual hosts). */
static bool choose_path_style(const cs_s3_url *u, int opt)
{
    if (opt != 0)
        return opt > 0;
    return u->port != 0 || u->host[0] == '[' || strspn(u->host, "0123456789.") == strlen(u->host) ||
           strcmp(u->host, "localhost") == 0;
}

static int s3_open_common(const char *url, const cs_storage_opts *o, const struct cs_storage_ops *ops,
                          cs_storage **out)
{
    s3_storage *s = calloc(1, sizeof(*s));
    cs_s3_client *c;
    int r;

    if (!s)
        return -ENOMEM;
    s->base.ops = ops;
    c = &s->client;
    r = cs_s3_url_parse(url, &c->url);
    if (r < 0)
        goto fail_free;
    if (!c->url.tls && !cs_s3_host_is_loopback(c->url.host))
        log_warning("%s uses plain HTTP: requests are signed and data is encrypted, but metadata "
                    "(object names, sizes) is visible on the network; use s3:// (HTTPS)", c->url.host);
    c->path_style = choose_path_style(&c->url, o->path_style);
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->request_timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 0;
    c->max_retries = o->max_retries >= 0 ? o->max_retries : DEFAULT_MAX_RETRIES;
    c->retry_time_ms = DEFAULT_RETRY_TIME_MS;
    /* a short request timeout (the PAM helper's) also bounds the retrying */
    if (c->request_timeout_ms > 0 && c->retry_time_ms > 2 * c->request_timeout_ms)
        c->retry_time_ms = (int)(2 * c->request_timeout_ms);
    if (o->ca_file && *o->ca_file && !(c->ca_file = strdup(o->ca_file))) {
        r = -ENOMEM;
        goto fail_free;
    }
    r = set_credentials(c, o);
    if (r == 0 && !region_valid(c->region)) {
        log_error("region '%.40s' is not valid: expected lower-case letters, digits and '-'", c->region);
        r = -EINVAL;
    }
    if (r == 0 && cs_s3_token_expired(c))
        r = -EKEYEXPIRED;
    if (r < 0)
        goto fail_client;
    r = cs_s3_client_init(c);
    if (r < 0)
        goto fail_client;
    s->list_max_keys = DEFAULT_LIST_MAX_KEYS;
    s->multipart_threshold = DEFAULT_MULTIPART_THRESHOLD;
    s->part_size = DEFAULT_PART_SIZE;
    s->parallel = DEFAULT_PARALLEL;
    s->immutable_mode = IMMUTABLE_UNKNOWN;
    pthread_mutex_init(&s->probe_lock, NULL);
    *out = &s->base;
    return 0;
fail_client:
    cs_s3_client_destroy(c);
fail_free:
    free(s);
    return r;
}

static int s3_open(const char *url, const cs_storage_opts *o, cs_storage **out)
{
    if (strncmp(url, "s3://", 5) != 0)
        return -EPROTONOSUPPORT;
    return s3_open_common(url, o, &cs_storage_s3_ops, out);
}

static int s3http_open(const char *url, const cs_storage_opts *o, cs_storage **out)
{
    if (strncmp(url, "s3+http://", 10) != 0)
        return -EPROTONOSUPPORT;
    return s3_open_common(url, o, &cs_storage_s3http_ops, out);
}

static void s3_close(cs_storage *st)
{
    s3_storage *s = S3(st);

    cs_s3_client_destroy(&s->client);
    pthread_mutex_destroy(&s->probe_lock);
    free(s);
}

/* Log a failed request once, with the server's own code and message
 * (sanitised by the XML parser); 404 and 412 are answers, not failures. */
static int finish(const cs_s3_req *r, int err)
{
    char what[300];

    if (err == 0)
        err = cs_s3_status_errno(r);
    if (err >= 0 || err == -ENOENT || err == -EEXIST || err == -EMSGSIZE)
        return err; /* answers the caller handles, not failures */
    if (r->status)
        snprintf(what, sizeof(what), "HTTP %ld", r->status);
    else
        snprintf(what, sizeof(what), "%s", r->transport_error[0] ? r->transport_error : strerror(-err));
    log_warning("S3 %s %s failed: %s%s%s%s%s (after %d attempt%s)", r->method,
                r->key ? r->key : "(bucket)", what, r->s3_code[0] ? " " : "", r->s3_code,
                r->s3_message[0] ? ": " : "", r->s3_message, r->attempts, r->attempts == 1 ? "" : "s");
    return err;
}

static int do_get(s3_storage *s, const char *key, uint64_t offset, uint64_t length, size_t max_len,
                  cs_buf *out, const char *if_none_match, char etag_out[80])
{
    size_t base = out->len;
    cs_s3_req r = { .method = "GET", .key = key, .out = out, .max_len = max_len,
                    .if_none_match = if_none_match };
    int err;

    r.range_off = offset; /* length 0 with an offset: "bytes=off-" */
    r.range_len = length;
    err = cs_s3_request(&s->client, &r);
    if (err == 0 && r.status == 304 && if_none_match)
        return 1;
    if (err == 0 && r.status == 416 && offset > 0 && length == 0) {
        /* "from offset to the end" where offset == size is empty, not an error */
        cs_s3_req h = { .method = "HEAD", .key = key };
        if (cs_s3_request(&s->client, &h) == 0 && h.status == 200 && h.content_length == (int64_t)offset)
            return 0;
    }
    err = finish(&r, err);
    if (err < 0)
        return err;
    if (r.status == 200 && (offset > 0 || length > 0)) {
        /* the server ignored Range and sent the whole object: cut our slice */
        size_t got = out->len - base;
        if (offset > got || (length && length > got - offset)) {
            out->len = base;
            return -EINVAL;
        }
        size_t n = length ? (size_t)length : got - (size_t)offset;
        memmove(out->data + base, out->data + base + offset, n);
        out->len = base + n;
    } else if (length > 0 && out->len - base != length) {
        out->len = base;
        return -EINVAL; /* range past the end: the object is shorter than the caller believes */
    }
    if (etag_out)
        snprintf(etag_out, 80, "%s", r.etag);
    return 0;
}

static int s3_get(cs_storage *st, const char *key, uint64_t offset, uint64_t length, size_t max_len,
                  cs_buf *out)
{
    int r = cs_storage_key_valid(key);

    if (r < 0)
        return r;
    if (length > 0 && length > max_len)
        return -EMSGSIZE;
    return do_get(S3(st), key, offset, length, max_len, out, NULL, NULL);
}

static int s3_get_if_changed(cs_storage *st, const char *key, const char *if_none_match, size_t max_len,
                             cs_buf *out, char etag_out[80])
{
    int r = cs_storage_key_valid(key);

    if (r < 0)
        return r;
    if (if_none_match && (!*if_none_match || strlen(if_none_match) >= 80 || strpbrk(if_none_match, "\r\n")))
        if_none_match = NULL; /* not a tag we could have handed out: fetch */
    return do_get(S3(st), key, 0, 0, max_len, out, if_none_match, etag_out);
}

static int s3_stat(cs_storage *st, const char *key, cs_object_stat *out)
{
    cs_s3_req r = { .method = "HEAD", .key = key };
    int err = cs_storage_key_valid(key);

    if (err < 0)
        return err;
    err = finish(&r, cs_s3_request(&S3(st)->client, &r));
    if (err < 0)
        return err;
    if (r.content_length < 0)
        return -EBADMSG;
    out->size = (uint64_t)r.content_length;
    out->mtime_sec = r.mtime;
    snprintf(out->etag, sizeof(out->etag), "%s", r.etag);
    return 0;
}

static int plain_put(s3_storage *s, const char *key, const void *data, size_t len, const char *inm,
                     cs_s3_req *r)
{
    *r = (cs_s3_req){ .method = "PUT", .key = key, .body = data, .body_len = len, .if_none_match = inm };
    return cs_s3_request(&s->client, r);
}

/* Is what is stored under key exactly data?  1 yes, 0 no, <0 error. */
static int same_content(s3_storage *s, const char *key, const void *data, size_t len)
{
    cs_buf b = CS_BUF_INIT;
    int r = do_get(s, key, 0, 0, len, &b, NULL, NULL);

    if (r == -EMSGSIZE)
        r = 0;
    else if (r == 0)
        r = b.len == len && (len == 0 || sodium_memcmp(b.data, data, len) == 0);
    cs_buf_free(&b);
    return r;
}

/* Find out once whether the server refuses If-None-Match: * onto an existing
 * key, with a scratch object next to the first immutable key. */
static int probe_conditional_put(s3_storage *s, const char *key)
{
    char probe[1100];
    const char *slash = strrchr(key, '/');
    int dirlen = slash ? (int)(slash - key + 1) : 0;
    cs_s3_req r;
    int err;

    snprintf(probe, sizeof(probe), "%.*s.cloudseal-probe-%08x%08x", dirlen, key, randombytes_random(),
             randombytes_random());
    err = plain_put(s, probe, "probe", 5, NULL, &r);
    if (err == 0 && r.status / 100 != 2)
        err = cs_s3_status_errno(&r);
    if (err < 0)
        return finish(&r, err);
    err = plain_put(s, probe, "probe", 5, "*", &r);
    if (err == 0 && r.status == 412) {
        s->immutable_mode = IMMUTABLE_CONDITIONAL;
    } else if (err == 0 && r.status / 100 == 2) {
        s->immutable_mode = IMMUTABLE_HEAD_PUT;
        log_notice("%s ignores If-None-Match on PUT: immutable objects are written with HEAD then "
                   "PUT, which is not atomic against a concurrent writer of the same key",
                   s->client.url.host);
    } else {
        err = finish(&r, err);
    }
    cs_s3_req d = { .method = "DELETE", .key = probe };
    (void)cs_s3_request(&s->client, &d);
    return err < 0 ? err : 0;
}

static int put_immutable(s3_storage *s, const char *key, const void *data, size_t len)
{
    cs_s3_req r;
    int err, mode;

    pthread_mutex_lock(&s->probe_lock);
    err = s->immutable_mode == IMMUTABLE_UNKNOWN ? probe_conditional_put(s, key) : 0;
    mode = s->immutable_mode;
    pthread_mutex_unlock(&s->probe_lock);
    if (err < 0)
        return err;
    if (mode == IMMUTABLE_HEAD_PUT) {
        cs_s3_req h = { .method = "HEAD", .key = key };
        err = cs_s3_request(&s->client, &h);
        if (err < 0)
            return finish(&h, err);
        if (h.status == 200)
            return -EEXIST;
        if (h.status != 404)
            return finish(&h, 0);
    }
    err = plain_put(s, key, data, len, mode == IMMUTABLE_CONDITIONAL ? "*" : NULL, &r);
    if (err == 0 && r.status == 412 && r.attempts > 1) {
        /* an earlier attempt may have stored it and lost the reply */
        int same = same_content(s, key, data, len);
        if (same != 0)
            return same > 0 ? 0 : same;
    }
    return finish(&r, err);
}

/* Above the threshold, in parts.  An immutable object is checked with a
 * HEAD first: If-None-Match on completion is not something every
 * S3-compatible server honours, so this is not atomic against a second
 * writer of the same key (repository objects are content-addressed, so
 * both would write the same bytes). */
static int put_multipart(s3_storage *s, const char *key, const void *data, size_t len, int flags)
{
    if (flags & CS_PUT_IMMUTABLE) {
        cs_s3_req h = { .method = "HEAD", .key = key };
        int err = cs_s3_request(&s->client, &h);
        if (err < 0)
            return finish(&h, err);
        if (h.status == 200)
            return -EEXIST;
        if (h.status != 404)
            return finish(&h, 0);
    }
    return cs_s3_multipart_put(&s->client, key, data, len, (size_t)s->part_size, s->parallel);
}

static int s3_put(cs_storage *st, const char *key, const void *data, size_t len, int flags)
{
    cs_s3_req r;
    int err = cs_storage_key_valid(key);

    if (err < 0)
        return err;
    if (len > S3(st)->multipart_threshold || len > CS_S3_PUT_MAX)
        return put_multipart(S3(st), key, data, len, flags);
    if (flags & CS_PUT_IMMUTABLE)
        return put_immutable(S3(st), key, data, len);
    return finish(&r, plain_put(S3(st), key, data, len, NULL, &r));
}

static int s3_del(cs_storage *st, const char *key)
{
    cs_s3_req r = { .method = "DELETE", .key = key };
    int err = cs_storage_key_valid(key);

    if (err < 0)
        return err;
    return finish(&r, cs_s3_request(&S3(st)->client, &r));
}

/* ---- listing ---------------------------------------------------------------- */

typedef struct list_ctx {
    s3_storage *s;
    const char *full_prefix;   /* URL prefix + caller's prefix, as the server sees keys */
    size_t root_len;           /* length of the URL prefix, stripped from keys */
    char *last_key;            /* highest key so far: keys must keep increasing */
    uint8_t (*seen)[16];       /* hashes of tokens seen (ring) */
    size_t nseen;
    uint64_t total;
} list_ctx;

static bool token_seen(list_ctx *l, const char *token)
{
    uint8_t h[16];
    size_t n = l->nseen < LIST_TOKENS_TRACKED ? l->nseen : LIST_TOKENS_TRACKED;

    crypto_generichash(h, sizeof(h), (const uint8_t *)token, strlen(token), NULL, 0);
    for (size_t i = 0; i < n; i++)
        if (memcmp(l->seen[i], h, sizeof(h)) == 0)
            return true;
    memcpy(l->seen[l->nseen++ % LIST_TOKENS_TRACKED], h, sizeof(h));
    return false;
}

static int fetch_page(list_ctx *l, const char *token, cs_s3_list_page *page)
{
    char query[CS_S3_TOKEN_MAX * 3 + 4096], maxkeys[16];
    cs_s3_param p[4] = {
        { "list-type", "2" }, { "max-keys", maxkeys }, { "prefix", l->full_prefix },
        { "continuation-token", token },
    };
    cs_buf body = CS_BUF_INIT;
    cs_s3_req r = { .method = "GET", .key = NULL, .query = query, .out = &body, .max_len = CS_S3_XML_MAX };
    int err;

    snprintf(maxkeys, sizeof(maxkeys), "%d", LIST_PAGE_KEYS);
    err = cs_s3_query_build(p, token ? 4 : 3, query, sizeof(query));
    if (err < 0)
        return err;
    err = cs_s3_request(&l->s->client, &r);
    if (err == -EMSGSIZE)
        err = -EBADMSG; /* a listing page is never this large */
    if (err == 0 && r.status == 200) {
        err = cs_s3_listing_parse(body.data, body.len, LIST_PAGE_KEYS, page);
        if (err < 0)
            log_warning("S3 listing of %s/%s from %s is malformed (%s): is this an S3 server?",
                        l->s->client.url.bucket, l->full_prefix, l->s->client.url.host,
                        err == -E2BIG ? "too many keys in one page" : "bad XML");
        if (err == -E2BIG)
            err = -EBADMSG;
    } else {
        err = finish(&r, err);
        if (err == -ENOENT) /* a 404 on the bucket URL is the bucket missing */
            err = -ENXIO;
    }
    cs_buf_free(&body);
    return err;
}

/* Check a page's keys and hand them to the callback. */
static int deliver_page(list_ctx *l, const cs_s3_list_page *page, cs_storage_list_cb cb, void *ud)
{
    size_t fp_len = strlen(l->full_prefix);

    for (size_t i = 0; i < page->n; i++) {
        const cs_s3_list_entry *e = &page->entries[i];
        const char *rel;
        int r;

        if (strncmp(e->key, l->full_prefix, fp_len) != 0) {
            log_warning("S3 listing returned key outside the prefix asked for: refusing it");
            return -EBADMSG;
        }
        if (l->last_key && strcmp(e->key, l->last_key) <= 0) {
            log_warning("S3 listing is not in increasing key order (a looping continuation token?)");
            return -EBADMSG;
        }
        free(l->last_key);
        if (!(l->last_key = strdup(e->key)))
            return -ENOMEM;
        if (++l->total > l->s->list_max_keys) {
            log_warning("S3 listing has more than %llu keys: stopping (raise [storage] list_max_keys "
                        "if this is expected)", (unsigned long long)l->s->list_max_keys);
            return -E2BIG;
        }
        rel = e->key + l->root_len;
        if (cs_storage_key_valid(rel) < 0) {
            log_debug("S3 listing: skipping key that is not a cloudseal object name");
            continue; /* e.g. "dir/" markers made by other tools */
        }
        if ((r = cb(rel, &e->st, ud)) != 0)
            return r;
    }
    return 0;
}

static int s3_list(cs_storage *st, const char *prefix, cs_storage_list_cb cb, void *ud)
{
    s3_storage *s = S3(st);
    list_ctx l = { .s = s, .root_len = strlen(s->client.url.prefix) };
    char *full = NULL, *token = NULL;
    int empty_pages = 0, r;

    prefix = prefix ? prefix : "";
    if (strlen(prefix) > 1024 || strpbrk(prefix, "\r\n"))
        return -EINVAL;
    if (asprintf(&full, "%s%s", s->client.url.prefix, prefix) < 0)
        return -ENOMEM;
    l.full_prefix = full;
    l.seen = calloc(LIST_TOKENS_TRACKED, sizeof(*l.seen));
    if (!l.seen) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        cs_s3_list_page page;

        r = fetch_page(&l, token, &page);
        if (r < 0)
            break;
        r = deliver_page(&l, &page, cb, ud);
        if (r == 0 && page.truncated) {
            if (token_seen(&l, page.next_token)) {
                log_warning("S3 listing repeats a continuation token: refusing a listing that loops");
                r = -EBADMSG;
            } else if (page.n == 0 && ++empty_pages > LIST_MAX_EMPTY_PAGES) {
                log_warning("S3 listing keeps sending empty pages: giving up");
                r = -EBADMSG;
            }
            if (page.n > 0)
                empty_pages = 0;
        }
        free(token);
        token = page.truncated ? page.next_token : NULL;
        page.next_token = page.truncated ? NULL : page.next_token;
        cs_s3_list_page_free(&page);
        if (r != 0 || !token)
            break;
    }
out:
    free(token);
    free(l.last_key);
    free(l.seen);
    free(full);
    return r;
}

/* ---- extras (storage_s3.h) -------------------------------------------------- */

static bool is_s3(cs_storage *s)
{
    return s && (s->ops == &cs_storage_s3_ops || s->ops == &cs_storage_s3http_ops);
}

int cs_s3_set_limits(cs_storage *st, const cs_s3_limits *l)
{
    s3_storage *s = S3(st);

    if (!is_s3(st))
        return -EINVAL;
    if (l->list_max_keys > 0)
        s->list_max_keys = l->list_max_keys;
    if (l->retry_time_ms > 0)
        s->client.retry_time_ms = l->retry_time_ms;
    if (l->multipart_threshold > 0)
        s->multipart_threshold = l->multipart_threshold < CS_S3_PUT_MAX ? l->multipart_threshold : CS_S3_PUT_MAX;
    if (l->multipart_part_size > 0)
        s->part_size = l->multipart_part_size;
    if (l->multipart_parallel > 0)
        s->parallel = l->multipart_parallel;
    cs_s3_client_set_rates(&s->client, l->upload_limit, l->download_limit);
    if (l->conditional_put >= 0) {
        pthread_mutex_lock(&s->probe_lock);
        s->immutable_mode = l->conditional_put ? IMMUTABLE_CONDITIONAL : IMMUTABLE_HEAD_PUT;
        pthread_mutex_unlock(&s->probe_lock);
    }
    return 0;
}

int cs_s3_cleanup_uploads(cs_storage *st, int64_t max_age_s, unsigned *aborted)
{
    *aborted = 0;
    if (!is_s3(st))
        return -EINVAL;
    return cs_s3_multipart_cleanup(&S3(st)->client, (int64_t)time(NULL) - max_age_s, aborted);
}

const char *cs_s3_credential_source(cs_storage *st)
{
    return is_s3(st) ? S3(st)->client.cred_source : NULL;
}

const char *cs_s3_access_key(cs_storage *st)
{
    return is_s3(st) ? S3(st)->client.access_key : NULL;
}

const char *cs_s3_immutable_mode(cs_storage *st)
{
    int m;

    if (!is_s3(st))
        return "unknown";
    pthread_mutex_lock(&S3(st)->probe_lock);
    m = S3(st)->immutable_mode;
    pthread_mutex_unlock(&S3(st)->probe_lock);
    return m == IMMUTABLE_CONDITIONAL ? "conditional" : m == IMMUTABLE_HEAD_PUT ? "head-then-put" : "unknown";
}

int cs_s3_stats(cs_storage *st, uint64_t *requests, uint64_t *retries, uint64_t *sent, uint64_t *received)
{
    cs_s3_client *c;

    if (!is_s3(st))
        return -EINVAL;
    c = &S3(st)->client;
    *requests = atomic_load(&c->n_requests);
    *retries = atomic_load(&c->n_retries);
    *sent = atomic_load(&c->bytes_sent);
    *received = atomic_load(&c->bytes_received);
    return 0;
}

int cs_s3_create_bucket(cs_storage *st)
{
    char body[256] = "";
    cs_s3_req r = { .method = "PUT", .key = NULL };
    int err;

    if (!is_s3(st))
        return -EINVAL;
    if (strcmp(S3(st)->client.region, "us-east-1") != 0)
        snprintf(body, sizeof(body),
                 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
                 S3(st)->client.region);
    r.body = body;
    r.body_len = strlen(body);
    err = cs_s3_request(&S3(st)->client, &r);
    if (err == 0 && r.status == 409 && strcmp(r.s3_code, "BucketAlreadyOwnedByYou") == 0)
        return 0;
    return finish(&r, err);
}

const char *cs_s3_hint(int err)
{
    switch (err) {
    case -ENOKEY:
        return "no S3 credentials: set [storage] access_key and secret_key_file in cloudseal.conf "
               "(a secret_key_file you cannot read does not count), AWS_ACCESS_KEY_ID and "
               "AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE)";
    case -EKEYEXPIRED:
        return "the S3 session token has expired: renew the temporary credentials where the message "
               "above says they come from";
    case -EPERM:
        return "a file cloudseal reads its credentials from is not protected: see the message above";
    case -EACCES:
        return "the server refused the credentials: check the access key, the secret and the region, "
               "and that this key may use the bucket";
    case -ENXIO:
        return "the bucket does not exist: create it, or fix the bucket name in [storage] url";
    case -EHOSTUNREACH:
        return "cannot connect to the S3 server: check the host and port in [storage] url and that "
               "the server is running";
    case -ETIMEDOUT:
        return "the S3 server did not answer in time: check the network, or raise [storage] connect_timeout";
    case -ECONNRESET:
        return "the connection to the S3 server kept failing: check the network or a proxy in between";
    case -EPROTO:
        return "TLS failed: check the server certificate, or set [storage] ca_file to its CA";
    case -EBADMSG:
        return "the server's reply is not valid S3: check that the URL points at an S3 endpoint";
    case -E2BIG:
        return "the listing is larger than [storage] list_max_keys";
    case -EINVAL:
        return "the storage URL is malformed: expected s3://host[:port]/bucket[/prefix] "
               "(or s3+http:// for plain HTTP on a test server)";
    case -EIO:
        return "the S3 server kept failing (HTTP 5xx): try again later, or see the server's logs";
    default:
        return "see the messages above";
    }
}

const struct cs_storage_ops cs_storage_s3_ops = {
    .scheme = "s3",
    .open = s3_open,
    .get = s3_get,
    .get_if_changed = s3_get_if_changed,
    .put = s3_put,
    .del = s3_del,
    .stat = s3_stat,
    .list = s3_list,
    .close = s3_close,
};

const struct cs_storage_ops cs_storage_s3http_ops = {
    .scheme = "s3+http",
    .open = s3http_open,
    .get = s3_get,
    .get_if_changed = s3_get_if_changed,
    .put = s3_put,
    .del = s3_del,
    .stat = s3_stat,
    .list = s3_list,
    .close = s3_close,
};
