/* SPDX-License-Identifier: MIT */
/* libFuzzer target: a fleet health report as `admin report` reads it from
 * storage (any bucket writer can put anything at fleet/reports/), and a
 * bare report body.  Whatever parses must write back to the same report. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "crypto/keybag.h"
#include "fleet/report.h"

static void round_trip(const cs_report *r)
{
    cs_report back;
    char *json = NULL;

    if (r->last_error == CS_REPORT_ERR_OTHER)
        return; /* read only: never written */
    if (cs_report_to_json(r, &json) != 0 || cs_report_parse(json, strlen(json), &back, NULL) != 0 ||
        memcmp(&back, r, sizeof(back)) != 0)
        abort();
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the seed corpus is sealed to this fixed report secret key */
    static const uint8_t rsk[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
    static int ready;
    cs_report_opened o;
    cs_report r;

    if (!ready && cs_crypto_init() < 0)
        return 0;
    ready = 1;
    if (cs_report_open(data, size, rsk, &o, NULL) == 0)
        round_trip(&o.r);
    if (cs_report_parse((const char *)data, size, &r, NULL) == 0)
        round_trip(&r);
    return 0;
}
