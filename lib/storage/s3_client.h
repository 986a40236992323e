/* SPDX-License-Identifier: MIT */
/* The HTTP side of the s3 backend: one signed S3 request, retried.
 *
 * A client holds the endpoint, the credentials (secret in secure memory), a
 * CURLSH that shares connections, DNS and TLS sessions between threads, and
 * a pool of idle easy handles.  cs_s3_request() may be called from many
 * threads at once: each call borrows its own handle, and all of them reuse
 * the shared connections.
 *
 * Signing: curl's CURLOPT_AWS_SIGV4 over the path and query we build
 * canonically (s3_url.h), with x-amz-content-sha256 set to the body's real
 * SHA-256 so the server verifies the payload as well.
 *
 * Retries: 5xx, 429, 408, RequestTimeout, timeouts, resets, refused
 * connections and truncated bodies are retried with exponential backoff and
 * full jitter (100 ms doubling to 5 s), at most max_retries times and never
 * past retry_time_ms after the first attempt.
 */
#ifndef CS_STORAGE_S3_CLIENT_H
#define CS_STORAGE_S3_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <curl/curl.h>
#include "storage/s3_creds.h"
#include "storage/s3_rate.h"
#include "storage/s3_url.h"
#include "util/buf.h"

#define CS_S3_POOL_MAX 32
#define CS_S3_FDS_MAX 256

typedef struct cs_s3_client {
    cs_s3_url url;
    bool path_style;
    char region[64];
    char access_key[129];
    char *secret;                 /* secure memory, NUL-terminated */
    char *token;                  /* session token (secure memory), NULL: none */
    int64_t token_expires;        /* Unix time, 0: not known */
    char cred_source[CS_S3_SOURCE_MAX];        /* where the credentials came from (s3_creds.h) */
    atomic_bool expiry_told;      /* the expired-token message was logged */
    char *ca_file;                /* NULL: the system's CA store */
    long connect_timeout_ms;
    long request_timeout_ms;      /* 0: none (a stall limit applies instead) */
    int max_retries;
    int retry_time_ms;
    bool initialised;             /* cs_s3_client_init ran: locks and share exist */
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *idle[CS_S3_POOL_MAX];
    size_t nidle;
    pthread_mutex_t fd_lock;      /* sockets curl opened for us (see on_opensocket) */
    curl_socket_t fds[CS_S3_FDS_MAX];
    size_t nfds;
    cs_s3_rate up_rate, down_rate;   /* [storage] upload_limit, download_limit */
    /* counters for `cloudseal storage` and the benchmark */
    atomic_uint_least64_t n_requests, n_retries, bytes_sent, bytes_received;
} cs_s3_client;

/* Set up the shared state of c (all other fields filled by the caller;
 * the rates unlimited until cs_s3_client_set_rates).
 * cs_s3_client_destroy is safe whether or not this ran or succeeded. */
int cs_s3_client_init(cs_s3_client *c);
/* Bytes per second over all of c's transfers, each way; 0: unlimited. */
void cs_s3_client_set_rates(cs_s3_client *c, uint64_t upload, uint64_t download);
/* Close connections, free handles, wipe and free the secret. */
void cs_s3_client_destroy(cs_s3_client *c);

typedef struct cs_s3_req {
    /* in */
    const char *method;           /* GET PUT HEAD DELETE POST */
    const char *key;              /* relative to the URL's prefix; NULL: the bucket */
    const char *query;            /* canonical (cs_s3_query_build), or NULL */
    const void *body;             /* PUT or POST body */
    size_t body_len;
    const char *if_none_match;    /* header value, or NULL */
    uint64_t range_off, range_len;/* Range: bytes=off-(off+len-1); len 0: bytes=off- (off > 0) */
    cs_buf *out;                  /* 2xx body appended here (GET), or NULL */
    size_t max_len;               /* bound on the 2xx body; exceeded: -EMSGSIZE */
    /* out */
    long status;                  /* final HTTP status, 0 if none */
    char etag[80];
    int64_t mtime;                /* Last-Modified, 0 when absent */
    int64_t content_length;       /* -1 when absent */
    char s3_code[64];             /* <Error><Code> of a failed reply, sanitised */
    char s3_message[256];
    char transport_error[256];    /* curl's message for the last failed attempt */
    int attempts;
} cs_s3_req;

/* Perform r, retrying transient failures.  Returns 0 when a final HTTP
 * status was received (r->status says which, whatever it is), or a negative
 * errno for transport failures: -EHOSTUNREACH, -ETIMEDOUT, -ECONNRESET,
 * -EPROTO (TLS), -EMSGSIZE (body over max_len), -EIO (5xx after all
 * retries; r->status is set). */
int cs_s3_request(cs_s3_client *c, cs_s3_req *r);

/* Map a final HTTP status (with r->s3_code) to the storage.h errno;
 * -EKEYEXPIRED for an expired or refused session token. */
int cs_s3_status_errno(const cs_s3_req *r);

/* Whether c's session token is known to have expired (then logged once,
 * naming where it came from and what to do). */
bool cs_s3_token_expired(cs_s3_client *c);

#endif
