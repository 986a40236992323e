/* SPDX-License-Identifier: MIT */
/* libFuzzer: the AWS shared credentials/config files (lib/storage/
 * s3_profile.c) as inih reads them through the value-hiding line reader:
 * long lines, NULs, CRs, sections, continuations.  Whatever is accepted
 * must be within the bounds s3_creds.h promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "storage/s3_creds.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    cs_s3_creds c = { 0 };

    if (!init) {
        cs_log_setup("fuzz_s3_profile", 0);
        init = 1;
    }
    if (cs_s3_profile_parse((const char *)data, size, "default", size & 1, &c) == 0) {
        if (strlen(c.access_key) > CS_S3_ACCESS_MAX || strlen(c.region) > CS_S3_REGION_MAX ||
            (c.secret && !cs_s3_secret_valid(c.secret->data, c.secret->len, CS_S3_SECRET_MAX)) ||
            (c.token && !cs_s3_secret_valid(c.token->data, c.token->len, CS_S3_SESSION_TOKEN_MAX)))
            abort();
    }
    cs_s3_creds_clear(&c);
    return 0;
}
