/* SPDX-License-Identifier: MIT */
/* Signed S3 requests over libcurl: handle pool, shared connections, retries. */
#include "storage/s3_client.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "storage/s3_xml.h"
#include "util/log.h"
#include "util/secmem.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define ERROR_BODY_MAX (64 * 1024)
/* Below STALL_BYTES/s for STALL_SECONDS: the transfer is dead (or a hostile
 * server drips bytes to hold us).  Bodies without an object in them (HEAD,
 * DELETE, listings, errors) get a hard SMALL_REQUEST_MS as well. */
#define STALL_BYTES 1024L
#define STALL_SECONDS 60L
#define SMALL_REQUEST_MS 120000L

/* ---- process-wide curl initialisation ------------------------------------
 * curl keeps copies of the options it is given, the password among them.
 * Its allocator is replaced so that every block it frees is wiped first. */

static void *wipe_malloc(size_t n) { return malloc(n); }
static void *wipe_calloc(size_t n, size_t m) { return calloc(n, m); }
static char *wipe_strdup(const char *s) { return strdup(s); }
static void wipe_free(void *p)
{
    if (p) {
        cs_wipe(p, malloc_usable_size(p));
        free(p);
    }
}
static void *wipe_realloc(void *p, size_t n)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q;

    if (!p)
        return malloc(n);
    if (n == 0) {
        wipe_free(p);
        return NULL;
    }
    q = malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    wipe_free(p);
    return q;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free, wipe_realloc,
                                        wipe_strdup, wipe_calloc);
}

/* ---- shared connection cache ---------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    cs_s3_client *c = ud;
    (void)h; (void)access;
    pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    cs_s3_client *c = ud;
    (void)h;
    pthread_mutex_unlock(&c->share_locks[data]);
}

int cs_s3_client_init(cs_s3_client *c)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return -ENOMEM;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_mutex_init(&c->fd_lock, NULL);
    cs_s3_rate_init(&c->up_rate, 0);
    cs_s3_rate_init(&c->down_rate, 0);
    c->initialised = true;
    c->share = curl_share_init();
    if (!c->share)
        return -ENOMEM;
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return 0;
}

void cs_s3_client_destroy(cs_s3_client *c)
{
    if (!c->initialised)
        goto secrets;
    for (size_t i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    c->nidle = 0;
    if (c->share)
        curl_share_cleanup(c->share);
    c->share = NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->pool_lock);
    pthread_mutex_destroy(&c->fd_lock);
    cs_s3_rate_destroy(&c->up_rate);
    cs_s3_rate_destroy(&c->down_rate);
    c->initialised = false;
secrets:
    cs_secure_free(c->secret);
    c->secret = NULL;
    cs_secure_free(c->token);
    c->token = NULL;
    free(c->ca_file);
    c->ca_file = NULL;
    cs_wipe(c->access_key, sizeof(c->access_key));
}

void cs_s3_client_set_rates(cs_s3_client *c, uint64_t upload, uint64_t download)
{
    c->up_rate.bytes_per_s = upload;
    c->down_rate.bytes_per_s = download;
}

static CURL *pool_get(cs_s3_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->pool_lock);
    return h ? h : curl_easy_init();
}

static void pool_put(cs_s3_client *c, CURL *h)
{
    curl_easy_reset(h); /* drops our options (and the password copy); keeps nothing of the request */
    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle < CS_S3_POOL_MAX) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- one transfer ---------------------------------------------------------- */

typedef struct xfer {
    cs_s3_client *c;
    int fd;              /* the connection's socket (on_prereq), -1 unknown */
    cs_s3_req *r;
    CURL *h;
    size_t out_base;     /* r->out->len before this attempt */
    bool too_big;
    cs_buf err;          /* body of a non-2xx reply, bounded */
    char errbuf[CURL_ERROR_SIZE];
    const uint8_t *up;   /* upload cursor */
    size_t up_left;
} xfer;

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300 && x->r->out) {
        cs_s3_rate_take(&x->c->down_rate, n);
        if (x->r->out->len - x->out_base + n > x->r->max_len) {
            x->too_big = true;
            return 0; /* aborts with CURLE_WRITE_ERROR */
        }
        return cs_buf_append(x->r->out, data, n) < 0 ? 0 : n;
    }
    if (x->err.len + n <= ERROR_BODY_MAX)
        (void)cs_buf_append(&x->err, data, n);
    return n; /* excess error text is dropped, not an error */
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;

    if (n > x->up_left)
        n = x->up_left;
    cs_s3_rate_take(&x->c->up_rate, n);
    memcpy(dst, x->up, n);
    x->up += n;
    x->up_left -= n;
    return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    xfer *x = ud;
    const cs_s3_req *r = x->r;

    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->up = (const uint8_t *)r->body + off;
    x->up_left = r->body_len - (size_t)off;
    return CURL_SEEKFUNC_OK;
}

