/* SPDX-License-Identifier: MIT */
/* libFuzzer: the fleet directory parsers (source JSON, signed body JSON,
 * signed envelope), then the rules and the cache compiler on whatever
 * parsed.  None may crash, leak or read out of bounds on any input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secmem.h"

static const uint8_t fleet_pk[32] = { 0 };

static void exercise(cs_directory *d)
{
    cs_fleet_policy p = { 1000, 0x7fffffff, NULL };
    cs_fleet_err err;
    cs_buf img = CS_BUF_INIT;
    char *json = NULL;

    (void)cs_directory_validate(d, &p, &err);
    if (d->n_users < 2000 && cs_fleet_compile_cache(d, 1, &img) == 0)
        cs_buf_free(&img);
    cs_buf_free(&img);
    if (cs_directory_to_json(d, CS_DIR_SOURCE, &json, NULL) == 0)
        free(json);
    cs_directory_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    cs_directory *d = NULL;
    cs_fleet_err err;

    if (!init) {
        cs_crypto_init();
        cs_log_setup("fuzz", 0);
        init = 1;
    }
    if (cs_directory_from_json((const char *)data, size, CS_DIR_SOURCE, &d, &err) == 0)
        exercise(d);
    d = NULL;
    if (cs_directory_from_json((const char *)data, size, CS_DIR_BODY, &d, &err) == 0)
        exercise(d);
    d = NULL;
    if (cs_fleet_open_signed(data, size, fleet_pk, &d, &err) == 0)
        exercise(d);
    return 0;
}
