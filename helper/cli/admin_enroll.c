/* SPDX-License-Identifier: MIT */
/* cloudseal admin enroll-user NAME: the first enrollment of a fleet user
 * who has no account anywhere (so cannot log in to run `cloudseal enroll`
 * before a key is pinned, and cannot have one pinned before enrolling).
 *
 * The admin's machine creates the account with a one-time password, uploads
 * the keybag (only if the user has none), and pins the key in the source.
 * The admin hands over the one-time password and the recovery key; the
 * user logs in with it and sets their own password with passwd(1).  The
 * price, said in cloudseal-admin(8): the account key existed on the admin's
 * machine for a moment. */
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
#include "unlock_common.h"
#include "util/log.h"
#include "util/secmem.h"

static void print_result(const char *user, const cs_secret *pw, const cs_secret *code, const char *key64)
{
    if (cli.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "user", json_object_new_string(user));
        json_object_object_add(o, "account_key", json_object_new_string(key64));
        json_object_object_add(o, "one_time_password", json_object_new_string(pw->data));
        json_object_object_add(o, "recovery_key", json_object_new_string(code->data));
        cli_print_json(o, JSON_C_TO_STRING_PRETTY);
        return;
    }
    printf("Enrolled %s and pinned account key %s.\n\n"
           "Give %s, over a channel you trust (shown only now):\n"
           "  one-time password: %s\n"
           "  recovery key:      %s\n\n"
           "Next: 'cloudseal admin publish'; then %s logs in with the one-time password\n"
           "and sets their own (their keybag is re-wrapped).  Publish again after that\n"
           "first login: the one-time password then stops working on every workstation.\n",
           user, key64, user, pw->data, code->data, user);
}

int admin_enroll_user(int argc, char **argv)
{
    _cleanup_directory_ cs_directory *d = NULL;
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_secret_ cs_secret *code = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_keybag_made made;
    uint8_t pk[CS_SIGN_PK_BYTES];
    char key64[48];
    cs_fleet_user *u;
    int c, r;

    if ((c = cli_getopt(argc, argv, "", NULL)) != -1)
        return cli_opt_exit(c);
    r = admin_load_user(argv[optind], &d, &u);
    if (r != CLI_OK)
        return r;
    if (u->has_key) {
        log_error("'%s' already has a pinned key: they are enrolled (to replace it, 'approve' a new one)", u->name);
        return CLI_FAILED;
    }
    if (admin_one_time_password(&pw) < 0)
        return CLI_FAILED;
    r = cs_account_enroll_for(cli_config(), u->name, pw, &code, &amk, &made);
    if (r == -EEXIST) {
        log_error("'%s' already has a keybag in storage: they enrolled themselves; pin their key with "
                  "'cloudseal admin approve %s --from-storage'", u->name, u->name);
        return CLI_FAILED;
    }
    if (r < 0)
        return cli_report(r, "cannot create the account");
    if (cs_amk_account_pubkey(amk, pk) < 0)
        return CLI_FAILED;
    admin_pin_key(u, pk);
    admin_keybag_floor(u, &made); /* the one-time password dies with the user's first change */
    if (d->has_escrow && admin_file_escrow(u->name, amk, d->escrow_pk) < 0)
        log_warning("the account of '%s' is not escrowed: 'cloudseal admin recover-user' will not work "
                    "for them", u->name);
    r = admin_save(d);
    if (r != CLI_OK) {
        log_error("the keybag of '%s' is in storage but the key was not pinned: fix the source, then "
                  "'cloudseal admin approve %s --key KEY' with the key below", u->name, u->name);
    }
    cs_fleet_encode_key(pk, key64);
    print_result(u->name, pw, code, key64);
    return r;
}
