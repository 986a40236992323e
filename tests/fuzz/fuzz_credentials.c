/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the storage credentials member of a keybag payload
 * (lib/account/credentials.c).  The payload is authenticated before this
 * parser sees it, but a bug elsewhere must not turn into a crash here.
 * Whatever opens must be a valid pair that seals and opens again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "account/credentials.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_amk *amk;
    char ak[CS_CRED_ACCESS_MAX + 1], again[CS_CRED_ACCESS_MAX + 1];
    cs_secret *secret = NULL, *back = NULL;
    json_tokener *tok;
    json_object *p;

    if (!amk) {
        uint8_t k[32] = { 1, 2, 3 };
        if (cs_crypto_init() < 0 || cs_amk_from_bytes(k, sizeof(k), &amk) < 0)
            return 0;
    }
    tok = json_tokener_new_ex(16);
    if (!tok)
        return 0;
    p = json_tokener_parse_ex(tok, (const char *)data, (int)(size > 65536 ? 65536 : size));
    json_tokener_free(tok);
    if (!p)
        return 0;
    if (cs_cred_from_payload(p, amk, ak, &secret) == 0) {
        json_object *q = json_object_new_object();
        if (!cs_cred_access_key_valid(ak) || !cs_cred_secret_valid(secret->data, secret->len) ||
            cs_cred_to_payload(q, amk, ak, secret) != 0 || cs_cred_from_payload(q, amk, again, &back) != 0 ||
            strcmp(ak, again) != 0 || back->len != secret->len || memcmp(back->data, secret->data, back->len) != 0)
            abort();
        cs_secret_free(back);
        json_object_put(q);
    }
    cs_secret_free(secret);
    json_object_put(p);
    return 0;
}
