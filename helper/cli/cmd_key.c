/* SPDX-License-Identifier: MIT */
/* cloudseal key add-fido2 | list | remove: security keys (FIDO2, CTAP2
 * hmac-secret) as keybag slots (docs/keybag.md, "Security-key slots"); the
 * sub-verbs are a verb table (key_commands.def). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <sodium.h>

#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keybag.h"
#include "crypto/keyring.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/parse.h"

#define AGAIN_ADD "cloudseal key add-fido2"
#define CRED_PREFIX_BYTES 8 /* what `list` shows of a credential id */

/* ---- list ---- */

static json_object *slot_entry(json_object *slot, const cs_keybag_fido2 *keys, size_t nkeys)
{
    json_object *e = json_object_new_object(), *v;
    int64_t id = json_object_object_get_ex(slot, "id", &v) ? json_object_get_int64(v) : -1;
    static const char *const copy[] = { "type", "name", "policy", "created", NULL };

    json_object_object_add(e, "id", json_object_new_int64(id));
    for (size_t i = 0; copy[i]; i++)
        if (json_object_object_get_ex(slot, copy[i], &v))
            json_object_object_add(e, copy[i], json_object_get(v));
    for (size_t i = 0; i < nkeys; i++) {
        char hex[2 * CRED_PREFIX_BYTES + 1];
        size_t n = keys[i].cred_id_len < CRED_PREFIX_BYTES ? keys[i].cred_id_len : CRED_PREFIX_BYTES;

        if ((int64_t)keys[i].id != id)
            continue;
        sodium_bin2hex(hex, sizeof(hex), keys[i].cred_id, n);
        json_object_object_add(e, "credential_prefix", json_object_new_string(hex));
    }
    return e;
}

static const char *member(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "-";
}

static void print_entry(json_object *e)
{
    json_object *v;
    char when[32] = "-";

    if (json_object_object_get_ex(e, "created", &v)) {
        time_t t = (time_t)json_object_get_int64(v);
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    }
    printf("%-4s %-9s %-6s %-20s %-17s %s\n", member(e, "id"), member(e, "type"), member(e, "policy"),
           member(e, "name"), member(e, "credential_prefix"), when);
}

static int key_list(void)
{
    const char *user = cli_user();
    cs_keybag_fido2 keys[CS_KEYBAG_MAX_FIDO2_SLOTS];
    _cleanup_json_ json_object *d = NULL;
    _cleanup_json_ json_object *out = json_object_new_array();
    cs_keybag *kb = NULL;
    json_object *slots;
    size_t nkeys;
    int r = cs_account_load_keybag(cli_config(), user, 0, &kb, NULL);

    if (r < 0)
        return cli_report(r, "cannot read your keybag");
    nkeys = cs_keybag_fido2_slots(kb, keys, CS_KEYBAG_MAX_FIDO2_SLOTS);
    r = cs_keybag_describe(kb, &d);
    cs_keybag_free(kb);
    if (r < 0 || !out || !json_object_object_get_ex(d, "slots", &slots))
        return cli_report(r < 0 ? r : -ENOMEM, "key list");
    for (size_t i = 0; i < json_object_array_length(slots); i++)
        cli_json_push(out, slot_entry(json_object_array_get_idx(slots, i), keys,
                                      nkeys < CS_KEYBAG_MAX_FIDO2_SLOTS ? nkeys : CS_KEYBAG_MAX_FIDO2_SLOTS));
    if (cli.json)
        return cli_print_json(CS_TAKE_PTR(out), JSON_C_TO_STRING_PRETTY);
    printf("%-4s %-9s %-6s %-20s %-17s %s\n", "ID", "TYPE", "POLICY", "NAME", "CREDENTIAL", "CREATED");
    for (size_t i = 0; i < json_object_array_length(out); i++)
        print_entry(json_object_array_get_idx(out, i));
    return CLI_OK;
}

/* ---- remove ---- */

