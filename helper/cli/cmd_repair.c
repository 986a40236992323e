/* SPDX-License-Identifier: MIT */
/* cloudseal repair: rebuild what a damaged object broke from what the
 * repository still holds ('repair index': from the packs' own headers).
 * The sub-verbs are a verb table (repair_commands.def). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "util/log.h"
#include "util/macros.h"

static void print_index(const cs_repair_index_result *res, int e)
{
    if (cli.json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "ok", json_object_new_boolean(e == 0));
        json_object_object_add(j, "packs", json_object_new_uint64(res->packs));
        json_object_object_add(j, "blobs", json_object_new_uint64(res->blobs));
        json_object_object_add(j, "damaged_packs", json_object_new_uint64(res->damaged_packs));
        json_object_object_add(j, "damaged_blobs", json_object_new_uint64(res->damaged_blobs));
        json_object_object_add(j, "index_written", json_object_new_uint64(res->index_written));
        json_object_object_add(j, "index_removed", json_object_new_uint64(res->index_removed));
        cli_print_json(j, JSON_C_TO_STRING_PRETTY);
        return;
    }
    if (cli.quiet)
        return;
    printf("indexed %llu blob(s) in %llu pack(s): %llu index object(s) written, %llu old one(s) removed\n",
           (unsigned long long)res->blobs, (unsigned long long)res->packs,
           (unsigned long long)res->index_written, (unsigned long long)res->index_removed);
    if (res->damaged_packs || res->damaged_blobs)
        printf("left out as damaged (see above): %llu pack(s), %llu blob(s); 'cloudseal check' shows which "
               "snapshots need them, 'cloudseal repair snapshots' keeps the rest of those\n",
               (unsigned long long)res->damaged_packs, (unsigned long long)res->damaged_blobs);
}

static int repair_index(void)
{
    cs_repair_index_result res = { 0 };
    repo_cli rc;
    int r, e;

    repo_cli_no_object_cache = true; /* rebuild from what the storage holds */
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_repair_index(rc.repo, &res);
    if (e == 0 || e == -EBADMSG)
        print_index(&res, e);
    else if (e != -EBUSY)
        log_error("repair index failed: %s; the old index objects are kept", strerror(-e));
    if (e == 0 && (res.damaged_packs || res.damaged_blobs))
        e = -EBADMSG;
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}

static void print_snapshots(const cs_repair_snapshots_result *res, bool dry)
{
    if (cli.json) {
        json_object *j = json_object_new_object(), *a = json_object_new_array();
        json_object_object_add(j, "dry_run", json_object_new_boolean(dry));
        json_object_object_add(j, "snapshots", json_object_new_uint64(res->snapshots));
        for (size_t i = 0; i < res->nrepaired; i++) {
            const cs_repair_snap *r = &res->repaired[i];
            json_object *o = json_object_new_object();
            char hex[65];
            bool gone = true;
            cs_id_hex(&r->old_id, hex);
            json_object_object_add(o, "old", json_object_new_string(hex));
            for (int k = 0; k < CS_ID_LEN; k++)
                gone &= r->new_id.b[k] == 0;
            cs_id_hex(&r->new_id, hex);
            json_object_object_add(o, "new", gone ? NULL : json_object_new_string(hex));
            json_object_object_add(o, "lost", json_object_new_uint64(r->lost));
            json_object_array_add(a, o);
        }
        json_object_object_add(j, "repaired", a);
        cli_print_json(j, JSON_C_TO_STRING_PRETTY);
        return;
    }
    if (cli.quiet)
        return;
    for (size_t i = 0; i < res->nrepaired; i++) {
        char o[65], n[65];
        bool gone = true;
        cs_id_hex(&res->repaired[i].old_id, o);
        cs_id_hex(&res->repaired[i].new_id, n);
        for (int k = 0; k < CS_ID_LEN; k++)
            gone &= res->repaired[i].new_id.b[k] == 0;
        if (gone && dry)
            printf("snapshot %.8s: would be replaced (%llu item(s) lost, named above)\n", o,
                   (unsigned long long)res->repaired[i].lost);
        else if (gone)
            printf("snapshot %.8s: unreadable, removed\n", o);
        else
            printf("snapshot %.8s: replaced by %.8s (tag 'repaired'); %llu item(s) lost, named above\n", o, n,
                   (unsigned long long)res->repaired[i].lost);
    }
    printf("%s%zu of %llu snapshot(s) %s\n", dry ? "dry run: " : "", res->nrepaired,
           (unsigned long long)res->snapshots, dry ? "need a repair" : "repaired");
}

static int repair_snapshots(bool dry, bool read_data)
{
    cs_repair_snapshots_result res = { 0 };
    repo_cli rc;
    int r, e;

    repo_cli_no_object_cache = true;
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_repair_snapshots(rc.repo, dry, read_data, &res);
    if (e == 0)
        print_snapshots(&res, dry);
    else if (e != -EBUSY && e != -EBADMSG)
        log_error("repair snapshots failed: %s; no snapshot was removed that was not replaced first",
                  strerror(-e));
    cs_repair_snapshots_result_free(&res);
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}

