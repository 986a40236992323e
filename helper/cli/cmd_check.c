/* SPDX-License-Identifier: MIT */
/* cloudseal check: verify the repository's structure and, optionally, data. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "crypto/keybag.h"
#include "unlock_common.h"
#include "util/log.h"
#include "util/parse.h"

/* The keybag is not a repository object, but check is where damage is
 * looked for: it must parse and its MAC verify under the key in use (two
 * flipped keybag bytes went unreported while the keys came from the
 * keyring).  Returns 1 when it is damaged (named), 0 otherwise. */
static int check_keybag(repo_cli *rc)
{
    cs_buf raw = CS_BUF_INIT;
    cs_keybag *kb = NULL;
    char key[512];
    int r;

    snprintf(key, sizeof(key), "users/%s/keybag", cli_user());
    r = cs_storage_get(rc->st, key, 0, 0, CS_KEYBAG_MAX_BYTES, &raw);
    if (r == 0)
        r = cs_keybag_parse(raw.data, raw.len, &kb);
    if (r == 0)
        r = cs_keybag_verify(kb, rc->amk);
    cs_keybag_free(kb);
    cs_buf_free(&raw);
    if (r == 0 || r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -ECONNRESET)
        return 0; /* unreachable storage is reported by the repository check */
    log_error("keybag %s is %s (%s): your keys still work while unlocked; run 'cloudseal repair keybag' "
              "(it uploads the verified copy cached on this machine; without one, tell your administrator "
              "before you lock your keys)", key, r == -ENOENT ? "missing" : "damaged or does not match your keys",
              strerror(-r));
    return 1;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        { "read-data", no_argument, NULL, 'r' }, { "read-data-subset", required_argument, NULL, 's' }, {}
    };
    cs_check_opts o = { 0 };
    cs_check_result res;
    repo_cli rc;
    int c, r;

    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'r': o.read_data_percent = 100; break;
        case 's': { /* "10" or "10%" */
            size_t l = strlen(optarg);
            if (l && optarg[l - 1] == '%')
                optarg[l - 1] = '\0';
            if (cs_parse_int(optarg, 1, 100, &o.read_data_percent) < 0) {
                log_error("--read-data-subset takes a percentage from 1%% to 100%%");
                return CLI_USAGE;
            }
            break;
        }
        default: return cli_opt_exit(c);
        }
    }
    repo_cli_no_object_cache = true; /* check what the storage holds, not our copies */
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    int e = cs_check(rc.repo, &o, &res);
    int kb_bad = check_keybag(&rc);

    if (kb_bad && (e == 0 || e == -EBADMSG)) {
        res.errors++;
        e = -EBADMSG;
    }
    if (cli.json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "ok", json_object_new_boolean(e == 0));
        json_object_object_add(j, "errors", json_object_new_uint64(res.errors));
        json_object_object_add(j, "snapshots", json_object_new_uint64(res.snapshots));
        json_object_object_add(j, "packs", json_object_new_uint64(res.packs));
        json_object_object_add(j, "packs_read", json_object_new_uint64(res.packs_read));
        json_object_object_add(j, "trees", json_object_new_uint64(res.trees));
        json_object_object_add(j, "unreferenced_packs", json_object_new_uint64(res.unreferenced_packs));
        json_object_object_add(j, "unindexed_needed_packs", json_object_new_uint64(res.unindexed_needed));
        json_object_object_add(j, "temp_objects", json_object_new_uint64(res.temp_objects));
        json_object_object_add(j, "temp_bytes", json_object_new_uint64(res.temp_bytes));
        json_object_object_add(j, "damaged_locks", json_object_new_uint64(res.locks_damaged));
        json_object_object_add(j, "keybag_ok", json_object_new_boolean(!kb_bad));
        cli_print_json(j, JSON_C_TO_STRING_PRETTY);
    } else if (e == 0 || e == -EBADMSG) {
        char sz[32];
        printf("%llu snapshots, %llu trees, %llu packs (%llu read): %s\n", (unsigned long long)res.snapshots,
               (unsigned long long)res.trees, (unsigned long long)res.packs, (unsigned long long)res.packs_read,
               e == 0 ? "no errors" : "ERRORS FOUND (see above)");
        if (res.unindexed_needed)
            printf("%llu pack(s) not indexed hold data snapshots need (read from their own headers): "
                   "run 'cloudseal repair index'\n", (unsigned long long)res.unindexed_needed);
        if (res.unreferenced_packs > res.unindexed_needed + res.unindexed_damaged)
            printf("%llu pack(s) not indexed hold nothing a snapshot needs (left by an interrupted backup or "
                   "prune): 'cloudseal prune' removes them\n",
                   (unsigned long long)(res.unreferenced_packs - res.unindexed_needed - res.unindexed_damaged));
        if (res.temp_objects)
            printf("%llu temporary object(s), %s, left by interrupted writes: 'cloudseal prune' removes them\n",
                   (unsigned long long)res.temp_objects, repo_cli_size(res.temp_bytes, sz));
    } else {
        log_error_errno(e, "check could not run");
    }
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}