static int key_remove(const char *arg)
{
    const char *user = cli_user();
    _cleanup_amk_ cs_amk *amk = NULL;
    uint64_t id;
    int r;

    if (cs_parse_uint(arg, 0, 65535, &id) < 0) {
        log_error("'%s' is not a slot id: see 'cloudseal key list'", arg);
        return CLI_USAGE;
    }
    if ((r = cli_obtain_amk(&amk)) < 0)
        return r == -ENOKEY ? CLI_LOCKED : cli_report(r, "cannot unlock your keys");
    r = cs_account_remove_slot(cli_config(), user, amk, (uint32_t)id);
    switch (r) {
    case 0:
        if (!cli.quiet)
            printf("Removed slot %" PRIu64 ".\n", id);
        return CLI_OK;
    case -ENOENT:
        log_error("there is no slot %" PRIu64 ": see 'cloudseal key list'", id);
        return CLI_NOT_FOUND;
    case -EPERM:
        log_error("slot %" PRIu64 " is your recovery key, the way back when a key or the password is lost: "
                  "it is not removed", id);
        return CLI_FAILED;
    case -EBUSY:
        log_error("slot %" PRIu64 " is the last way into your keys: add another first "
                  "('cloudseal key add-fido2', or a password with 'cloudseal recover')", id);
        return CLI_FAILED;
    default:
        return cli_report(r, "cannot remove the slot");
    }
}

/* ---- add-fido2 ---- */

/* The account key, and for policy both the password (checked: it opens the
 * bag, with the existing key when the account is both already). */
static int add_unlock(const char *user, cs_fido2_policy want, cs_fido2_policy have, cs_secret **pw, cs_amk **amk)
{
    int r;

    if (have != CS_FIDO2_POLICY_NONE && have != want) {
        log_error("your security keys have policy '%s': remove them first ('cloudseal key list', "
                  "'cloudseal key remove ID') to add one with policy '%s'",
                  have == CS_FIDO2_POLICY_BOTH ? "both" : "any", want == CS_FIDO2_POLICY_BOTH ? "both" : "any");
        return CLI_USAGE;
    }
    if (want != CS_FIDO2_POLICY_BOTH)
        return cli_obtain_amk(amk) < 0 ? CLI_LOCKED : CLI_OK;
    if (cli_read_secret("Cloudseal password: ", pw) < 0)
        return CLI_USAGE;
    if (have == CS_FIDO2_POLICY_BOTH) {
        if (!cli.quiet)
            fprintf(stderr, "First one of your enrolled security keys:\n");
        return cli_unlock_fido2(user, *pw, AGAIN_ADD, amk);
    }
    r = cs_account_unlock(cli_config(), user, *pw, 0, amk);
    return r < 0 ? cli_report(r, "cannot unlock your keys") : CLI_OK;
}

/* Make a credential on the key the user touches, then its hmac-secret for a
 * new salt (a second touch). */
static int add_enrol(const cs_keybag *kb, const char *user, cs_keybag_fido2 *slot, cs_secret **hmac)
{
    cs_fido2_credential cred;
    char rp_id[sizeof(CS_FIDO2_RP_PREFIX) + CS_ACCOUNT_ID_HEX];
    uint8_t user_id[32];
    cli_fido2 k;
    int r;

    cli_fido2_init(&k, AGAIN_ADD);
    if ((r = cs_keybag_fido2_rp_id(kb, rp_id, sizeof(rp_id))) < 0 ||
        sodium_hex2bin(user_id, sizeof(user_id), cs_keybag_account_id(kb), CS_ACCOUNT_ID_HEX, NULL, NULL, NULL) != 0)
        return cli_report(r < 0 ? r : -EBADMSG, "cannot add the security key");
    if (!cli.quiet)
        fprintf(stderr, "Plug in the security key to add.\n");
    r = cs_fido2_make_credential(rp_id, user, user_id, &k.ui, &cred);
    if (r < 0) {
        k.device_err = r;
        return cli_fido2_report(&k, r, "cannot add the security key");
    }
    memcpy(slot->cred_id, cred.id, cred.id_len);
    slot->cred_id_len = cred.id_len;
    /* the flags of every later unlock: a PIN set now is asked then */
    slot->flags = CS_FIDO2_UP | (cred.pin_set ? CS_FIDO2_PIN : 0);
    randombytes_buf(slot->salt, sizeof(slot->salt));
    if (!cli.quiet)
        fprintf(stderr, "Once more, to derive the key's secret:\n");
    r = cs_fido2_hmac_secret(rp_id, slot->cred_id, slot->cred_id_len, slot->salt, slot->flags, &k.ui, hmac);
    if (r < 0) {
        k.device_err = r;
        return cli_fido2_report(&k, r, "cannot add the security key");
    }
    return CLI_OK;
}

