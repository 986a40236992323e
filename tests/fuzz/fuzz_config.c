/* SPDX-License-Identifier: MIT */
/* libFuzzer: cloudseal.conf as inih reads it through the line-counting
 * reader (duplicate keys, values, sections, long lines, NULs). */
#include <stdint.h>
#include <stdlib.h>
#include "config/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    cs_config *c = NULL;

    if (!init) {
        cs_log_setup("fuzz_config", 0); /* errors are the expected outcome: keep quiet */
        init = 1;
    }
    if (cs_config_parse_text("fuzz.conf", data, size, size & 1, &c) == 0) {
        (void)cs_config_str(c, "storage", "url");
        (void)cs_config_int(c, "kdf", "memory");
        cs_config_free(c);
    }
    return 0;
}
