/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the keybag parser (and, for inputs that parse, the
 * structure dump and a slot unlock with a fixed recovery code, which
 * exercises the slot and MAC paths without Argon2's cost). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <json-c/json.h>

#include "crypto/keybag.h"
#include "util/log.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    cs_keybag *kb = NULL;
    json_object *d = NULL;

    if (!ready) {
        if (cs_crypto_init() < 0)
            return 0;
        cs_log_setup("fuzz_keybag", LOG_CRIT);
        ready = 1;
    }
    if (cs_keybag_parse(data, size, &kb) != 0)
        return 0;
    if (cs_keybag_describe(kb, &d) == 0)
        json_object_put(d);
    if (cs_keybag_count_slots(kb, CS_SLOT_RECOVERY) > 0) {
        static const char code[] =
            "0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-000F-3W14"; /* key of 32 zero bytes, as in the seeds */
        cs_secret *s = NULL;
        cs_amk *amk = NULL;

        if (cs_secret_new(&s) == 0 && cs_secret_set(s, code, sizeof(code) - 1) == 0)
            (void)cs_keybag_unlock(kb, CS_SLOT_RECOVERY, s, &amk);
        cs_amk_free(amk);
        cs_secret_free(s);
    }
    cs_keybag_free(kb);
    return 0;
}
