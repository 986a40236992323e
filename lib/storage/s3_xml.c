/* SPDX-License-Identifier: MIT */
/* The bounded expat collector of every S3 reply parser, and on it the
 * ListObjectsV2 and <Error> parsers. */
#include "storage/s3_xml.h"

#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the collector ---- */

typedef struct collect_state {
    XML_Parser parser;
    const cs_s3_xml_collector *c;
    int err; /* first error; parsing stops there */
    int depth;
    bool collecting;
    char text[CS_S3_XML_TEXT_MAX + 1];
    size_t text_len;
} collect_state;

static void fail(collect_state *s, int err)
{
    if (!s->err)
        s->err = err;
    XML_StopParser(s->parser, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    collect_state *s = ud;
    int r;

    (void)attrs;
    if (s->err)
        return;
    if (++s->depth > CS_S3_XML_DEPTH_MAX)
        return fail(s, -EBADMSG);
    r = s->c->start(s->c->ud, &(cs_s3_xml_element){ .name = name, .depth = s->depth, .text = "" });
    if (r < 0)
        return fail(s, r);
    s->collecting = r > 0;
    s->text_len = 0;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    collect_state *s = ud;
    int r;

    if (s->err)
        return;
    s->text[s->text_len] = '\0';
    r = s->c->end(s->c->ud, &(cs_s3_xml_element){ .name = name, .depth = s->depth, .text = s->text,
                                                    .len = s->text_len });
    if (r < 0)
        fail(s, r);
    s->text_len = 0;
    s->collecting = false;
    s->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
    collect_state *s = ud;

    if (!s->collecting || len <= 0 || s->err)
        return;
    if ((size_t)len > s->c->text_max - s->text_len)
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

int cs_s3_xml_collect(const void *xml, size_t len, const cs_s3_xml_collector *c)
{
    collect_state *s;
    int r;

    if (len > CS_S3_XML_MAX || c->text_max > CS_S3_XML_TEXT_MAX)
        return -EBADMSG;
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    s->c = c;
    s->parser = XML_ParserCreate("UTF-8");
    if (!s->parser) {
        free(s);
        return -ENOMEM;
    }
    XML_SetUserData(s->parser, s);
    XML_SetElementHandler(s->parser, on_start, on_end);
    XML_SetCharacterDataHandler(s->parser, on_text);
    XML_SetStartDoctypeDeclHandler(s->parser, on_doctype);
    if (XML_Parse(s->parser, xml, (int)len, XML_TRUE) != XML_STATUS_OK && !s->err)
        s->err = -EBADMSG;
    r = s->err;
    XML_ParserFree(s->parser);
    free(s);
    return r;
}

int cs_s3_xml_take_text(const cs_s3_xml_element *e, size_t max, char **out)
{
    if (*out || e->len == 0 || e->len > max || memchr(e->text, '\0', e->len))
        return -EBADMSG;
    *out = strndup(e->text, e->len);
    return *out ? 0 : -ENOMEM;
}

void cs_s3_xml_printable(char *dst, size_t dstsz, const char *src)
{
    size_t i = 0;

    for (; src[i] && i + 1 < dstsz; i++)
        dst[i] = ((unsigned char)src[i] < 0x20 || (unsigned char)src[i] >= 0x7f) ? '?' : src[i];
    dst[i] = '\0';
}

int64_t cs_s3_xml_time(const char *t)
{
    struct tm tm = { 0 };

    return strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) ? (int64_t)timegm(&tm) : 0;
}

/* ---- ListObjectsV2 and <Error> ---- */

#define TEXT_MAX 4096 /* longer than any key (1024) or token we accept */

enum field { F_NONE, F_KEY, F_SIZE, F_ETAG, F_MTIME, F_TRUNC, F_TOKEN, F_CODE, F_MESSAGE };

typedef struct xml_state {
    bool is_error_doc; /* root <Error> rather than <ListBucketResult> */
    bool in_contents;
    enum field field;
    /* listing */
    cs_s3_list_page *page;
    size_t max_entries;
    cs_s3_list_entry cur;
    bool cur_has_size;
    /* error */
    char *code, *message;
} xml_state;

static enum field field_of(const xml_state *s, const char *name, int depth)
{
    if (s->is_error_doc) {
        if (depth != 2)
            return F_NONE;
        return strcmp(name, "Code") == 0 ? F_CODE : strcmp(name, "Message") == 0 ? F_MESSAGE : F_NONE;
    }
    if (s->in_contents && depth == 3) {
        if (strcmp(name, "Key") == 0) return F_KEY;
        if (strcmp(name, "Size") == 0) return F_SIZE;
        if (strcmp(name, "ETag") == 0) return F_ETAG;
        if (strcmp(name, "LastModified") == 0) return F_MTIME;
        return F_NONE;
    }
    if (depth == 2) {
        if (strcmp(name, "IsTruncated") == 0) return F_TRUNC;
        if (strcmp(name, "NextContinuationToken") == 0) return F_TOKEN;
    }
    return F_NONE;
}

/* 1 (collect the text) for the fields we read, 0 for the others. */
static int listing_start(void *ud, const cs_s3_xml_element *e)
{
    xml_state *s = ud;

    if (e->depth == 1) {
        /* a listing parser accepts only a listing, an error parser only an error */
        if (s->page ? strcmp(e->name, "ListBucketResult") != 0 : strcmp(e->name, "Error") != 0)
            return -EBADMSG;
        s->is_error_doc = !s->page;
        return 0;
    }
    if (s->page && !s->is_error_doc && e->depth == 2 && strcmp(e->name, "Contents") == 0) {
        if (s->page->n >= s->max_entries)
            return -E2BIG;
        memset(&s->cur, 0, sizeof(s->cur));
        s->cur_has_size = false;
        s->in_contents = true;
        return 0;
    }
    s->field = field_of(s, e->name, e->depth);
    return s->field != F_NONE;
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

static int finish_field(xml_state *s, const cs_s3_xml_element *e)
{
    cs_s3_list_entry *c = &s->cur;

    switch (s->field) {
    case F_KEY:
        return cs_s3_xml_take_text(e, 1024, &c->key);
    case F_SIZE:
        if (s->cur_has_size || parse_u64(e->text, &c->st.size) < 0)
            return -EBADMSG;
        s->cur_has_size = true;
        return 0;
    case F_ETAG:
        if (e->len >= sizeof(c->st.etag))
            return -EBADMSG;
        memcpy(c->st.etag, e->text, e->len + 1);
        return 0;
    case F_MTIME:
        c->st.mtime_sec = cs_s3_xml_time(e->text);
        return 0;
    case F_TRUNC:
        if (strcmp(e->text, "true") == 0)
            s->page->truncated = true;
        else if (strcmp(e->text, "false") != 0)
            return -EBADMSG;
        return 0;
    case F_TOKEN:
        return cs_s3_xml_take_text(e, CS_S3_TOKEN_MAX, &s->page->next_token);
    case F_CODE:
        cs_s3_xml_printable(s->code, 64, e->text);
        return 0;
    case F_MESSAGE:
        cs_s3_xml_printable(s->message, 256, e->text);
        return 0;
    case F_NONE:
        break;
    }
    return 0;
}

static int push_entry(xml_state *s)
{
    cs_s3_list_page *p = s->page;

    if (!s->cur.key || !s->cur_has_size)
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

static int listing_end(void *ud, const cs_s3_xml_element *e)
{
    xml_state *s = ud;
    int r;

    if (s->field != F_NONE) {
        r = finish_field(s, e);
        s->field = F_NONE;
        return r;
    }
    if (s->in_contents && e->depth == 2) {
        s->in_contents = false;
        return push_entry(s);
    }
    return 0;
}

static int run_parser(xml_state *s, const void *xml, size_t len)
{
    const cs_s3_xml_collector c = { .start = listing_start, .end = listing_end, .text_max = TEXT_MAX, .ud = s };

    return cs_s3_xml_collect(xml, len, &c);
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
    xml_state s = { .page = out };
    int r;

    memset(out, 0, sizeof(*out));
    s.max_entries = max_entries > CS_S3_PAGE_MAX_ENTRIES ? CS_S3_PAGE_MAX_ENTRIES : max_entries;
    r = run_parser(&s, xml, len);
    if (r == 0 && out->truncated && !out->next_token)
        r = -EBADMSG; /* more pages promised but no way to ask for them */
    free(s.cur.key);
    if (r < 0)
        cs_s3_list_page_free(out);
    return r;
}

int cs_s3_error_parse(const void *xml, size_t len, char code[64], char message[256])
{
    xml_state s = { .code = code, .message = message };
    int r;

    code[0] = message[0] = '\0';
    r = run_parser(&s, xml, len);
    if (r == 0 && (!s.is_error_doc || !code[0]))
        r = -EBADMSG;
    return r;
}
