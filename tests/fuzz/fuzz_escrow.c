/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the key escrow object an admin reads from storage
 * (anyone who may write to the bucket can put anything there).  Whatever
 * opens must be the key of the account it names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "crypto/keybag.h"
#include "fleet/escrow.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the seed corpus is sealed to this fixed escrow secret key */
    static const uint8_t esk[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
    static int ready;
    cs_fleet_err err;
    cs_amk *amk = NULL;

    if (!ready && cs_crypto_init() < 0)
        return 0;
    ready = 1;
    if (cs_escrow_open(data, size, NULL, esk, &amk, &err) == 0) {
        char id[CS_ACCOUNT_ID_HEX + 1];
        if (!amk || cs_account_id_from_amk(amk, id) != 0 || !memmem(data, size, id, CS_ACCOUNT_ID_HEX))
            abort();
    }
    cs_amk_free(amk);
    return 0;
}