/* Quick ACKs.  On a kept-alive connection Linux delays ACKs (it expects to
 * piggyback them on our next request); a server that writes a reply's
 * headers and a small body separately with Nagle on (Ceph RGW's beast) then
 * holds the body until our delayed ACK: 40 ms per small request, 20 times
 * the request itself.  TCP_QUICKACK does not stick, so it is set again when
 * each reply's headers arrive, which also sends the pending ACK.  curl does
 * not tell a callback which socket a transfer uses, so the client tracks
 * the sockets it opens and finds the transfer's by its local port. */
static curl_socket_t on_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    cs_s3_client *c = ud;
    curl_socket_t fd;

    (void)purpose;
    fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd == CURL_SOCKET_BAD)
        return fd;
    pthread_mutex_lock(&c->fd_lock);
    if (c->nfds < CS_S3_FDS_MAX)
        c->fds[c->nfds++] = fd;
    pthread_mutex_unlock(&c->fd_lock);
    return fd;
}

static int on_closesocket(void *ud, curl_socket_t fd)
{
    cs_s3_client *c = ud;

    pthread_mutex_lock(&c->fd_lock);
    for (size_t i = 0; i < c->nfds; i++) {
        if (c->fds[i] == fd) {
            c->fds[i] = c->fds[--c->nfds];
            break;
        }
    }
    pthread_mutex_unlock(&c->fd_lock);
    return close(fd);
}

