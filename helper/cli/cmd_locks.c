/* SPDX-License-Identifier: MIT */
/* cloudseal locks: list the repository's locks, and remove stale ones (or,
 * when the user knows better than the 30-minute rule, all of them). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/json.h"
#include "util/log.h"

static const char *lock_state(const cs_lock_entry *e)
{
    return e->unreadable ? "unreadable" : e->stale ? "stale" : "held";
}

static void print_json(const cs_lock_entry *v, size_t n)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        char hex[65];
        cs_id_hex(&v[i].id, hex);
        cli_json_add(o, "id", json_object_new_string(hex));
        cli_json_add(o, "state", json_object_new_string(lock_state(&v[i])));
        if (!v[i].unreadable) {
            cli_json_add(o, "exclusive", json_object_new_boolean(v[i].exclusive));
            cs_json_add_name(o, "host", v[i].host); /* the lock's writer's: any bytes */
            cli_json_add(o, "pid", json_object_new_int64(v[i].pid));
            cli_json_add(o, "time", json_object_new_int64(v[i].time));
        }
        cli_json_push(a, o);
    }
    cli_print_json(a, JSON_C_TO_STRING_PRETTY);
}

static void print_table(const cs_lock_entry *v, size_t n)
{
    time_t now = time(NULL);

    if (!n) {
        printf("no locks: nothing is using the repository\n");
        return;
    }
    printf("%-8s  %-10s  %-9s  %-20s  %8s  %s\n", "ID", "STATE", "TYPE", "HOST", "PID", "WRITTEN");
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        cs_id_hex(&v[i].id, hex);
        if (v[i].unreadable) {
            printf("%.8s  %-10s  (not sealed with your keys)\n", hex, "unreadable");
            continue;
        }
        printf("%.8s  %-10s  %-9s  %-20.20s  %8lld  %lld s ago\n", hex, lock_state(&v[i]),
               v[i].exclusive ? "exclusive" : "shared", v[i].host, v[i].pid, (long long)(now - v[i].time));
    }
}

static int remove_locks(cs_repo *repo, const cs_lock_entry *v, size_t n, bool all)
{
    size_t removed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        char hex[65];
        int e;
        if (!all && !v[i].stale && !v[i].unreadable)
            continue;
        cs_id_hex(&v[i].id, hex);
        e = cs_repo_remove_lock(repo, &v[i].id);
        if (e < 0 && e != -ENOENT) {
            log_error_errno(e, "cannot remove lock %.8s", hex);
            failed++;
        } else {
            log_notice("removed %s lock %.8s%s%s", lock_state(&v[i]), hex, v[i].unreadable ? "" : " of ",
                       v[i].unreadable ? "" : v[i].host);
            removed++;
        }
    }
    if (!cli.json)
        printf("removed %zu lock%s\n", removed, removed == 1 ? "" : "s");
    return failed ? CLI_FAILED : CLI_OK;
}

int cmd_locks(int argc, char **argv)
{
    static const struct option opts[] = {
        { "remove-stale", no_argument, NULL, 's' }, { "remove-all", no_argument, NULL, 'a' }, {}
    };
    bool rm_stale = false, rm_all = false;
    cs_lock_entry *v = NULL;
    size_t n = 0;
    repo_cli rc;
    int c, r, e;

    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        if (c == 's')
            rm_stale = true;
        else if (c == 'a')
            rm_all = true;
        else
            return cli_opt_exit(c);
    }
    if (rm_stale && rm_all) {
        fprintf(stderr, "Usage: cloudseal locks [--json] [--remove-stale | --remove-all]\n");
        return CLI_USAGE;
    }
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_repo_list_locks(rc.repo, &v, &n);
    if (e < 0) {
        log_error_errno(e, "cannot list the repository's locks");
        r = repo_cli_exit(e);
    } else if (rm_stale || rm_all) {
        r = remove_locks(rc.repo, v, n, rm_all);
    } else {
        cli.json ? print_json(v, n) : print_table(v, n);
        r = CLI_OK;
    }
    free(v);
    repo_cli_close(&rc);
    return r;
}
