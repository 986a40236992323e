/* SPDX-License-Identifier: MIT */
/* cloudseal enroll: create your keys (AMK, password and recovery slots),
 * upload the keybag, show the recovery key once. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sodium.h>

#include "cli.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "fleet/enroll_request.h"
#include "admin.h"
#include "cli_json.h"
#include "storage/storage_s3.h"
#include "util/log.h"
#include "util/macros.h"

/* The state directory is root's: a login through pam_cloudseal creates the
 * user's part of it (cloudseal-helper prepare); say so, and what root runs. */
static void explain_cache_dir(const char *user, int r)
{
    char dir[4096];

    if (cs_account_cache_dir(cli_config(), user, dir, sizeof(dir)) < 0)
        return;
    log_error_errno(r, "cannot create your keybag cache %s", dir);
    if (getuid() != 0 && r == -EACCES)
        log_error("your next login creates it (is pam_cloudseal in the PAM stack?); or an administrator "
                  "runs:  %s prepare --user %s", cs_config_str(cli_config(), "paths", "helper"), user);
}

/* On a fleet workstation: file the request the admin approves with
 * 'cloudseal admin approve --from-storage USER'.  Returns 1 when this
 * machine is in no fleet (nothing to file), 0 when filed, else an error
 * the caller reports without failing the enrollment. */
static int file_enrollment_request(const char *user, const cs_amk *amk)
{
    uint8_t fleet_pk[CS_FLEET_PK_BYTES];
    char host[CS_ENROLL_HOST_MAX + 1] = "", key[128], *json = NULL;
    int r;

    if (cs_fleet_config_pubkey(cli_config(), fleet_pk) < 0)
        return 1;
    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
        snprintf(host, sizeof(host), "unknown");
    r = cs_fleet_user_object(user, "enrollment-request", key, sizeof(key));
    if (r == 0)
        r = cs_enroll_request_make(user, host, (int64_t)time(NULL), amk, &json);
    if (r == 0)
        r = admin_put_text(key, json);
    free(json);
    return r;
}

/* When the fleet's signed directory names an escrow key (its policy): seal
 * the account key to it.  1: no escrow here, 0: filed, else an error. */
static int file_escrow(const char *user, const cs_amk *amk)
{
    uint8_t epk[CS_FLEET_ESCROW_PK_BYTES];

    if (cs_fleet_escrow_key(cli_config(), epk) < 0)
        return 1;
    return admin_file_escrow(user, amk, epk);
}

static void print_result(const char *user, const cs_amk *amk, const cs_secret *code, bool json, int request,
                         int escrow)
{
    uint8_t pk[CS_SIGN_PK_BYTES];
    char pk_hex[2 * CS_SIGN_PK_BYTES + 1], id[CS_ACCOUNT_ID_HEX + 1];

    if (cs_amk_account_pubkey(amk, pk) < 0 || cs_account_id_from_amk(amk, id) < 0)
        return;
    sodium_bin2hex(pk_hex, sizeof(pk_hex), pk, sizeof(pk));
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "user", json_object_new_string(user));
        json_object_object_add(o, "account_id", json_object_new_string(id));
        json_object_object_add(o, "account_public_key", json_object_new_string(pk_hex));
        json_object_object_add(o, "recovery_key", json_object_new_string(code->data));
        if (request <= 0)
            json_object_object_add(o, "enrollment_request",
                                   json_object_new_string(request == 0 ? "filed" : strerror(-request)));
        if (escrow <= 0)
            json_object_object_add(o, "escrow", json_object_new_string(escrow == 0 ? "filed" : strerror(-escrow)));
        cli_print_json(o, JSON_C_TO_STRING_PRETTY); /* a failure: main's exit code */
        return;
    }
    printf("Enrolled %s.\n\n"
           "Your recovery key (shown only now; write it down and keep it somewhere safe;\n"
           "'cloudseal recover' uses it if you ever forget your password):\n\n"
           "    %s\n\n", user, code->data);
    if (request <= 0) /* in a fleet: the key its administrator pins */
        printf("Account public key (for your fleet administrator to pin in the directory):\n"
               "    %s\n", pk_hex);
    printf("Account id: %s\n", id);
    if (request == 0)
        printf("\nFiled an enrollment request in storage: your administrator pins this key with\n"
               "'cloudseal admin approve --from-storage %s' (compare the key above with them).\n", user);
    else if (request < 0)
        printf("\nCould not file an enrollment request in storage (%s): give your administrator\n"
               "the account public key above.\n", strerror(-request));
    if (escrow == 0)
        printf("\nAs your fleet's policy asks, your account key is escrowed to its recovery key:\n"
               "your administrators can give you a new password if you lose both yours and\n"
               "your recovery key, and so can read what you back up.\n");
    else if (escrow < 0)
        log_warning("your fleet escrows account keys but filing yours failed (%s): tell your administrator",
                    strerror(-escrow));
}

int cmd_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' },
        {}
    };
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_secret_ cs_secret *code = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    bool force = false, json;
    int c, r;

    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'f': force = true; break;
        default: return cli_opt_exit(c);
        }
    }
    json = cli.json;
    if (!cli_password_stdin && isatty(STDIN_FILENO))
        fprintf(stderr, "Your keys are protected by a password.  Give your login password, so that\n"
                        "logging in unlocks them and 'passwd' keeps them in step (with another one,\n"
                        "run 'cloudseal unlock' after each login).\n");
    if (cli_read_new_password("Login password for cloudseal: ", &pw) < 0)
        return CLI_USAGE;
    if (!json)
        fprintf(stderr, "Creating your keys (measuring this machine's password-hashing speed)...\n");
    r = cs_account_enroll(cli_config(), user, pw, force, &code, &amk);
    if (r == -EEXIST) {
        log_error("%s is already enrolled; use 'cloudseal passwd' to change the password "
                  "(--force creates a new account and loses the old keys)", user);
        return CLI_FAILED;
    }
    if (r == -EACCES || r == -EPERM || r == -EROFS) {
        explain_cache_dir(user, r);
        return CLI_FAILED;
    }
    if (r < 0)
        return cli_report(r, "enrollment failed");
    {
        int request = file_enrollment_request(user, amk);
        print_result(user, amk, code, json, request, file_escrow(user, amk));
    }
    /* the account is usable right away in this session */
    {
        char id[CS_ACCOUNT_ID_HEX + 1];
        if (cs_account_id_from_amk(amk, id) == 0 && cs_keyring_store(id, amk, 0) < 0)
            log_notice("keys created but not unlocked in this session; run 'cloudseal unlock'");
    }
    return CLI_OK;
}
