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

#endif
