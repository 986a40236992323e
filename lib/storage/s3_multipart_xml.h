/* SPDX-License-Identifier: MIT */
/* Parsers for the multipart upload replies: InitiateMultipartUploadResult
 * (the upload id), CompleteMultipartUploadResult (which S3 may replace by
 * an <Error> inside a 200 reply) and ListMultipartUploadsResult pages.
 * expat with the bounds of s3_xml.h: no DOCTYPE, nesting depth, text per
 * element, entries per page, body size; anything else is -EBADMSG. */
#ifndef CS_STORAGE_S3_MULTIPART_XML_H
#define CS_STORAGE_S3_MULTIPART_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_S3_UPLOAD_ID_MAX 1024
#define CS_S3_UPLOADS_PAGE_MAX 1000

typedef struct cs_s3_upload {
    char *key;          /* as the server sent it: includes the URL's prefix */
    char *upload_id;
    int64_t initiated;  /* Unix time, 0 when absent or unparseable */
} cs_s3_upload;

typedef struct cs_s3_upload_page {
    cs_s3_upload *uploads;
    size_t n;
    bool truncated;
    char *next_key_marker, *next_upload_id_marker; /* NULL when absent */
} cs_s3_upload_page;

/* The UploadId of an InitiateMultipartUploadResult: 0 or -EBADMSG. */
int cs_s3_initiate_parse(const void *xml, size_t len, char upload_id[CS_S3_UPLOAD_ID_MAX + 1]);

/* A CompleteMultipartUploadResult: 0; an <Error>: -EIO with code filled
 * (printable, truncated); anything else -EBADMSG. */
int cs_s3_complete_parse(const void *xml, size_t len, char code[64]);

/* One ListMultipartUploadsResult page, at most max_entries <Upload>s
 * (-E2BIG beyond); a truncated page must name its next markers. */
int cs_s3_uploads_parse(const void *xml, size_t len, size_t max_entries, cs_s3_upload_page *out);
void cs_s3_upload_page_free(cs_s3_upload_page *p);

#endif
