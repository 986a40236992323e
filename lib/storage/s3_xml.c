/* SPDX-License-Identifier: MIT */
/* ListObjectsV2 and <Error> parsing with expat, bounded. */
#include "storage/s3_xml.h"

#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XML_MAX_DEPTH 8
#define TEXT_MAX 4096 /* longer than any key (1024) or token we accept */

enum field { F_NONE, F_KEY, F_SIZE, F_ETAG, F_MTIME, F_TRUNC, F_TOKEN, F_CODE, F_MESSAGE };

typedef struct xml_state {
    XML_Parser parser;
    int err;               /* first error; parsing stops there */
    int depth;
    bool is_error_doc;     /* root <Error> rather than <ListBucketResult> */
    bool in_contents;
    enum field field;
    char text[TEXT_MAX + 1];
    size_t text_len;
    /* listing */
    cs_s3_list_page *page;
    size_t max_entries;
    cs_s3_list_entry cur;
    bool cur_has_key, cur_has_size;
    /* error */
    char *code, *message;
} xml_state;

static void fail(xml_state *s, int err)
{
    if (!s->err)
        s->err = err;
    XML_StopParser(s->parser, XML_FALSE);
}

static enum field field_of(const xml_state *s, const char *name)
{
    if (s->is_error_doc) {
        if (s->depth != 2)
            return F_NONE;
        return strcmp(name, "Code") == 0 ? F_CODE : strcmp(name, "Message") == 0 ? F_MESSAGE : F_NONE;
    }
    if (s->in_contents && s->depth == 3) {
        if (strcmp(name, "Key") == 0) return F_KEY;
        if (strcmp(name, "Size") == 0) return F_SIZE;
        if (strcmp(name, "ETag") == 0) return F_ETAG;
        if (strcmp(name, "LastModified") == 0) return F_MTIME;
        return F_NONE;
    }
    if (s->depth == 2) {
        if (strcmp(name, "IsTruncated") == 0) return F_TRUNC;
        if (strcmp(name, "NextContinuationToken") == 0) return F_TOKEN;
    }
    return F_NONE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xml_state *s = ud;

    (void)attrs;
    if (++s->depth > XML_MAX_DEPTH)
        return fail(s, -EBADMSG);
    if (s->depth == 1) {
        /* a listing parser accepts only a listing, an error parser only an error */
        if (s->page ? strcmp(name, "ListBucketResult") != 0 : strcmp(name, "Error") != 0)
            return fail(s, -EBADMSG);
        s->is_error_doc = !s->page;
        return;
    }
    if (s->page && !s->is_error_doc && s->depth == 2 && strcmp(name, "Contents") == 0) {
        if (s->page->n >= s->max_entries)
            return fail(s, -E2BIG);
        memset(&s->cur, 0, sizeof(s->cur));
        s->cur_has_key = s->cur_has_size = false;
        s->in_contents = true;
        return;
    }
    s->field = field_of(s, name);
    s->text_len = 0;
}

