/* SPDX-License-Identifier: MIT */
/* Multipart upload replies with expat, bounded: see s3_multipart_xml.h. */
#include "storage/s3_multipart_xml.h"

#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "storage/s3_xml.h"

#define DEPTH_MAX 8
#define TEXT_MAX 2048 /* a key (1024) or an upload id (1024) fits */

enum doc { D_INITIATE, D_COMPLETE, D_UPLOADS };

typedef struct mstate {
    XML_Parser parser;
    enum doc want;
    int err, depth;
    bool is_error, in_upload, collecting;
    char text[TEXT_MAX + 1];
    size_t text_len;
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

static void fail(mstate *s, int err)
{
    if (!s->err)
        s->err = err;
    XML_StopParser(s->parser, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    mstate *s = ud;

    (void)attrs;
    if (s->err)
        return;
    if (++s->depth > DEPTH_MAX)
        return fail(s, -EBADMSG);
    if (s->depth == 1) {
        s->is_error = s->want == D_COMPLETE && strcmp(name, "Error") == 0;
        if (!s->is_error && strcmp(name, root_of[s->want]) != 0)
            return fail(s, -EBADMSG);
    }
    if (s->want == D_UPLOADS && s->depth == 2 && strcmp(name, "Upload") == 0) {
        if (s->page->n >= s->max_entries)
            return fail(s, -E2BIG);
        s->in_upload = true;
    }
    s->text_len = 0;
    s->collecting = true;
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
    mstate *s = ud;

    if (!s->collecting || len <= 0 || s->err)
        return;
    if ((size_t)len > TEXT_MAX - s->text_len)
        return fail(s, -EBADMSG);
    memcpy(s->text + s->text_len, t, (size_t)len);
    s->text_len += (size_t)len;
}

/* A copy of the element's text: non-empty, no NUL, at most max bytes. */
static int take_text(mstate *s, size_t max, char **out)
{
    if (*out || s->text_len == 0 || s->text_len > max || memchr(s->text, '\0', s->text_len))
        return -EBADMSG;
    *out = strndup(s->text, s->text_len);
    return *out ? 0 : -ENOMEM;
}

static int64_t parse_time(const char *t)
{
    struct tm tm = { 0 };

    return strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) ? (int64_t)timegm(&tm) : 0;
}

static int end_upload_field(mstate *s, const char *name)
{
    if (strcmp(name, "Key") == 0)
        return take_text(s, 1024, &s->cur.key);
    if (strcmp(name, "UploadId") == 0)
        return take_text(s, CS_S3_UPLOAD_ID_MAX, &s->cur.upload_id);
    if (strcmp(name, "Initiated") == 0)
        s->cur.initiated = parse_time(s->text);
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

static int end_field(mstate *s, const char *name)
{
    if (s->is_error) {
        if (s->depth == 2 && strcmp(name, "Code") == 0) {
            size_t i = 0;
            for (; i < s->text_len && i < 63; i++)
                s->code[i] = ((unsigned char)s->text[i] < 0x20 || (unsigned char)s->text[i] >= 0x7f) ? '?'
                                                                                                : s->text[i];
            s->code[i] = '\0';
        }
        return 0;
    }
    if (s->want == D_INITIATE && s->depth == 2 && strcmp(name, "UploadId") == 0) {
        if (s->upload_id[0] || s->text_len == 0 || s->text_len > CS_S3_UPLOAD_ID_MAX ||
            memchr(s->text, '\0', s->text_len))
            return -EBADMSG;
        memcpy(s->upload_id, s->text, s->text_len + 1);
        return 0;
    }
    if (s->want != D_UPLOADS)
        return 0;
    if (s->in_upload && s->depth == 3)
        return end_upload_field(s, name);
    if (s->in_upload && s->depth == 2)
        return push_upload(s);
    if (s->depth == 2 && strcmp(name, "IsTruncated") == 0)
        s->page->truncated = strcmp(s->text, "true") == 0;
    else if (s->depth == 2 && strcmp(name, "NextKeyMarker") == 0 && s->text_len)
        return take_text(s, 1024, &s->page->next_key_marker);
    else if (s->depth == 2 && strcmp(name, "NextUploadIdMarker") == 0 && s->text_len)
        return take_text(s, CS_S3_UPLOAD_ID_MAX, &s->page->next_upload_id_marker);
    return 0;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    mstate *s = ud;
    int r;

    if (s->err)
        return;
    s->text[s->text_len] = '\0';
    if ((r = end_field(s, name)) < 0)
        fail(s, r);
    s->text_len = 0;
    s->collecting = false;
    s->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name; (void)sysid; (void)pubid; (void)has_internal_subset;
    fail(ud, -EBADMSG);
}

static int run(mstate *s, const void *xml, size_t len)
{
    int r;

    if (len > CS_S3_XML_MAX || len > INT32_MAX)
        return -EBADMSG;
    s->parser = XML_ParserCreate("UTF-8");
    if (!s->parser)
        return -ENOMEM;
    XML_SetUserData(s->parser, s);
    XML_SetElementHandler(s->parser, on_start, on_end);
    XML_SetCharacterDataHandler(s->parser, on_text);
    XML_SetStartDoctypeDeclHandler(s->parser, on_doctype);
    if (XML_Parse(s->parser, xml, (int)len, XML_TRUE) != XML_STATUS_OK && !s->err)
        s->err = -EBADMSG;
    r = s->err;
    XML_ParserFree(s->parser);
    return r;
}

int cs_s3_initiate_parse(const void *xml, size_t len, char upload_id[CS_S3_UPLOAD_ID_MAX + 1])
{
    mstate *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    upload_id[0] = '\0';
    s->want = D_INITIATE;
    s->upload_id = upload_id;
    r = run(s, xml, len);
    if (r == 0 && !upload_id[0])
        r = -EBADMSG;
    free(s);
    return r;
}

int cs_s3_complete_parse(const void *xml, size_t len, char code[64])
{
    mstate *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    code[0] = '\0';
    s->want = D_COMPLETE;
    s->code = code;
    r = run(s, xml, len);
    if (r == 0 && s->is_error)
        r = -EIO;
    free(s);
    return r;
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
    mstate *s = calloc(1, sizeof(*s));
    int r;

    memset(out, 0, sizeof(*out));
    if (!s)
        return -ENOMEM;
    s->want = D_UPLOADS;
    s->page = out;
    s->max_entries = max_entries > CS_S3_UPLOADS_PAGE_MAX ? CS_S3_UPLOADS_PAGE_MAX : max_entries;
    r = run(s, xml, len);
    if (r == 0 && out->truncated && (!out->next_key_marker || !out->next_upload_id_marker))
        r = -EBADMSG; /* more promised, no way to ask for it */
    free(s->cur.key);
    free(s->cur.upload_id);
    free(s);
    if (r < 0)
        cs_s3_upload_page_free(out);
    return r;
}
