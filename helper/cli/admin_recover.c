/* SPDX-License-Identifier: MIT */
/* cloudseal admin recover-user USER --escrow-secret FILE: a fleet user lost
 * both their password and their recovery key.  With the fleet's escrow
 * secret key (kept offline) the admin opens the escrowed account key
 * (fleet/escrow.h), checks it is the one the directory pins, and gives the
 * keybag a one-time password; the user logs in with it and runs passwd. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "account/account.h"
#include "fleet/escrow.h"
#include "storage/storage_s3.h"
#include "unlock_common.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secmem.h"

/* The escrowed AMK of user, opened and checked against the pinned key. */
static int open_escrow(const cs_fleet_user *u, const char *secret_file, cs_amk **amk)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_fleet_err err = { "" };
    uint8_t *sk = NULL, pk[CS_SIGN_PK_BYTES];
    cs_storage *st = NULL;
    char key[128];
    int r = cs_fleet_read_secret32(secret_file, &sk);

    if (r < 0) {
        log_error("cannot read the escrow secret key %s: %s%s", secret_file, strerror(-r),
                  r == -EPERM ? " (others may read it: chmod 600)" : "");
        return r;
    }
    r = cs_fleet_user_object(u->name, "escrow", key, sizeof(key));
    if (r == 0)
        r = cs_storage_open_config(cli_config(), NULL, &st);
    if (r == 0) {
        r = cs_storage_get(st, key, 0, 0, CS_ESCROW_OBJECT_MAX, &b);
        cs_storage_close(st);
    }
    if (r < 0)
        log_error("cannot read %s from storage: %s%s", key, strerror(-r),
                  r == -ENOENT ? " (the account was made before the fleet had an escrow key?)" : "");
    if (r == 0 && (r = cs_escrow_open(b.data, b.len, u->name, sk, amk, &err)) < 0)
        log_error("%s: %s; nothing was changed", key, err.msg);
    cs_secure_free(sk);
    if (r == 0 && u->has_key && (cs_amk_account_pubkey(*amk, pk) < 0 || sodium_memcmp(pk, u->key, 32) != 0)) {
        log_error("the escrowed key of '%s' is not the key the directory pins for them; nothing was changed",
                  u->name);
        cs_amk_free(*amk);
        *amk = NULL;
        r = -EBADMSG;
    }
    return r;
}

int admin_recover_user(int argc, char **argv)
{
    static const struct option opts[] = {
        { "escrow-secret", required_argument, NULL, 'e' }, {}
    };
    _cleanup_directory_ cs_directory *d = NULL;
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    const char *secret_file = NULL;
    cs_keybag_made made;
    cs_fleet_user *u;
    int c, r;

    while ((c = cli_getopt(argc, argv, "e:", opts)) != -1) {
        if (c != 'e')
            return cli_opt_exit(c);
        secret_file = optarg;
    }
    if (!secret_file) {
        log_error("give --escrow-secret FILE: the escrow secret key 'admin keygen --escrow' wrote");
        return CLI_USAGE;
    }
    r = admin_load_user(argv[optind], &d, &u);
    if (r != CLI_OK)
        return r;
    if (open_escrow(u, secret_file, &amk) < 0)
        return CLI_DATA_ERROR;
    if (admin_one_time_password(&pw) < 0)
        return CLI_FAILED;
    r = cs_account_reset_password(cli_config(), u->name, amk, pw, u->keybag_generation, &made);
    if (r < 0)
        return cli_report(r, "cannot give the keybag a new password");
    /* the old password stops working fleet-wide with the next publish */
    admin_keybag_floor(u, &made);
    if (admin_save(d) != CLI_OK)
        log_warning("the source does not record the new keybag of '%s': 'cloudseal admin publish' takes it "
                    "from their keybag seal instead", u->name);
    if (cli.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "user", json_object_new_string(u->name));
        json_object_object_add(o, "one_time_password", json_object_new_string(pw->data));
        cli_print_json(o, JSON_C_TO_STRING_PRETTY);
    } else {
        printf("The keybag of %s now opens with this one-time password (shown only now):\n\n    %s\n\n"
               "Give it to %s over a channel you trust; they log in with it and set their own\n"
               "password with passwd(1).  Next: 'cloudseal admin publish' (their old password\n"
               "then stops working on every workstation).\n", u->name, pw->data, u->name);
    }
    return CLI_OK;
}
