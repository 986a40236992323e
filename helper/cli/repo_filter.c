/* SPDX-License-Identifier: MIT */
/* --tag, --host, --path: which snapshots a command looks at (restic's
 * semantics), shared by snapshots, forget, restore, ls and diff. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_opts.h"
#include "repo_cli.h"
#include "util/log.h"

#define FILTER_MAX 32

static struct {
    const char *tags[FILTER_MAX];  /* each a comma-separated list, all required */
    size_t ntags;
    const char *hosts[FILTER_MAX];
    size_t nhosts;
    char *paths[FILTER_MAX];       /* expanded, without a trailing '/' */
    size_t npaths;
} filter;

int repo_cli_filter_option(int c, const char *arg)
{
    size_t l;

    if (c != REPO_CLI_OPT_TAG && c != REPO_CLI_OPT_HOST && c != REPO_CLI_OPT_PATH)
        return 0;
    if (filter.ntags == FILTER_MAX || filter.nhosts == FILTER_MAX || filter.npaths == FILTER_MAX) {
        log_error("at most %d --tag, --host and --path options each", FILTER_MAX);
        return -1;
    }
    if (c == REPO_CLI_OPT_TAG) {
        filter.tags[filter.ntags++] = arg;
    } else if (c == REPO_CLI_OPT_HOST) {
        filter.hosts[filter.nhosts++] = arg;
    } else {
        char *p = repo_cli_expand(arg);
        if (!p || p[0] != '/') {
            log_error("--path wants an absolute path as 'cloudseal snapshots' shows it, not '%s'", arg);
            free(p);
            return -1;
        }
        for (l = strlen(p); l > 1 && p[l - 1] == '/';)
            p[--l] = '\0';
        filter.paths[filter.npaths++] = p;
    }
    return 1;
}

bool repo_cli_filter_set(void)
{
    return filter.ntags || filter.nhosts || filter.npaths;
}

static bool has(char *const *v, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(v[i]) == len && strncmp(v[i], s, len) == 0)
            return true;
    return false;
}

/* Every tag of the comma-separated list is on s. */
static bool all_tags(const cs_snapshot *s, const char *list)
{
    for (const char *t = list; *t;) {
        size_t len = strcspn(t, ",");
        if (len && !has(s->tags, s->ntags, t, len))
            return false;
        t += len + (t[len] == ',');
    }
    return true;
}

bool repo_cli_filter_match(const cs_snapshot *s)
{
    bool ok = filter.nhosts == 0;

    for (size_t i = 0; i < filter.nhosts && !ok; i++)
        ok = s->host && strcmp(s->host, filter.hosts[i]) == 0;
    for (size_t i = 0; i < filter.npaths && ok; i++)
        ok = has(s->paths, s->npaths, filter.paths[i], strlen(filter.paths[i]));
    if (ok && filter.ntags) {
        ok = false;
        for (size_t i = 0; i < filter.ntags && !ok; i++)
            ok = all_tags(s, filter.tags[i]);
    }
    return ok;
}

void repo_cli_filter_list(cs_snapshot *v, size_t *n)
{
    size_t k = 0;

    for (size_t i = 0; i < *n; i++) {
        if (repo_cli_filter_match(&v[i])) {
            if (k != i)
                v[k] = v[i];
            k++;
        } else {
            cs_snapshot_clear(&v[i]);
        }
    }
    *n = k;
}

int repo_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *own)
{
    int c, f;

    while ((c = cli_getopt(argc, argv, shortopts, own)) != -1) {
        f = repo_cli_filter_option(c, optarg);
        if (f < 0)
            return '?';
        if (f == 0)
            return c;
    }
    return -1;
}
