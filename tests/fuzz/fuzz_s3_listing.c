/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the S3 reply parsers (lib/storage/s3_xml.c): a
 * ListObjectsV2 page and an <Error> body, both straight from the network.
 * Checks the invariants callers rely on besides "no crash". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "storage/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_s3_list_page p;
    char code[64], msg[256];

    if (cs_s3_listing_parse(data, size, 50, &p) == 0) {
        if (p.n > 50 || (p.truncated && !p.next_token))
            abort();
        for (size_t i = 0; i < p.n; i++)
            if (!p.entries[i].key || strlen(p.entries[i].key) > 1024 ||
                strnlen(p.entries[i].st.etag, sizeof(p.entries[i].st.etag)) >= sizeof(p.entries[i].st.etag))
                abort();
        if (p.next_token && strlen(p.next_token) > CS_S3_TOKEN_MAX)
            abort();
        cs_s3_list_page_free(&p);
    }
    if (cs_s3_error_parse(data, size, code, msg) == 0) {
        if (!code[0] || strnlen(code, 64) >= 64 || strnlen(msg, 256) >= 256)
            abort();
        for (const char *c = msg; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                abort();
    }
    return 0;
}
