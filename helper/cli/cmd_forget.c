/* SPDX-License-Identifier: MIT */
/* cloudseal forget: remove snapshots by a retention policy. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Remove (or list) the snapshots of group g the plan does not keep. */
static int forget_group(repo_cli *rc, const cs_snapshot *v, size_t n, const size_t *group, size_t g,
                        const bool *keep, bool dry, size_t *removed)
{
    for (size_t i = g; i < n; i++) {
        char hex[65], tb[32];
        time_t t = (time_t)v[i].time_sec;
        struct tm tm;
        int e;
        if (group[i] != g)
            continue;
        localtime_r(&t, &tm);
        strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S", &tm);
        cs_id_hex(&v[i].id, hex);
        if (!cli.quiet)
            printf("  %s %.8s  %s\n", keep[i] ? "keep  " : (dry ? "would remove" : "remove"), hex, tb);
        if (!keep[i] && !dry) {
            if ((e = cs_snapshot_delete(rc->repo, &v[i].id)) < 0 && e != -ENOENT)
                return e;
            (*removed)++;
        }
    }
    return 0;
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
    cs_forget_policy pol = { 0 };
    bool prune = false, dry = false, any = false;
    cs_snapshot *v = NULL;
    bool *keep = NULL;
    size_t *group = NULL, n = 0, removed = 0;
    unsigned group_by = CS_GROUP_HOST | CS_GROUP_PATHS;
    repo_cli rc;
    int c, r, e = 0;

    while ((c = repo_cli_getopt(argc, argv, "n", opts)) != -1) {
        int *dst = NULL;
        switch (c) {
        case 'l': dst = &pol.last; break;
        case 'H': dst = &pol.hourly; break;
        case 'd': dst = &pol.daily; break;
        case 'w': dst = &pol.weekly; break;
        case 'm': dst = &pol.monthly; break;
        case 'y': dst = &pol.yearly; break;
        case 'P': prune = true; break;
        case 'n': dry = true; break;
        case 'g':
            if (cs_group_by_parse(optarg, &group_by) < 0) {
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
    if (!dry && (e = cs_repo_lock(rc.repo, false)) < 0)
        goto out;
    e = cs_snapshot_list(rc.repo, &v, &n, NULL);
    if (e < 0)
        goto out;
    repo_cli_filter_list(v, &n); /* forget never looks at the others */
    keep = calloc(n ? n : 1, sizeof(bool));
    group = calloc(n ? n : 1, sizeof(size_t));
    if (!keep || !group || cs_forget_plan_grouped(v, n, &pol, group_by, group, keep) < 0) {
        e = -ENOMEM;
        goto out;
    }
    for (size_t g = 0; g < n; g++) {
        if (group[g] != g)
            continue;
        if (!cli.quiet)
            print_group(&v[g], group_by);
        if ((e = forget_group(&rc, v, n, group, g, keep, dry, &removed)) < 0)
            goto out;
    }
    if (!cli.quiet)
        printf("%zu snapshot(s) %s\n", dry ? (size_t)0 : removed, dry ? "removed (dry run)" : "removed");
    cs_repo_unlock(rc.repo);
    if (prune && !dry) {
        cs_prune_result pr;
        e = cs_prune(rc.repo, NULL, &pr);
        if (e == 0 && !cli.quiet)
            printf("prune: %llu pack(s) deleted, %llu rewritten\n", (unsigned long long)pr.packs_deleted,
                   (unsigned long long)pr.packs_rewritten);
    }
out:
    if (e < 0 && e != -EBUSY && e != -EBADMSG)
        log_error_errno(e, "forget failed");
    free(keep);
    free(group);
    cs_snapshots_free(v, n);
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}