static int parse_u64(const char *t, uint64_t *out)
{
    uint64_t v = 0;

    if (!*t || strlen(t) > 20)
        return -EBADMSG;
    for (; *t; t++) {
        uint64_t d = (uint64_t)(*t - '0');
        if (*t < '0' || *t > '9' || v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* "2009-10-12T17:50:30.000Z" (fraction optional); 0 when unparseable, as
 * the time is informational. */
static int64_t parse_time(const char *t)
{
    struct tm tm = { 0 };
    const char *end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);

    if (!end)
        return 0;
    return (int64_t)timegm(&tm);
}

static void printable_copy(char *dst, size_t dstsz, const char *src)
{
    size_t i = 0;

    for (; src[i] && i + 1 < dstsz; i++)
        dst[i] = ((unsigned char)src[i] < 0x20 || (unsigned char)src[i] >= 0x7f) ? '?' : src[i];
    dst[i] = '\0';
}

static void finish_field(xml_state *s)
{
    const char *t = s->text;
    cs_s3_list_entry *e = &s->cur;

    s->text[s->text_len] = '\0';
    switch (s->field) {
    case F_KEY:
        if (e->key || s->text_len == 0 || s->text_len > 1024 || memchr(t, '\0', s->text_len) != NULL)
            return fail(s, -EBADMSG);
        if (!(e->key = strdup(t)))
            return fail(s, -ENOMEM);
        s->cur_has_key = true;
        break;
    case F_SIZE:
        if (s->cur_has_size || parse_u64(t, &e->st.size) < 0)
            return fail(s, -EBADMSG);
        s->cur_has_size = true;
        break;
    case F_ETAG:
        if (s->text_len >= sizeof(e->st.etag))
            return fail(s, -EBADMSG);
        memcpy(e->st.etag, t, s->text_len + 1);
        break;
    case F_MTIME:
        e->st.mtime_sec = parse_time(t);
        break;
    case F_TRUNC:
        if (strcmp(t, "true") == 0)
            s->page->truncated = true;
        else if (strcmp(t, "false") != 0)
            return fail(s, -EBADMSG);
        break;
    case F_TOKEN:
        if (s->page->next_token || s->text_len == 0 || s->text_len > CS_S3_TOKEN_MAX)
            return fail(s, -EBADMSG);
        if (!(s->page->next_token = strdup(t)))
            return fail(s, -ENOMEM);
        break;
    case F_CODE:
        printable_copy(s->code, 64, t);
        break;
    case F_MESSAGE:
        printable_copy(s->message, 256, t);
        break;
    case F_NONE:
        break;
    }
}

static int push_entry(xml_state *s)
{
    cs_s3_list_page *p = s->page;

    if (!s->cur_has_key || !s->cur_has_size)
        return -EBADMSG;
    if (!p->entries) {
        p->entries = calloc(s->max_entries ? s->max_entries : 1, sizeof(*p->entries));
        if (!p->entries)
            return -ENOMEM;
    }
    p->entries[p->n++] = s->cur;
    memset(&s->cur, 0, sizeof(s->cur));
    return 0;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    xml_state *s = ud;
    int r;

    (void)name;
    if (s->field != F_NONE) {
        finish_field(s);
        s->field = F_NONE;
    } else if (s->in_contents && s->depth == 2) {
        s->in_contents = false;
        if ((r = push_entry(s)) < 0)
            fail(s, r);
    }
    s->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
    xml_state *s = ud;

    if (s->field == F_NONE || len <= 0)
        return;
    if ((size_t)len > TEXT_MAX - s->text_len)
        return fail(s, -EBADMSG);
    memcpy(s->text + s->text_len, t, (size_t)len);
    s->text_len += (size_t)len;
}

/* DOCTYPEs are how entity expansion attacks start; S3 never sends one. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name; (void)sysid; (void)pubid; (void)has_internal_subset;
    fail(ud, -EBADMSG);
}

static int run_parser(xml_state *s, const void *xml, size_t len)
{
    int r;

    if (len > CS_S3_XML_MAX)
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

void cs_s3_list_page_free(cs_s3_list_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->entries[i].key);
    free(p->entries);
    free(p->next_token);
    memset(p, 0, sizeof(*p));
}

int cs_s3_listing_parse(const void *xml, size_t len, size_t max_entries, cs_s3_list_page *out)
{
    xml_state *s;
    int r;

    memset(out, 0, sizeof(*out));
    if (max_entries > CS_S3_PAGE_MAX_ENTRIES)
        max_entries = CS_S3_PAGE_MAX_ENTRIES;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->page = out;
    s->max_entries = max_entries;
    r = run_parser(s, xml, len);
    if (r == 0 && out->truncated && !out->next_token)
        r = -EBADMSG; /* more pages promised but no way to ask for them */
    free(s->cur.key);
    free(s);
    if (r < 0)
        cs_s3_list_page_free(out);
    return r;
}

int cs_s3_error_parse(const void *xml, size_t len, char code[64], char message[256])
{
    xml_state *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    code[0] = message[0] = '\0';
    s->code = code;
    s->message = message;
    r = run_parser(s, xml, len);
    if (r == 0 && (!s->is_error_doc || !code[0]))
        r = -EBADMSG;
    free(s);
    return r;
}
