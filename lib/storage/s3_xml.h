/* SPDX-License-Identifier: MIT */
/* Parsers for the XML an S3 server sends: a ListObjectsV2 page and an
 * <Error> body.  Both run expat over hostile bytes with hard bounds: no
 * DOCTYPE or entity declarations, nesting depth, text length per element,
 * entries per page.  Anything outside the bounds is -EBADMSG (or -E2BIG for
 * too many entries), never a crash or an unbounded allocation.
 */
#ifndef CS_STORAGE_S3_XML_H
#define CS_STORAGE_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage/storage.h"

#define CS_S3_TOKEN_MAX 4096      /* continuation-token length we accept */
#define CS_S3_PAGE_MAX_ENTRIES 1000
#define CS_S3_XML_MAX (8u << 20)  /* bytes of one response body we parse */

typedef struct cs_s3_list_entry {
    char *key;          /* as the server sent it: includes the URL's prefix */
    cs_object_stat st;
} cs_s3_list_entry;

typedef struct cs_s3_list_page {
    cs_s3_list_entry *entries;
    size_t n;
    bool truncated;     /* <IsTruncated>true</IsTruncated> */
    char *next_token;   /* <NextContinuationToken>, NULL when absent */
} cs_s3_list_page;

/* Parse one ListBucketResult.  max_entries bounds <Contents> elements. */
int cs_s3_listing_parse(const void *xml, size_t len, size_t max_entries, cs_s3_list_page *out);
void cs_s3_list_page_free(cs_s3_list_page *p);

/* Parse an <Error> body: Code and Message, each made printable (other bytes
 * replaced by '?') and truncated to fit.  -EBADMSG when it is not one. */
int cs_s3_error_parse(const void *xml, size_t len, char code[64], char message[256]);

/* ---- The bounded element collector every S3 reply parser runs on ---- */
#define CS_S3_XML_DEPTH_MAX 8
#define CS_S3_XML_TEXT_MAX 4096 /* the most text_max may be */

typedef struct cs_s3_xml_element {
    const char *name;
    int depth;        /* 1: the root */
    const char *text; /* at the end: the text collected, NUL-terminated ("" when none) */
    size_t len;
} cs_s3_xml_element;

typedef struct cs_s3_xml_collector {
    /* 1: collect the element's own text, 0: not, < 0: stop with that error */
    int (*start)(void *ud, const cs_s3_xml_element *e);
    /* 0, or a negative errno that stops the parse */
    int (*end)(void *ud, const cs_s3_xml_element *e);
    size_t text_max; /* more text in one element is -EBADMSG */
    void *ud;
} cs_s3_xml_collector;

/* Run expat over xml: more than CS_S3_XML_MAX bytes, a DOCTYPE, more than
 * CS_S3_XML_DEPTH_MAX levels, too much text or malformed XML is -EBADMSG;
 * else 0 or the first error a callback returned. */
int cs_s3_xml_collect(const void *xml, size_t len, const cs_s3_xml_collector *c);
/* A copy of the element's text into *out (which must be NULL): non-empty,
 * at most max bytes; -EBADMSG or -ENOMEM otherwise. */
int cs_s3_xml_take_text(const cs_s3_xml_element *e, size_t max, char **out);
/* src made printable (other bytes replaced by '?') and truncated to dstsz. */
void cs_s3_xml_printable(char *dst, size_t dstsz, const char *src);
/* "2009-10-12T17:50:30.000Z" (fraction optional) as Unix time; 0 when
 * unparseable, as S3's times are informational. */
int64_t cs_s3_xml_time(const char *t);

#endif
