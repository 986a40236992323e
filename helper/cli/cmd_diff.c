/* SPDX-License-Identifier: MIT */
/* cloudseal diff: what changed between two snapshots. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/json.h"
#include "util/log.h"

typedef struct diff_ctx {
    json_object *arr;
    unsigned long long counts[128];
} diff_ctx;

static int diff_cb(char what, const char *path, const cs_node *a, const cs_node *b, void *ud)
{
    diff_ctx *c = ud;

    (void)a;
    (void)b;
    c->counts[(unsigned char)what & 127]++;
    if (c->arr) {
        json_object *o = json_object_new_object();
        char w[2] = { what, 0 };
        int r;

        cli_json_add(o, "change", json_object_new_string(w));
        r = cs_json_add_name(o, "path", path);
        cli_json_push(c->arr, o);
        return r;
    }
    printf("%c    ", what);
    repo_cli_print_path(stdout, path);
    putchar('\n');
    return 0;
}

int cmd_diff(int argc, char **argv)
{
    static const struct option opts[] = { REPO_CLI_FILTER_OPTIONS, {} };
    cs_snapshot a = { 0 }, b = { 0 };
    diff_ctx c = { 0 };
    repo_cli rc;
    int o, r;

    if ((o = repo_cli_getopt(argc, argv, "", opts)) != -1)
        return cli_opt_exit(o);
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    if ((r = repo_cli_snapshot(&rc, argv[optind], &a)) == CLI_OK &&
        (r = repo_cli_snapshot(&rc, argv[optind + 1], &b)) == CLI_OK) {
        if (cli.json)
            c.arr = json_object_new_array();
        r = repo_cli_exit(cs_diff(rc.repo, &a, &b, diff_cb, &c));
        if (c.arr) {
            cli_print_json(c.arr, JSON_C_TO_STRING_PRETTY);
        } else {
            printf("\n%llu added, %llu removed, %llu changed, %llu metadata only\n", c.counts['+'],
                   c.counts['-'], c.counts['M'], c.counts['U']);
        }
    }
    cs_snapshot_clear(&a);
    cs_snapshot_clear(&b);
    repo_cli_close(&rc);
    return r;
}