static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    xfer *x = ud;
    cs_s3_client *c = x->c;

    (void)conn_primary_ip; (void)conn_local_ip; (void)conn_primary_port;
    x->fd = -1;
    pthread_mutex_lock(&c->fd_lock);
    for (size_t i = 0; i < c->nfds && x->fd < 0; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int port = -1;

        if (getsockname(c->fds[i], (struct sockaddr *)&ss, &len) < 0)
            continue;
        if (ss.ss_family == AF_INET)
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        if (port == conn_local_port)
            x->fd = c->fds[i];
    }
    pthread_mutex_unlock(&c->fd_lock);
    return CURL_PREREQFUNC_OK;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    int one = 1;

    (void)data;
    if (x->fd >= 0)
        (void)setsockopt(x->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    return size * nmemb;
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* x-amz-security-token, built in secure memory; curl signs every header
 * we add, and frees (so wipes, see wipe_free) its copy with the list. */
static struct curl_slist *append_token(struct curl_slist *l, const char *token)
{
    static const char name[] = "x-amz-security-token: ";
    size_t n = strlen(token);
    char *line = cs_secure_alloc(sizeof(name) + n);
    struct curl_slist *t = NULL;

    if (line) {
        memcpy(line, name, sizeof(name) - 1);
        memcpy(line + sizeof(name) - 1, token, n + 1);
        t = curl_slist_append(l, line);
    }
    cs_secure_free(line);
    return t;
}

static struct curl_slist *build_headers(const cs_s3_client *c, const cs_s3_req *r)
{
    char line[256], hash[65];
    struct curl_slist *l = NULL, *t;

    sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, hash);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
    if (!(t = curl_slist_append(l, line)))
        goto fail;
    l = t;
    if (c->token) {
        if (!(t = append_token(l, c->token)))
            goto fail;
        l = t;
    }
    if (strcmp(r->method, "POST") == 0) {
        /* instead of curl's form type, and signed like every header we add */
        if (!(t = curl_slist_append(l, "Content-Type: application/xml")))
            goto fail;
        l = t;
    }
    if (r->if_none_match) {
        if (strlen(r->if_none_match) > 100)
            goto fail;
        snprintf(line, sizeof(line), "If-None-Match: %s", r->if_none_match);
        if (!(t = curl_slist_append(l, line)))
            goto fail;
        l = t;
    }
    if (r->range_len > 0) {
        snprintf(line, sizeof(line), "Range: bytes=%llu-%llu", (unsigned long long)r->range_off,
                 (unsigned long long)(r->range_off + r->range_len - 1));
        if (!(t = curl_slist_append(l, line)))
            goto fail;
        l = t;
    } else if (r->range_off > 0) {
        snprintf(line, sizeof(line), "Range: bytes=%llu-", (unsigned long long)r->range_off);
        if (!(t = curl_slist_append(l, line)))
            goto fail;
        l = t;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static int setup_handle(cs_s3_client *c, CURL *h, const cs_s3_req *r, const char *url,
                        struct curl_slist *hdrs, xfer *x)
{
    char sigv4[128];
    CURLcode e = CURLE_OK;

    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", c->region);
#define SET(opt, val) do { if (e == CURLE_OK) e = curl_easy_setopt(h, opt, val); } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_SHARE, c->share);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_AWS_SIGV4, sigv4);
    SET(CURLOPT_USERNAME, c->access_key);
    SET(CURLOPT_PASSWORD, c->secret);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    long timeout_ms = c->request_timeout_ms;
    bool small = strcmp(r->method, "HEAD") == 0 || strcmp(r->method, "DELETE") == 0 || !r->key;
    if (small && (timeout_ms == 0 || timeout_ms > SMALL_REQUEST_MS))
        timeout_ms = SMALL_REQUEST_MS;
    if (timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_LOW_SPEED_LIMIT, STALL_BYTES);
    SET(CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_FILETIME, 1L);
    if (c->ca_file)
        SET(CURLOPT_CAINFO, c->ca_file);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_PREREQDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
    SET(CURLOPT_OPENSOCKETDATA, c);
    SET(CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
    SET(CURLOPT_CLOSESOCKETDATA, c);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, x);
    if (strcmp(r->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, x);
        SET(CURLOPT_SEEKFUNCTION, on_seek);
        SET(CURLOPT_SEEKDATA, x);
        SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        /* Bodies over 1 MiB get "Expect: 100-continue"; do not wait for the
         * 100 (a round trip).  The header cannot be removed with "Expect:":
         * curl 7.88 then signs an empty expect header it never sends. */
        SET(CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
    } else if (strcmp(r->method, "POST") == 0) {
        /* multipart create and complete: the body is small, sent at once */
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
    } else if (strcmp(r->method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
#undef SET
    return e == CURLE_OK ? 0 : -EINVAL;
}

/* Transport failure -> errno, and whether another attempt may succeed. */
static int curl_errno(CURLcode rc, bool *retry)
{
    *retry = true;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return -ECONNRESET;
    case CURLE_WEIRD_SERVER_REPLY:
        return -EBADMSG;
    default:
        break;
    }
    *retry = false;
    switch (rc) {
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
        return -EPROTO;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    default:
        return -EIO;
    }
}

static bool status_is_transient(long status, const char *code)
{
    return status >= 500 || status == 429 || status == 408 ||
           (status == 400 && strcmp(code, "RequestTimeout") == 0) ||
           (status == 409 && strcmp(code, "ConditionalRequestConflict") == 0) ||
           (status == 503 && strcmp(code, "SlowDown") == 0);
}

int cs_s3_status_errno(const cs_s3_req *r)
{
    long s = r->status;

    if (s >= 200 && s < 300)
        return 0;
    if ((s == 400 || s == 403) && (strcmp(r->s3_code, "ExpiredToken") == 0 ||
                                   strcmp(r->s3_code, "InvalidToken") == 0 ||
                                   strcmp(r->s3_code, "TokenRefreshRequired") == 0))
        return -EKEYEXPIRED;
    if (s == 401 || s == 403)
        return -EACCES;
    if (s == 404)
        return strcmp(r->s3_code, "NoSuchBucket") == 0 ? -ENXIO : -ENOENT;
    if (s == 412)
        return -EEXIST;
    if (s == 416)
        return -EINVAL;
    return -EIO;
}

static void tell_expired(cs_s3_client *c, const char *how)
{
    if (atomic_exchange(&c->expiry_told, true))
        return;
    log_error("the S3 session token from %s %s: get new temporary credentials (for example "
              "'aws sts get-session-token' or 'aws sso login') and try again", c->cred_source, how);
}

bool cs_s3_token_expired(cs_s3_client *c)
{
    char when[64];
    time_t t = (time_t)c->token_expires;
    struct tm tm;

    if (!c->token || c->token_expires == 0 || time(NULL) < c->token_expires)
        return false;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    char how[96];
    snprintf(how, sizeof(how), "expired at %s", when);
    tell_expired(c, how);
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)]. */
static int64_t backoff_ms(int attempt)
{
    int64_t ceiling = BACKOFF_BASE_MS;

    for (int i = 0; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
        ceiling *= 2;
    if (ceiling > BACKOFF_CAP_MS)
        ceiling = BACKOFF_CAP_MS;
    return (int64_t)randombytes_uniform((uint32_t)ceiling + 1);
}

static void collect_reply(CURL *h, cs_s3_req *r, const xfer *x)
{
    struct curl_header *hd = NULL;
    curl_off_t cl = -1, ft = -1;

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    r->etag[0] = '\0';
    if (curl_easy_header(h, "ETag", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd->value &&
        strlen(hd->value) < sizeof(r->etag))
        strcpy(r->etag, hd->value);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    r->content_length = cl;
    curl_easy_getinfo(h, CURLINFO_FILETIME_T, &ft);
    r->mtime = ft > 0 ? (int64_t)ft : 0;
    r->s3_code[0] = r->s3_message[0] = '\0';
    if ((r->status < 200 || r->status >= 300) && x->err.len > 0)
        (void)cs_s3_error_parse(x->err.data, x->err.len, r->s3_code, r->s3_message);
}

int cs_s3_request(cs_s3_client *c, cs_s3_req *r)
{
    char *url = NULL;
    struct curl_slist *hdrs = NULL;
    CURL *h = NULL;
    xfer x = { .c = c, .fd = -1, .r = r };
    int64_t start = now_ms();
    int err = 0;

    r->status = 0;
    r->attempts = 0;
    r->transport_error[0] = '\0';
    if (cs_s3_token_expired(c))
        return -EKEYEXPIRED; /* not worth a round trip the server will refuse */
    url = malloc(CS_S3_URL_MAX);
    if (!url)
        return -ENOMEM;
    if (cs_s3_request_url(&c->url, c->path_style, r->key, r->query, url, CS_S3_URL_MAX) < 0) {
        err = -ENAMETOOLONG;
        goto out;
    }
    hdrs = build_headers(c, r);
    h = pool_get(c);
    if (!hdrs || !h) {
        err = -ENOMEM;
        goto out;
    }
    x.h = h;
    if ((err = setup_handle(c, h, r, url, hdrs, &x)) < 0)
        goto out;
    x.out_base = r->out ? r->out->len : 0;
    for (;;) {
        bool retry = false;
        CURLcode rc;

        r->attempts++;
        x.too_big = false;
        x.errbuf[0] = '\0';
        x.up = r->body;
        x.up_left = r->body ? r->body_len : 0;
        cs_buf_reset(&x.err);
        if (r->out)
            r->out->len = x.out_base; /* drop what a failed attempt appended */
        atomic_fetch_add(&c->n_requests, 1);
        rc = curl_easy_perform(h);
        atomic_fetch_add(&c->bytes_sent, r->body ? r->body_len : 0);
        if (rc == CURLE_OK) {
            collect_reply(h, r, &x);
            if (r->out)
                atomic_fetch_add(&c->bytes_received, r->out->len - x.out_base);
            err = 0;
            retry = status_is_transient(r->status, r->s3_code);
            if (retry)
                err = -EIO;
        } else if (x.too_big) {
            err = -EMSGSIZE;
        } else {
            err = curl_errno(rc, &retry);
            r->status = 0;
            snprintf(r->transport_error, sizeof(r->transport_error), "%s",
                     x.errbuf[0] ? x.errbuf : curl_easy_strerror(rc));
            log_debug("s3 %s %s: %s", r->method, r->key ? r->key : "(bucket)", r->transport_error);
        }
        if (!retry || r->attempts > c->max_retries)
            break;
        int64_t delay = backoff_ms(r->attempts - 1);
        if (now_ms() + delay - start > c->retry_time_ms)
            break;
        atomic_fetch_add(&c->n_retries, 1);
        log_debug("s3 %s %s: attempt %d failed (HTTP %ld), retrying in %lld ms", r->method,
                  r->key ? r->key : "(bucket)", r->attempts, r->status, (long long)delay);
        sleep_ms(delay);
    }
    if (err < 0 && r->out)
        r->out->len = x.out_base;
    if (err == 0 && cs_s3_status_errno(r) == -EKEYEXPIRED)
        tell_expired(c, c->token ? "was refused by the server as expired or invalid"
                                 : "is missing: the server wants temporary credentials");
out:
    if (h)
        pool_put(c, h);
    curl_slist_free_all(hdrs);
    cs_buf_free(&x.err);
    free(url);
    return err;
}
