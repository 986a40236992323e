/* SPDX-License-Identifier: MIT */
/* cloudseal prune: delete data no snapshot needs any more. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "config/config.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/log.h"

int cmd_prune(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dry-run", no_argument, NULL, 'n' }, { "max-repack-size", required_argument, NULL, 'm' }, {}
    };
    cs_prune_opts o = { 0 };
    cs_prune_result res;
    int64_t max;
    repo_cli rc;
    char a[32];
    int c, r, e;

    while ((c = cli_getopt(argc, argv, "n", opts)) != -1) {
        if (c == 'n') {
            o.dry_run = true;
        } else if (c == 'm') {
            if (cs_parse_size(optarg, &max) < 0 || max < 0) {
                log_error("--max-repack-size takes a size like 500M or 2G (0: no bound), not '%s'", optarg);
                return CLI_USAGE;
            }
            o.max_repack = (uint64_t)max;
        } else {
            return cli_opt_exit(c);
        }
    }
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_prune(rc.repo, &o, &res);
    if (e == 0 && cli.json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "dry_run", json_object_new_boolean(o.dry_run));
        json_object_object_add(j, "packs_deleted", json_object_new_uint64(res.packs_deleted));
        json_object_object_add(j, "packs_rewritten", json_object_new_uint64(res.packs_rewritten));
        json_object_object_add(j, "packs_kept", json_object_new_uint64(res.packs_kept));
        json_object_object_add(j, "bytes_freed", json_object_new_uint64(res.bytes_freed));
        json_object_object_add(j, "blobs_removed", json_object_new_uint64(res.blobs_removed));
        json_object_object_add(j, "blobs_unused_kept", json_object_new_uint64(res.blobs_unused_kept));
        json_object_object_add(j, "temp_objects_removed", json_object_new_uint64(res.temp_removed));
        json_object_object_add(j, "bytes_repacked", json_object_new_uint64(res.bytes_repacked));
        json_object_object_add(j, "bytes_repack_left", json_object_new_uint64(res.bytes_repack_left));
        json_object_object_add(j, "packs_repack_left", json_object_new_uint64(res.packs_repack_left));
        cli_print_json(j, JSON_C_TO_STRING_PRETTY);
    } else if (e == 0 && !cli.quiet) {
        printf("%s%llu pack(s) deleted, %llu rewritten, %llu kept; %s freed; %llu unused blob(s) removed",
               o.dry_run ? "dry run: would have " : "", (unsigned long long)res.packs_deleted,
               (unsigned long long)res.packs_rewritten, (unsigned long long)res.packs_kept,
               repo_cli_size(res.bytes_freed, a), (unsigned long long)res.blobs_removed);
        if (res.blobs_unused_kept)
            printf(", %llu left in packs kept (under 20%% unused)", (unsigned long long)res.blobs_unused_kept);
        if (res.temp_removed)
            printf("; %llu temporary object(s) of interrupted writes removed", (unsigned long long)res.temp_removed);
        printf("\n");
        repo_cli_prune_left(&res);
    } else if (e < 0 && e != -EBUSY && e != -EBADMSG) {
        log_error_errno(e, "prune failed");
    }
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}