static void added(const cs_keybag_fido2 *slot)
{
    if (cli.quiet)
        return;
    printf("Added security key \"%s\" (slot %u, policy %s).\n", slot->name, slot->id,
           slot->policy == CS_FIDO2_POLICY_BOTH ? "both" : "any");
    if (slot->policy == CS_FIDO2_POLICY_BOTH)
        printf("\nIMPORTANT: your password alone no longer unlocks your keys: you need the password AND\n"
               "this security key, also at login.  Keep your recovery key: if you lose the security key\n"
               "it is the only way back ('cloudseal recover').\n");
    else
        printf("'cloudseal unlock --fido2' now unlocks your keys with it, without your password.\n");
    printf("Every machine you use needs a cloudseal that knows security keys: an older one\n"
           "refuses this keybag (docs/keybag.md).\n");
}

static int key_add(cs_fido2_policy policy, const char *name)
{
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *pw = NULL;
    _cleanup_secret_ cs_secret *hmac = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_keybag_fido2 slot = { .policy = policy, .created = (int64_t)time(NULL) };
    cs_keybag *kb = NULL;
    int r;

    if (snprintf(slot.name, sizeof(slot.name), "%s", name) >= (int)sizeof(slot.name)) {
        log_error("--name: at most %d characters", CS_KEYBAG_NAME_MAX);
        return CLI_USAGE;
    }
    if ((r = cs_account_load_keybag(cli_config(), user, 0, &kb, NULL)) < 0)
        return cli_report(r, "cannot read your keybag");
    r = add_unlock(user, policy, cs_keybag_fido2_policy(kb), &pw, &amk);
    if (r == CLI_OK)
        r = add_enrol(kb, user, &slot, &hmac);
    cs_keybag_free(kb);
    if (r != CLI_OK)
        return r;
    r = cs_account_add_fido2(cli_config(), user, amk, &slot, hmac, pw);
    if (r == -EINVAL) {
        log_error("--name: 1..%d printable ASCII characters", CS_KEYBAG_NAME_MAX);
        return CLI_USAGE;
    }
    if (r == -EEXIST || r == -ENOSPC) {
        log_error("cannot add the security key: %s", r == -EEXIST ? "it is enrolled already" :
                  "no room for another one (at most 4 keys, 2 with policy both): remove one first");
        return CLI_FAILED;
    }
    if (r < 0)
        return cli_report(r, "cannot add the security key");
    added(&slot);
    return CLI_OK;
}

static int key_add_verb(int argc, char **argv)
{
    static const struct option opts[] = {
        { "policy", required_argument, NULL, 'p' },
        { "name", required_argument, NULL, 'n' },
        {}
    };
    cs_fido2_policy policy = CS_FIDO2_POLICY_ANY;
    const char *name = "security key";
    int c;

    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'p':
            if (strcmp(optarg, "any") != 0 && strcmp(optarg, "both") != 0) {
                log_error("--policy: 'any' (the key alone unlocks) or 'both' (password and key)");
                return CLI_USAGE;
            }
            policy = optarg[0] == 'b' ? CS_FIDO2_POLICY_BOTH : CS_FIDO2_POLICY_ANY;
            break;
        case 'n':
            name = optarg;
            break;
        default: return cli_opt_exit(c);
        }
    }
    return key_add(policy, name);
}

static int key_list_verb(int argc, char **argv)
{
    int c = cli_getopt(argc, argv, "", NULL);

    return c != -1 ? cli_opt_exit(c) : key_list();
}

static int key_remove_verb(int argc, char **argv)
{
    int c = cli_getopt(argc, argv, "", NULL);

    return c != -1 ? cli_opt_exit(c) : key_remove(argv[optind]);
}

static const cs_verb key_commands[] = {
#define KEY_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "key_commands.def"
#undef KEY_COMMAND
};

int cmd_key(int argc, char **argv)
{
    return cli_sub_dispatch(key_commands, CS_ARRAY_SIZE(key_commands), argc, argv, NULL);
}
