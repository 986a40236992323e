/* SPDX-License-Identifier: MIT */
/* Storage backends: the one interface every part that touches the cloud uses.
 *
 * A backend holds objects under slash-separated keys ("users/alice/keybag",
 * "users/alice/backup/data/ab/abcd...").  Keys are relative to the URL's
 * root/prefix.  Backends:
 *   file:///path                   local disk or NFS (the embedded default)
 *   s3://host[:port]/bucket[/prefix]  any S3-compatible store
 *
 * Threading: every operation on one cs_storage may be called from several
 * threads at once; backends keep their own connection pools.  This is how
 * callers get parallel requests.
 *
 * Errors (negative errno): -ENOENT missing object, -EEXIST put_immutable
 * onto an existing key, -EACCES/-EPERM credentials refused, -EMSGSIZE object
 * larger than the caller's limit, -EHOSTUNREACH/-ETIMEDOUT/-ECONNRESET
 * network, -EIO anything else from the server, -EBADMSG malformed reply.
 */
#ifndef CS_STORAGE_STORAGE_H
#define CS_STORAGE_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"

typedef struct cs_storage cs_storage;

typedef struct cs_object_stat {
    uint64_t size;
    int64_t mtime_sec;  /* 0 when unknown */
    char etag[80];      /* opaque version tag, "" when unknown */
} cs_object_stat;

/* Options for opening a backend.  Zero-initialise and fill what you need. */
typedef struct cs_storage_opts {
    /* S3 credentials; NULL = from config/environment (see storage_s3.c). */
    const char *access_key;
    const char *secret_key;     /* a secret: caller keeps it in secure memory */
    const char *session_token;  /* temporary credentials' token (secure memory), or NULL */
    int64_t token_expires;      /* Unix time the token expires, 0 = not known */
    const char *cred_source;    /* where access_key comes from, for messages; NULL = "the caller" */
    const char *region;         /* NULL = the environment's or profile's, else "us-east-1" */
    const char *ca_file;
    int path_style;             /* 1 = path-style addressing (default for host:port) */
    int connect_timeout_ms;     /* 0 = backend default */
    int request_timeout_ms;     /* 0 = backend default; the PAM helper uses short ones */
    int max_retries;            /* -1 = backend default */
} cs_storage_opts;

/* Put flags */
#define CS_PUT_IMMUTABLE 0x1  /* fail with -EEXIST if the key exists (repository objects) */
#define CS_PUT_UNCACHED  0x2  /* hint: not read back soon; file:// may bypass the page cache */
#define CS_PUT_REPLACE   0x0  /* atomic replace (keybag, locks, snapshots' "latest"...) */

typedef int (*cs_storage_list_cb)(const char *key, const cs_object_stat *st, void *userdata);

struct cs_storage_ops {
    const char *scheme;
    int (*open)(const char *url, const cs_storage_opts *opts, cs_storage **out);
    /* Read [offset, offset+length) of key (length 0 = to the end), appending to
     * out; -EMSGSIZE if the result would exceed max_len. */
    int (*get)(cs_storage *s, const char *key, uint64_t offset, uint64_t length,
               size_t max_len, cs_buf *out);
    /* Conditional get: if the object's etag equals if_none_match, returns 1 and
     * leaves out untouched; else fetches it, fills etag_out (may be NULL), 0. */
    int (*get_if_changed)(cs_storage *s, const char *key, const char *if_none_match,
                          size_t max_len, cs_buf *out, char etag_out[80]);
    int (*put)(cs_storage *s, const char *key, const void *data, size_t len, int flags);
    int (*del)(cs_storage *s, const char *key);
    int (*stat)(cs_storage *s, const char *key, cs_object_stat *st);
    /* Call cb for every key starting with prefix (recursively), in no
     * particular order.  A non-zero return from cb stops and is returned. */
    int (*list)(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *userdata);
    /* The same for the leftovers of interrupted puts (not objects: list
     * never shows them, get cannot read them, del removes them).  NULL for
     * backends whose puts leave nothing behind (S3). */
    int (*list_partial)(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *userdata);
    void (*close)(cs_storage *s);
};

/* Every backend object starts with this header. */
struct cs_storage {
    const struct cs_storage_ops *ops;
};

/* What an error of the storage at url means, for the user: the storage's
 * kind, the real cause and what to do (e.g. a file:// directory that does
 * not exist, S3 without credentials).  Written to buf, which is returned. */
const char *cs_storage_explain(const char *url, int err, char *buf, size_t n);

/* Open the backend named by url's scheme. */
int cs_storage_open(const char *url, const cs_storage_opts *opts, cs_storage **out);
void cs_storage_close(cs_storage *s);

static inline int cs_storage_get(cs_storage *s, const char *key, uint64_t off, uint64_t len,
                                 size_t max_len, cs_buf *out)
{ return s->ops->get(s, key, off, len, max_len, out); }
static inline int cs_storage_get_if_changed(cs_storage *s, const char *key, const char *etag,
                                            size_t max_len, cs_buf *out, char etag_out[80])
{ return s->ops->get_if_changed(s, key, etag, max_len, out, etag_out); }
static inline int cs_storage_put(cs_storage *s, const char *key, const void *data, size_t len, int flags)
{ return s->ops->put(s, key, data, len, flags); }
static inline int cs_storage_del(cs_storage *s, const char *key)
{ return s->ops->del(s, key); }
static inline int cs_storage_stat(cs_storage *s, const char *key, cs_object_stat *st)
{ return s->ops->stat(s, key, st); }
static inline int cs_storage_list(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *ud)
{ return s->ops->list(s, prefix, cb, ud); }

static inline int cs_storage_list_partial(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *ud)
{ return s->ops->list_partial ? s->ops->list_partial(s, prefix, cb, ud) : 0; }

/* Several requests at once: the tasks (each making requests on s) run
 * together, the first on the calling thread and each other one on a thread
 * of its own, sharing the backend's connection pool; on file:// one after
 * the other (a local disk has no round trip to hide, and no thread is
 * cheaper than one).  Every task runs, whatever the others return; each
 * result is in its rc.  For the few independent requests of a repository's
 * open (docs/repository.md, "Opening"): over a WAN each round trip saved
 * is 100 ms. */
typedef struct cs_storage_task {
    int (*fn)(void *arg);
    void *arg;
    int rc;
} cs_storage_task;
void cs_storage_run_tasks(cs_storage *s, cs_storage_task *tasks, size_t n);

/* Keys must be relative, '/'-separated, without "." or ".." components,
 * empty components, NUL or control bytes, at most 1024 bytes.  Backends call
 * this on every key they are given. */
int cs_storage_key_valid(const char *key);

extern const struct cs_storage_ops cs_storage_file_ops;
extern const struct cs_storage_ops cs_storage_s3_ops;

#endif
