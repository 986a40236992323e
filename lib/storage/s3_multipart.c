/* SPDX-License-Identifier: MIT */
/* Multipart uploads: see s3_multipart.h. */
#include "storage/s3_multipart.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "storage/s3_multipart_xml.h"
#include "storage/s3_xml.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/macros.h"

#define PARALLEL_MAX 16
#define ETAG_MAX 80

typedef struct upload {
    cs_s3_client *c;
    const char *key;
    char id[CS_S3_UPLOAD_ID_MAX + 1];
    const uint8_t *data;
    size_t len, part_size, nparts;
    char (*etags)[ETAG_MAX];
    atomic_size_t next;
    atomic_int err;
} upload;

static int id_query(const upload *u, unsigned part, char *out, size_t outsz)
{
    char num[16];
    cs_s3_param p[2] = { { "partNumber", num }, { "uploadId", u->id } };

    snprintf(num, sizeof(num), "%u", part);
    return cs_s3_query_build(part ? p : p + 1, part ? 2 : 1, out, outsz);
}

/* A request's outcome as an errno, logged once when it is a failure. */
static int outcome(const cs_s3_req *r, int err, const char *what)
{
    if (err == 0)
        err = cs_s3_status_errno(r);
    if (err < 0)
        log_warning("S3 multipart %s of %s failed: HTTP %ld %s%s(after %d attempt%s)", what, r->key, r->status,
                    r->s3_code, r->s3_code[0] ? " " : "", r->attempts, r->attempts == 1 ? "" : "s");
    return err;
}

static void abort_upload(cs_s3_client *c, const char *key, const char *id);
static int fetch_uploads(cs_s3_client *c, const char *prefix, const char *key_marker, const char *id_marker,
                         cs_s3_upload_page *p);

/* A create retried after a lost reply may have made an upload whose id
 * never came back (the server made it, the reply was cut): abort the key's
 * other uploads begun since this create started, rather than leave them and
 * their parts to 'storage cleanup'.  Keys written by multipart (packs,
 * message bodies) have one writer at a time; at worst another writer's
 * completion fails and is retried by its caller. */
static void abort_lost_creates(upload *u, int64_t since)
{
    char full[CS_S3_URL_MAX];
    cs_s3_upload_page p;

    if ((size_t)snprintf(full, sizeof(full), "%s%s", u->c->url.prefix, u->key) >= sizeof(full) ||
        fetch_uploads(u->c, full, NULL, NULL, &p) < 0)
        return; /* then 'storage cleanup' aborts them */
    for (size_t i = 0; i < p.n; i++) {
        const cs_s3_upload *up = &p.uploads[i];
        if (strcmp(up->key, full) == 0 && strcmp(up->upload_id, u->id) != 0 && up->initiated >= since - 1) {
            log_info("aborting the upload of %s whose create reply was lost", u->key);
            abort_upload(u->c, u->key, up->upload_id);
        }
    }
    cs_s3_upload_page_free(&p);
}

static int create(upload *u)
{
    cs_buf body = CS_BUF_INIT;
    cs_s3_req r = { .method = "POST", .key = u->key, .query = "uploads=", .out = &body, .max_len = 64 * 1024 };
    int64_t start = (int64_t)time(NULL);
    int err = outcome(&r, cs_s3_request(u->c, &r), "create");

    if (err == 0 && cs_s3_initiate_parse(body.data, body.len, u->id) < 0) {
        log_warning("S3 multipart create of %s: the reply is not an InitiateMultipartUploadResult", u->key);
        err = -EBADMSG;
    }
    if (err == 0 && r.attempts > 1)
        abort_lost_creates(u, start);
    cs_buf_free(&body);
    return err;
}

/* ETags go back in the completion XML: quotes, hex, '-' only. */
static bool etag_valid(const char *e)
{
    return e[0] && strspn(e, "\"0123456789abcdefABCDEF-") == strlen(e);
}

