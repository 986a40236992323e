/* SPDX-License-Identifier: MIT */
/* cloudseal forget: remove snapshots by a retention policy. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent/retention.h"
#include "cli.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/log.h"
#include "util/parse.h"

static int count_arg(const char *s, int *out)
{
    if (cs_parse_int(s, 0, 1000000, out) < 0) {
        log_error("'%s' is not a count", s);
        return -1;
    }
    return 0;
}

static void print_list(const char *what, char *const *v, size_t n)
{
    printf(", %s [", what);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", v[i]);
    printf("]");
}

static void print_group(const cs_snapshot *s, unsigned by)
{
    printf("snapshots of");
    if (by & CS_GROUP_HOST)
        printf(" host %s", s->host ? s->host : "");
    if (by & CS_GROUP_PATHS)
        print_list("paths", s->paths, s->npaths);
    if (by & CS_GROUP_TAGS)
        print_list("tags", s->tags, s->ntags);
    if (!by)
        printf(" every host, paths and tags");
    printf(":\n");
}

static bool selected(const cs_snapshot *s, void *ud)
{
    (void)ud;
    return repo_cli_filter_match(s); /* forget never looks at the others */
}

/* Each snapshot as the plan goes: its group's heading first. */
static void print_snapshot(const cs_snapshot *s, bool first, bool keep, void *ud)
{
    const cs_retention_run *run = ud;
    char hex[65], tb[32];
    time_t t = (time_t)s->time_sec;
    struct tm tm;

    if (cli.quiet)
        return;
    if (first)
        print_group(s, run->group_by);
    localtime_r(&t, &tm);
    strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S", &tm);
    cs_id_hex(&s->id, hex);
    printf("  %s %.8s  %s\n", keep ? "keep  " : (run->dry ? "would remove" : "remove"), hex, tb);
}

int cmd_forget(int argc, char **argv)
{
    static const struct option opts[] = {
        { "keep-last", required_argument, NULL, 'l' }, { "keep-hourly", required_argument, NULL, 'H' },
        { "keep-daily", required_argument, NULL, 'd' }, { "keep-weekly", required_argument, NULL, 'w' },
        { "keep-monthly", required_argument, NULL, 'm' }, { "keep-yearly", required_argument, NULL, 'y' },
        { "prune", no_argument, NULL, 'P' }, { "dry-run", no_argument, NULL, 'n' },
        { "group-by", required_argument, NULL, 'g' }, REPO_CLI_FILTER_OPTIONS, {}
    };
    cs_retention_run run = { .group_by = CS_GROUP_HOST | CS_GROUP_PATHS, .select = selected,
                             .each = print_snapshot, .ud = &run };
    cs_forget_policy *pol = &run.policy.keep;
    cs_retention_plan pl;
    bool prune = false, any = false;
    repo_cli rc;
    int c, r, e;

    while ((c = repo_cli_getopt(argc, argv, "n", opts)) != -1) {
        int *dst = NULL;
        switch (c) {
        case 'l': dst = &pol->last; break;
        case 'H': dst = &pol->hourly; break;
        case 'd': dst = &pol->daily; break;
        case 'w': dst = &pol->weekly; break;
        case 'm': dst = &pol->monthly; break;
        case 'y': dst = &pol->yearly; break;
        case 'P': prune = true; break;
        case 'n': run.dry = true; break;
        case 'g':
            if (cs_group_by_parse(optarg, &run.group_by) < 0) {
                log_error("--group-by takes a comma-separated list of host, paths and tags (or ''), not '%s'",
                          optarg);
                return CLI_USAGE;
            }
            break;
        default: return cli_opt_exit(c);
        }
        if (dst) {
            if (count_arg(optarg, dst) < 0)
                return CLI_USAGE;
            any = any || *dst > 0;
        }
    }
    if (!any) {
        log_error("give at least one --keep-* option: forget never removes every snapshot");
        return CLI_USAGE;
    }
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_retention_apply(rc.repo, &run, &pl);
    if (e == 0 && !cli.quiet)
        printf("%zu snapshot(s) %s\n", run.dry ? (size_t)0 : pl.removed, run.dry ? "removed (dry run)" : "removed");
    if (e == 0 && prune && !run.dry) {
        cs_prune_result pr;
        e = cs_prune(rc.repo, NULL, &pr);
        if (e == 0 && !cli.quiet)
            printf("prune: %llu pack(s) deleted, %llu rewritten\n", (unsigned long long)pr.packs_deleted,
                   (unsigned long long)pr.packs_rewritten);
    }
    if (e < 0 && e != -EBUSY && e != -EBADMSG)
        log_error_errno(e, "forget failed");
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}
