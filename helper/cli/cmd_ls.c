/* SPDX-License-Identifier: MIT */
/* cloudseal ls: list the files of a snapshot. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/json.h"
#include "util/log.h"

static const char type_char[] = "?-dlpscb";

typedef struct ls_ctx {
    bool lng;
    json_object *arr;
} ls_ctx;

static int ls_cb(const char *path, const cs_node *n, void *ud)
{
    ls_ctx *c = ud;

    if (c->arr) {
        json_object *o = json_object_new_object();
        int r = o ? cs_json_add_name(o, "path", path) : -ENOMEM;

        repo_cli_node_json(o, n);
        if (n->link && r >= 0)
            r = cs_json_add_name(o, "target", n->link);
        cli_json_push(c->arr, o);
        return r;
    }
    if (c->lng) {
        char tb[32];
        time_t t = (time_t)n->mtime_s;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M", &tm);
        printf("%c%04o %-8s %-8s %12llu %s ", type_char[n->type], n->mode & 07777,
               n->user[0] ? n->user : "?", n->group[0] ? n->group : "?", (unsigned long long)n->size, tb);
    }
    repo_cli_print_path(stdout, path);
    if (c->lng && n->link) {
        fputs(" -> ", stdout);
        repo_cli_print_path(stdout, n->link);
    }
    putchar('\n');
    return 0;
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        { "long", no_argument, NULL, 'l' }, REPO_CLI_FILTER_OPTIONS, {}
    };
    ls_ctx c = { 0 };
    cs_snapshot s = { 0 };
    repo_cli rc;
    int o, r;

    while ((o = repo_cli_getopt(argc, argv, "l", opts)) != -1) {
        switch (o) {
        case 'l': c.lng = true; break;
        default: return cli_opt_exit(o);
        }
    }
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    if ((r = repo_cli_snapshot(&rc, argv[optind], &s)) == CLI_OK) {
        if (cli.json)
            c.arr = json_object_new_array();
        int e = cs_walk(rc.repo, &s, optind + 1 < argc ? argv[optind + 1] : NULL, ls_cb, &c);
        if (e == -ENOENT && optind + 1 < argc)
            log_error("'%s' is not in the snapshot", argv[optind + 1]);
        r = repo_cli_exit(e);
        if (c.arr) {
            cli_print_json(c.arr, JSON_C_TO_STRING_PRETTY);
        }
    }
    cs_snapshot_clear(&s);
    repo_cli_close(&rc);
    return r;
}
