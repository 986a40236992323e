/* SPDX-License-Identifier: MIT */
/* libFuzzer: the multipart upload replies (lib/storage/s3_multipart_xml.c):
 * InitiateMultipartUploadResult, CompleteMultipartUploadResult or <Error>,
 * ListMultipartUploadsResult pages.  What parses must be within bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "storage/s3_multipart_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[CS_S3_UPLOAD_ID_MAX + 1], code[64];
    cs_s3_upload_page p;

    if (cs_s3_initiate_parse(data, size, id) == 0 && (!id[0] || strlen(id) > CS_S3_UPLOAD_ID_MAX))
        abort();
    (void)cs_s3_complete_parse(data, size, code);
    if (strlen(code) > 63)
        abort();
    if (cs_s3_uploads_parse(data, size, 50, &p) == 0) {
        if (p.n > 50 || (p.truncated && (!p.next_key_marker || !p.next_upload_id_marker)))
            abort();
        for (size_t i = 0; i < p.n; i++)
            if (!p.uploads[i].key[0] || strlen(p.uploads[i].key) > 1024 || !p.uploads[i].upload_id[0])
                abort();
        cs_s3_upload_page_free(&p);
    }
    return 0;
}
