/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the keybag seal `cloudseal admin publish` reads from
 * storage (anyone who may write to the bucket can put anything there).
 * Verified with the key of a fixed AMK (all bytes 0x5a), which also signed
 * the seed corpus/fuzz_keybag_seal/valid.json.  What verifies must carry a
 * valid user, a generation of 1..2^53 and a time >= 0. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/keybag_seal.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[CS_SIGN_PK_BYTES];
    static int ready;
    cs_keybag_seal s;
    cs_fleet_err err;

    if (!ready) {
        cs_amk amk;

        if (cs_crypto_init() < 0)
            return 0;
        memset(amk.key, 0x5a, sizeof(amk.key));
        if (cs_amk_account_pubkey(&amk, pk) < 0)
            abort();
        ready = 1;
    }
    if (cs_keybag_seal_parse(data, size, NULL, pk, &s, &err) == 0 &&
        (!cs_user_name_valid(s.user, CS_USER_NAME_FLEET) || s.generation < 1 || s.generation > CS_KEYBAG_GENERATION_MAX || s.time < 0))
        abort();
    (void)cs_keybag_seal_parse(data, size, "alice", pk, &s, &err);
    return 0;
}
