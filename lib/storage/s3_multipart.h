/* SPDX-License-Identifier: MIT */
/* Multipart uploads over an s3 client: objects above a threshold go up in
 * parts (create, parts in parallel, complete; abort on any failure), since
 * one PUT may carry at most 5 GiB and a retry should resend one part, not
 * the object.  And the cleanup of uploads a crash left behind, which the
 * store keeps (and bills) until they are aborted. */
#ifndef CS_STORAGE_S3_MULTIPART_H
#define CS_STORAGE_S3_MULTIPART_H

#include <stddef.h>
#include <stdint.h>
#include "storage/s3_client.h"

#define CS_S3_PUT_MAX (5ULL << 30)        /* S3's limit on one PUT */
#define CS_S3_PART_MIN (5ULL << 20)       /* smallest part but the last */
#define CS_S3_PARTS_MAX 10000

/* Upload data under key in parts of part_size (raised when 10,000 parts
 * would not hold it), parallel at a time.  0 or a negative errno; on
 * failure the upload is aborted (best effort: cleanup catches the rest). */
int cs_s3_multipart_put(cs_s3_client *c, const char *key, const void *data, size_t len, size_t part_size,
                        int parallel);

/* Abort the unfinished uploads under the URL's prefix begun before
 * older_than (Unix time); *aborted counts them.  0 or a negative errno. */
int cs_s3_multipart_cleanup(cs_s3_client *c, int64_t older_than, unsigned *aborted);

#endif
