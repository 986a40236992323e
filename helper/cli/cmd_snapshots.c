/* SPDX-License-Identifier: MIT */
/* cloudseal snapshots: list snapshots. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <time.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"

int cmd_snapshots(int argc, char **argv)
{
    static const struct option opts[] = { REPO_CLI_FILTER_OPTIONS, {} };
    cs_snapshot *v = NULL;
    size_t n = 0, bad = 0;
    repo_cli rc;
    int c, r;

    if ((c = repo_cli_getopt(argc, argv, "", opts)) != -1)
        return cli_opt_exit(c);
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    r = cs_snapshot_list(rc.repo, &v, &n, &bad);
    if (r == 0)
        repo_cli_filter_list(v, &n);
    if (r == 0 && cli.json) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            cli_json_push(a, repo_cli_snapshot_json(&v[i]));
        cli_print_json(a, JSON_C_TO_STRING_PRETTY);
    } else if (r == 0) {
        printf("%-8s  %-19s  %-12s  %-10s  %s\n", "ID", "Time", "Host", "Size", "Paths");
        for (size_t i = 0; i < n; i++) {
            char hex[65], tb[32], sz[32];
            time_t t = (time_t)v[i].time_sec;
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S", &tm);
            cs_id_hex(&v[i].id, hex);
            printf("%.8s  %s  %-12s  %-10s ", hex, tb, v[i].host,
                   repo_cli_size(v[i].summary.bytes_processed, sz));
            for (size_t k = 0; k < v[i].npaths; k++) {
                putchar(' ');
                repo_cli_print_path(stdout, v[i].paths[k]);
            }
            for (size_t k = 0; k < v[i].ntags; k++)
                printf(" [%s]", v[i].tags[k]);
            putchar('\n');
        }
        printf("%zu snapshot%s\n", n, n == 1 ? "" : "s");
    }
    cs_snapshots_free(v, n);
    repo_cli_close(&rc);
    if (r == 0 && bad)
        return CLI_DATA_ERROR;
    return repo_cli_exit(r);
}