static int put_part(upload *u, size_t i)
{
    char query[CS_S3_UPLOAD_ID_MAX * 3 + 64];
    size_t off = i * u->part_size, n = u->len - off < u->part_size ? u->len - off : u->part_size;
    cs_s3_req r = { .method = "PUT", .key = u->key, .query = query, .body = u->data + off, .body_len = n };
    int err = id_query(u, (unsigned)i + 1, query, sizeof(query));

    if (err < 0)
        return err;
    err = outcome(&r, cs_s3_request(u->c, &r), "part");
    if (err == 0 && !etag_valid(r.etag)) {
        log_warning("S3 multipart part %zu of %s: no usable ETag in the reply", i + 1, u->key);
        err = -EBADMSG;
    }
    if (err == 0)
        memcpy(u->etags[i], r.etag, sizeof(r.etag) < ETAG_MAX ? sizeof(r.etag) : ETAG_MAX);
    return err;
}

static void *part_worker(void *arg)
{
    upload *u = arg;
    size_t i;

    while (atomic_load(&u->err) == 0 && (i = atomic_fetch_add(&u->next, 1)) < u->nparts) {
        int err = put_part(u, i);
        if (err < 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&u->err, &zero, err);
        }
    }
    return NULL;
}

static int put_parts(upload *u, int parallel)
{
    pthread_t t[PARALLEL_MAX];
    int started = 0;

    if (parallel < 1)
        parallel = 1;
    if (parallel > PARALLEL_MAX)
        parallel = PARALLEL_MAX;
    if ((size_t)parallel > u->nparts)
        parallel = (int)u->nparts;
    for (; started < parallel - 1; started++)
        if (pthread_create(&t[started], NULL, part_worker, u) != 0)
            break; /* fewer threads: slower, not wrong */
    part_worker(u);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    return atomic_load(&u->err);
}

