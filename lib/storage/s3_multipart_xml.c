/* SPDX-License-Identifier: MIT */
/* Multipart upload replies on the bounded collector of s3_xml.h. */
#include "storage/s3_multipart_xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "storage/s3_xml.h"

#define TEXT_MAX 2048 /* a key (1024) or an upload id (1024) fits */

enum doc { D_INITIATE, D_COMPLETE, D_UPLOADS };

typedef struct mstate {
    enum doc want;
    bool is_error, in_upload;
    char *upload_id;              /* D_INITIATE */
    char *code;                   /* D_COMPLETE's error code */
    cs_s3_upload_page *page;      /* D_UPLOADS */
    size_t max_entries;
    cs_s3_upload cur;
} mstate;

static const char *const root_of[] = {
    [D_INITIATE] = "InitiateMultipartUploadResult",
    [D_COMPLETE] = "CompleteMultipartUploadResult",
    [D_UPLOADS] = "ListMultipartUploadsResult",
};

/* Every element's text is collected (1). */
static int on_start(void *ud, const cs_s3_xml_element *e)
{
    mstate *s = ud;

    if (e->depth == 1) {
        s->is_error = s->want == D_COMPLETE && strcmp(e->name, "Error") == 0;
        if (!s->is_error && strcmp(e->name, root_of[s->want]) != 0)
            return -EBADMSG;
    }
    if (s->want == D_UPLOADS && e->depth == 2 && strcmp(e->name, "Upload") == 0) {
        if (s->page->n >= s->max_entries)
            return -E2BIG;
        s->in_upload = true;
    }
    return 1;
}

static int end_upload_field(mstate *s, const cs_s3_xml_element *e)
{
    if (strcmp(e->name, "Key") == 0)
        return cs_s3_xml_take_text(e, 1024, &s->cur.key);
    if (strcmp(e->name, "UploadId") == 0)
        return cs_s3_xml_take_text(e, CS_S3_UPLOAD_ID_MAX, &s->cur.upload_id);
    if (strcmp(e->name, "Initiated") == 0)
        s->cur.initiated = cs_s3_xml_time(e->text);
    return 0;
}

static int push_upload(mstate *s)
{
    cs_s3_upload_page *p = s->page;

    s->in_upload = false;
    if (!s->cur.key || !s->cur.upload_id)
        return -EBADMSG;
    if (!p->uploads && !(p->uploads = calloc(s->max_entries ? s->max_entries : 1, sizeof(*p->uploads))))
        return -ENOMEM;
    p->uploads[p->n++] = s->cur;
    memset(&s->cur, 0, sizeof(s->cur));
    return 0;
}

static int end_uploads_field(mstate *s, const cs_s3_xml_element *e)
{
    if (s->in_upload && e->depth == 3)
        return end_upload_field(s, e);
    if (s->in_upload && e->depth == 2)
        return push_upload(s);
    if (e->depth != 2)
        return 0;
    if (strcmp(e->name, "IsTruncated") == 0)
        s->page->truncated = strcmp(e->text, "true") == 0;
    else if (strcmp(e->name, "NextKeyMarker") == 0 && e->len)
        return cs_s3_xml_take_text(e, 1024, &s->page->next_key_marker);
    else if (strcmp(e->name, "NextUploadIdMarker") == 0 && e->len)
        return cs_s3_xml_take_text(e, CS_S3_UPLOAD_ID_MAX, &s->page->next_upload_id_marker);
    return 0;
}

static int on_end(void *ud, const cs_s3_xml_element *e)
{
    mstate *s = ud;

    if (s->is_error) {
        if (e->depth == 2 && strcmp(e->name, "Code") == 0)
            cs_s3_xml_printable(s->code, 64, e->text);
        return 0;
    }
    if (s->want == D_INITIATE && e->depth == 2 && strcmp(e->name, "UploadId") == 0) {
        if (s->upload_id[0] || e->len == 0 || e->len > CS_S3_UPLOAD_ID_MAX || memchr(e->text, '\0', e->len))
            return -EBADMSG;
        memcpy(s->upload_id, e->text, e->len + 1);
        return 0;
    }
    return s->want == D_UPLOADS ? end_uploads_field(s, e) : 0;
}

static int run(mstate *s, const void *xml, size_t len)
{
    const cs_s3_xml_collector c = { .start = on_start, .end = on_end, .text_max = TEXT_MAX, .ud = s };

    return cs_s3_xml_collect(xml, len, &c);
}

int cs_s3_initiate_parse(const void *xml, size_t len, char upload_id[CS_S3_UPLOAD_ID_MAX + 1])
{
    mstate s = { .want = D_INITIATE, .upload_id = upload_id };
    int r;

    upload_id[0] = '\0';
    r = run(&s, xml, len);
    return r == 0 && !upload_id[0] ? -EBADMSG : r;
}

int cs_s3_complete_parse(const void *xml, size_t len, char code[64])
{
    mstate s = { .want = D_COMPLETE, .code = code };
    int r;

    code[0] = '\0';
    r = run(&s, xml, len);
    return r == 0 && s.is_error ? -EIO : r;
}

void cs_s3_upload_page_free(cs_s3_upload_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->uploads[i].key);
        free(p->uploads[i].upload_id);
    }
    free(p->uploads);
    free(p->next_key_marker);
    free(p->next_upload_id_marker);
    memset(p, 0, sizeof(*p));
}

int cs_s3_uploads_parse(const void *xml, size_t len, size_t max_entries, cs_s3_upload_page *out)
{
    mstate s = { .want = D_UPLOADS, .page = out };
    int r;

    memset(out, 0, sizeof(*out));
    s.max_entries = max_entries > CS_S3_UPLOADS_PAGE_MAX ? CS_S3_UPLOADS_PAGE_MAX : max_entries;
    r = run(&s, xml, len);
    if (r == 0 && out->truncated && (!out->next_key_marker || !out->next_upload_id_marker))
        r = -EBADMSG; /* more promised, no way to ask for it */
    free(s.cur.key);
    free(s.cur.upload_id);
    if (r < 0)
        cs_s3_upload_page_free(out);
    return r;
}
