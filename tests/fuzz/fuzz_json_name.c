/* SPDX-License-Identifier: MIT */
/* libFuzzer target: file names (any bytes but NUL, from a snapshot's trees)
 * into JSON output.  Checks the promise of cs_json_add_name(): the shown
 * string is valid UTF-8 and the exact bytes come back from KEY_base64 (or
 * the name itself when it was valid). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = strndup((const char *)data, size); /* stops at a NUL, as a C name does */
    json_object *o = json_object_new_object(), *shown, *b64;
    unsigned char back[4096];
    size_t back_len = 0;

    if (!name || !o || size > sizeof(back))
        goto out;
    if (cs_json_add_name(o, "path", name) < 0)
        goto out;
    shown = json_object_object_get(o, "path");
    if (!shown || !cs_utf8_valid(json_object_get_string(shown), (size_t)json_object_get_string_len(shown)))
        abort();
    if (json_object_object_get_ex(o, "path_base64", &b64)) {
        if (cs_utf8_valid(name, strlen(name)))
            abort();                                      /* only when needed */
        if (sodium_base642bin(back, sizeof(back), json_object_get_string(b64),
                              (size_t)json_object_get_string_len(b64), NULL, &back_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            back_len != strlen(name) || memcmp(back, name, back_len) != 0)
            abort();
    } else if (strcmp(json_object_get_string(shown), name) != 0) {
        abort();
    }
out:
    json_object_put(o);
    free(name);
    return 0;
}
