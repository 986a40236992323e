/* SPDX-License-Identifier: MIT */
/* cloudseal stats: sizes and counts of the repository. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"

int cmd_stats(int argc, char **argv)
{
    cs_repo_stats st;
    repo_cli rc;
    char a[32], b[32];
    int c, r, e;

    if ((c = cli_getopt(argc, argv, "", NULL)) != -1)
        return cli_opt_exit(c);
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_repo_stats_get(rc.repo, &st);
    if (e == 0 && cli.json) {
        json_object *j = json_object_new_object();
#define F(x) cli_json_add(j, #x, json_object_new_uint64(st.x))
        F(snapshots); F(packs); F(blobs); F(data_blobs); F(tree_blobs); F(stored_bytes); F(raw_bytes); F(index_files);
#undef F
        cli_print_json(j, JSON_C_TO_STRING_PRETTY);
    } else if (e == 0) {
        printf("snapshots:   %llu\npacks:       %llu\nblobs:       %llu (%llu data, %llu trees)\n"
               "unique data: %s\nstored:      %s (%.1f%% of the unique data)\nindex files: %llu\n",
               (unsigned long long)st.snapshots, (unsigned long long)st.packs, (unsigned long long)st.blobs,
               (unsigned long long)st.data_blobs, (unsigned long long)st.tree_blobs, repo_cli_size(st.raw_bytes, a),
               repo_cli_size(st.stored_bytes, b), st.raw_bytes ? 100.0 * (double)st.stored_bytes / (double)st.raw_bytes : 0,
               (unsigned long long)st.index_files);
    }
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}
