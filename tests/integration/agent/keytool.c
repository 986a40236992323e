/* SPDX-License-Identifier: MIT */
/* Test helper for the agent's integration tests: enrolls a user in a test
 * configuration and puts the account key in the kernel keyring, through the
 * same library calls `cloudseal enroll` / `cloudseal unlock` make, without
 * depending on those commands' prompts.
 *
 *   agent-keytool enroll CONFIG USER   < password   prints the account id
 *   agent-keytool unlock CONFIG USER   < password   stores the AMK in @u
 *   agent-keytool pubkey CONFIG USER   < password   prints the account public key (hex), for
 *                                                   'admin approve --key'
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "account/account.h"
#include "crypto/keyring.h"
#include "util/secmem.h"

int main(int argc, char **argv)
{
    cs_config *cfg = NULL;
    cs_secret *pw = NULL, *code = NULL;
    cs_amk *amk = NULL;
    char id[CS_ACCOUNT_ID_MAX];
    int r;

    if (argc != 4 || (strcmp(argv[1], "enroll") && strcmp(argv[1], "unlock") && strcmp(argv[1], "pubkey"))) {
        fprintf(stderr, "usage: agent-keytool enroll|unlock|pubkey CONFIG USER < password\n");
        return 2;
    }
    if (cs_crypto_init() < 0 || cs_config_load(argv[2], &cfg) < 0 || cs_secret_read_fd(0, &pw) < 0)
        return 1;
    if (strcmp(argv[1], "enroll") == 0)
        r = cs_account_enroll(cfg, argv[3], pw, true, &code, &amk);
    else
        r = cs_account_unlock(cfg, argv[3], pw, CS_UNLOCK_CACHE_ONLY, &amk);
    if (r == 0)
        r = cs_account_id(cfg, argv[3], id);
    if (r == 0 && strcmp(argv[1], "unlock") == 0)
        r = cs_keyring_store(id, amk, 600); /* a timeout, so a failed test leaves nothing for long */
    if (r == 0 && strcmp(argv[1], "pubkey") == 0) {
        uint8_t pk[CS_SIGN_PK_BYTES];
        r = cs_amk_account_pubkey(amk, pk);
        sodium_bin2hex(id, sizeof(id), pk, sizeof(pk)); /* id holds 64 hex digits and a NUL */
    }
    if (r == 0)
        printf("%s\n", id);
    else
        fprintf(stderr, "agent-keytool %s: %s\n", argv[1], strerror(-r));
    if (amk)
        cs_amk_free(amk);
    cs_secret_free(pw);
    if (code)
        cs_secret_free(code);
    cs_config_free(cfg);
    return r == 0 ? 0 : 1;
}