static int repair_config(void)
{
    static const char *const what[] = { "missing", "damaged" };
    cs_repair_config_result res;
    repo_cli rc;
    int r, e;

    repo_cli_no_object_cache = true;
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_repo_repair_config(rc.repo, &res);
    if (e == 0 && !res.written && !cli.quiet)
        printf("the repository config in storage authenticates: nothing to repair, it was kept\n");
    else if (e == 0 && !cli.quiet)
        printf("the repository config in storage was %s: put back the verified copy kept on this machine\n",
               what[res.storage_err != -ENOENT]);
    else if (e == -ENOENT)
        log_error("no verified copy of the repository config is on this machine: run 'cloudseal repair "
                  "config' on a machine that has used this repository; restore, ls and check work meanwhile");
    else if (e < 0)
        log_error("repair config failed: %s; storage was left as it was", strerror(-e));
    repo_cli_close(&rc);
    return e == -ENOENT ? CLI_DATA_ERROR : repo_cli_exit(e);
}

/* The key from the keyring; else the password, tried on the cached
 * keybag only (storage's may be the damaged one). */
static int keybag_amk(const char *user, cs_amk **amk)
{
    _cleanup_secret_ cs_secret *pw = NULL;
    char id[CS_ACCOUNT_ID_MAX];
    int r = cs_account_id(cli_config(), user, id);

    if (r == 0 && cs_keyring_load(id, amk) == 0)
        return 0;
    if (!cli_password_stdin && !isatty(STDIN_FILENO))
        cli_password_stdin = true;
    if ((r = cli_read_secret("Cloudseal password: ", &pw)) < 0)
        return CLI_LOCKED;
    r = cs_account_unlock(cli_config(), user, pw, CS_UNLOCK_CACHE_ONLY, amk);
    return r < 0 ? cli_report(r, "cannot unlock the keybag cached here") : CLI_OK;
}

static int repair_keybag(void)
{
    const char *user = cli_user();
    _cleanup_amk_ cs_amk *amk = NULL;
    int r = keybag_amk(user, &amk), state = 0;

    if (r != CLI_OK)
        return r;
    r = cs_account_repair_storage(cli_config(), user, amk, &state);
    if (r == 0 && !cli.quiet)
        printf("the keybag in storage verifies with your key and is not older than the copy cached here: "
               "nothing to repair, it was kept\n");
    else if (r == 1 && !cli.quiet)
        printf("the keybag in storage was %s: uploaded the verified copy cached on this machine "
               "(same generation, nothing re-wrapped)\n",
               state == -ENOENT ? "missing" : state == -ESTALE ? "older than the copy cached here" :
               "damaged or did not verify with your key");
    else if (r == -ENOENT)
        log_error("no keybag is cached on this machine: repair the keybag from a machine where you logged "
                  "in, or ask your administrator");
    else if (r == -EBADMSG)
        log_error("the keybag cached on this machine does not verify with your key: nothing was uploaded; "
                  "ask your administrator");
    else if (r < 0)
        return cli_report(r, "repair keybag");
    return r < 0 ? repo_cli_exit(r) : CLI_OK;
}

/* The options of a sub-verb; -1 when the verb goes on, else the exit code
 * to return. */
static int parse(int argc, char **argv, const struct option *opts, bool *dry, bool *read_data)
{
    int c;

    while ((c = cli_getopt(argc, argv, opts ? "n" : "", opts)) != -1) {
        switch (c) {
        case 'n': *dry = true; break;
        case 'r': *read_data = true; break;
        default: return cli_opt_exit(c);
        }
    }
    return -1;
}

static int repair_index_verb(int argc, char **argv)
{
    int r = parse(argc, argv, NULL, NULL, NULL);

    return r >= 0 ? r : repair_index();
}

static int repair_snapshots_verb(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dry-run", no_argument, NULL, 'n' }, { "read-data", no_argument, NULL, 'r' }, {}
    };
    bool dry = false, read_data = false;
    int r = parse(argc, argv, opts, &dry, &read_data);

    return r >= 0 ? r : repair_snapshots(dry, read_data);
}

static int repair_config_verb(int argc, char **argv)
{
    int r = parse(argc, argv, NULL, NULL, NULL);

    return r >= 0 ? r : repair_config();
}

static int repair_keybag_verb(int argc, char **argv)
{
    int r = parse(argc, argv, NULL, NULL, NULL);

    return r >= 0 ? r : repair_keybag();
}

static const cs_verb repair_commands[] = {
#define REPAIR_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "repair_commands.def"
#undef REPAIR_COMMAND
};

int cmd_repair(int argc, char **argv)
{
    return cli_sub_dispatch(repair_commands, CS_ARRAY_SIZE(repair_commands), argc, argv, NULL);
}