static int completion_xml(const upload *u, cs_buf *x)
{
    char line[160];
    int r = cs_buf_append(x, "<CompleteMultipartUpload>", 25);

    for (size_t i = 0; i < u->nparts && r == 0; i++) {
        int n = snprintf(line, sizeof(line), "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                         u->etags[i]);
        r = cs_buf_append(x, line, (size_t)n);
    }
    return r == 0 ? cs_buf_append(x, "</CompleteMultipartUpload>", 26) : r;
}

/* A retried completion whose first attempt succeeded finds no upload: the
 * object of the right size means it was ours. */
static bool completed_after_all(upload *u)
{
    cs_s3_req h = { .method = "HEAD", .key = u->key };

    return cs_s3_request(u->c, &h) == 0 && h.status == 200 && h.content_length == (int64_t)u->len;
}

static int complete(upload *u)
{
    char query[CS_S3_UPLOAD_ID_MAX * 3 + 64], code[64];
    cs_buf x = CS_BUF_INIT, reply = CS_BUF_INIT;
    cs_s3_req r = { .method = "POST", .key = u->key, .query = query, .out = &reply, .max_len = 64 * 1024 };
    int err = id_query(u, 0, query, sizeof(query));

    if (err >= 0)
        err = completion_xml(u, &x);
    if (err == 0) {
        r.body = x.data;
        r.body_len = x.len;
        err = cs_s3_request(u->c, &r);
        if (err == 0 && r.status == 404 && r.attempts > 1 && completed_after_all(u))
            goto out;
        err = outcome(&r, err, "complete");
    }
    /* S3 may fail a completion inside a 200 reply */
    if (err == 0 && (err = cs_s3_complete_parse(reply.data, reply.len, code)) < 0)
        log_warning("S3 multipart complete of %s failed: %s", u->key, code[0] ? code : "malformed reply");
out:
    cs_buf_free(&x);
    cs_buf_free(&reply);
    return err;
}

static void abort_upload(cs_s3_client *c, const char *key, const char *id)
{
    char query[CS_S3_UPLOAD_ID_MAX * 3 + 64];
    cs_s3_param p = { "uploadId", id };
    cs_s3_req r = { .method = "DELETE", .key = key, .query = query };

    if (cs_s3_query_build(&p, 1, query, sizeof(query)) >= 0)
        (void)outcome(&r, cs_s3_request(c, &r), "abort");
}

int cs_s3_multipart_put(cs_s3_client *c, const char *key, const void *data, size_t len, size_t part_size,
                        int parallel)
{
    upload u = { .c = c, .key = key, .data = data, .len = len };
    int err;

    if (part_size < CS_S3_PART_MIN)
        part_size = CS_S3_PART_MIN;
    if (part_size > CS_S3_PUT_MAX)
        part_size = CS_S3_PUT_MAX;
    if (len > (size_t)CS_S3_PARTS_MAX * part_size)
        part_size = (len + CS_S3_PARTS_MAX - 1) / CS_S3_PARTS_MAX;
    if (part_size > CS_S3_PUT_MAX)
        return -EFBIG; /* over 48 TiB: S3's own object limit is 5 TiB */
    u.part_size = part_size;
    u.nparts = len == 0 ? 1 : (len + part_size - 1) / part_size;
    u.etags = calloc(u.nparts, sizeof(*u.etags));
    if (!u.etags)
        return -ENOMEM;
    err = create(&u);
    if (err == 0) {
        err = put_parts(&u, parallel);
        if (err == 0)
            err = complete(&u);
        if (err < 0)
            abort_upload(c, key, u.id);
    }
    free(u.etags);
    return err;
}

/* ---- cleanup ---------------------------------------------------------------- */

static int fetch_uploads(cs_s3_client *c, const char *prefix, const char *key_marker, const char *id_marker,
                         cs_s3_upload_page *p)
{
    char *query = malloc(CS_S3_URL_MAX);
    cs_s3_param q[4] = { { "uploads", NULL }, { "prefix", prefix }, { "key-marker", key_marker },
                         { "upload-id-marker", id_marker } };
    cs_buf body = CS_BUF_INIT;
    cs_s3_req r = { .method = "GET", .key = NULL, .query = query, .out = &body, .max_len = CS_S3_XML_MAX };
    int err;

    if (!query)
        return -ENOMEM;
    err = cs_s3_query_build(q, key_marker ? 4 : 2, query, CS_S3_URL_MAX);
    if (err >= 0)
        err = outcome(&r, cs_s3_request(c, &r), "listing");
    if (err == 0 && (err = cs_s3_uploads_parse(body.data, body.len, CS_S3_UPLOADS_PAGE_MAX, p)) < 0)
        log_warning("the listing of unfinished uploads from %s is malformed: is this an S3 server?", c->url.host);
    cs_buf_free(&body);
    free(query);
    return err;
}

int cs_s3_multipart_cleanup(cs_s3_client *c, int64_t older_than, unsigned *aborted)
{
    char *key_marker = NULL, *id_marker = NULL;
    size_t plen = strlen(c->url.prefix);
    int err, pages = 0;

    *aborted = 0;
    do {
        cs_s3_upload_page p;

        err = fetch_uploads(c, c->url.prefix, key_marker, id_marker, &p);
        if (err < 0)
            break;
        for (size_t i = 0; i < p.n; i++) {
            const cs_s3_upload *up = &p.uploads[i];
            if (strncmp(up->key, c->url.prefix, plen) != 0 || up->initiated == 0 || up->initiated > older_than)
                continue; /* outside our prefix, or recent (a running upload) */
            abort_upload(c, up->key + plen, up->upload_id);
            (*aborted)++;
        }
        if (p.truncated && key_marker && strcmp(p.next_key_marker, key_marker) == 0 &&
            strcmp(p.next_upload_id_marker, id_marker) == 0) {
            log_warning("the listing of unfinished uploads repeats itself: giving up");
            err = -EBADMSG;
        }
        free(key_marker);
        free(id_marker);
        key_marker = p.truncated && err == 0 ? CS_TAKE_PTR(p.next_key_marker) : NULL;
        id_marker = p.truncated && err == 0 ? CS_TAKE_PTR(p.next_upload_id_marker) : NULL;
        cs_s3_upload_page_free(&p);
    } while (key_marker && ++pages < 100000);
    free(key_marker);
    free(id_marker);
    return err;
}
