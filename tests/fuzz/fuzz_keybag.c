/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the keybag parser (and, for inputs that parse, the
 * structure dump and a slot unlock with a fixed recovery code, which
 * exercises the slot and MAC paths without Argon2's cost; and each fido2
 * slot with a fixed hmac-secret and no password: policy any opens or not,
 * policy both is refused before any KDF). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <json-c/json.h>

#include "crypto/keybag.h"
#include "util/log.h"
#include "util/secmem.h"

/* The seeds' fido2 slots were made with an hmac-secret of 32 zero bytes. */
static void fuzz_fido2(const cs_keybag *kb)
{
    static const char zero[CS_FIDO2_SECRET_BYTES];
    cs_keybag_fido2 slots[CS_KEYBAG_MAX_FIDO2_SLOTS];
    size_t n = cs_keybag_fido2_slots(kb, slots, CS_KEYBAG_MAX_FIDO2_SLOTS);
    cs_secret *s = NULL;
    char rp[128];

    (void)cs_keybag_fido2_policy(kb);
    (void)cs_keybag_fido2_rp_id(kb, rp, sizeof(rp));
    if (n == 0 || cs_secret_new(&s) < 0)
        return;
    if (cs_secret_set(s, zero, sizeof(zero)) == 0)
        for (size_t i = 0; i < n && i < CS_KEYBAG_MAX_FIDO2_SLOTS; i++) {
            cs_amk *amk = NULL;

            (void)cs_keybag_unlock_fido2(kb, slots[i].id, s, NULL, &amk);
            cs_amk_free(amk);
        }
    cs_secret_free(s);
}

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
    fuzz_fido2(kb);
    cs_keybag_free(kb);
    return 0;
}
