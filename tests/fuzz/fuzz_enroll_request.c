/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the enrollment request an admin reads from storage
 * (anyone who may write to the bucket can put anything there).  What
 * verifies must name a valid user and host. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/enroll_request.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    cs_enroll_request r;
    cs_fleet_err err;

    if (!ready && cs_crypto_init() < 0)
        return 0;
    ready = 1;
    if (cs_enroll_request_parse(data, size, NULL, &r, &err) == 0 &&
        (!cs_user_name_valid(r.user, CS_USER_NAME_FLEET) || !r.host[0] || r.time < 0))
        abort();
    return 0;
}
