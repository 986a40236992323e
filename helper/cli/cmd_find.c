/* SPDX-License-Identifier: MIT */
/* cloudseal find: look for files by name or path across snapshots.  Trees
 * come through one bounded cache (lib/repo/browse.h), so a tree that many
 * snapshots share is read once. */
#include <errno.h>
#include <fnmatch.h>
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
#include "repo/browse.h"
#include "unlock_common.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"

#define FIND_MAX_SPECS 64

typedef struct find_ctx {
    cs_browse *b;
    char **patterns;
    int npatterns;
    bool has_oldest, has_newest;
    int64_t oldest, newest;
    const cs_snapshot *snap;
    uint64_t hits;
    json_object *matches; /* --json: this snapshot's matches */
} find_ctx;

static bool matches(const find_ctx *c, const char *path, const cs_node *n)
{
    if ((c->has_oldest && n->mtime_s < c->oldest) || (c->has_newest && n->mtime_s > c->newest))
        return false;
    for (int i = 0; i < c->npatterns; i++) {
        /* a pattern with a '/' is matched against the whole path, else the name */
        const char *p = c->patterns[i];
        if (fnmatch(p, strchr(p, '/') ? path : n->name, 0) == 0)
            return true;
    }
    return false;
}

static void header(const find_ctx *c)
{
    char hex[65], tb[32];
    time_t t = (time_t)c->snap->time_sec;
    struct tm tm;

    cs_id_hex(&c->snap->id, hex);
    localtime_r(&t, &tm);
    strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S", &tm);
    printf("Found matching entries in snapshot %.8s from %s\n", hex, tb);
}

static int report(find_ctx *c, const char *path, const cs_node *n)
{
    static const char type_char[] = "?-dlpscb";
    char tb[32];
    time_t t = (time_t)n->mtime_s;
    struct tm tm;

    if (c->matches) {
        json_object *o = json_object_new_object();
        int r = o ? cs_json_add_name(o, "path", path) : -ENOMEM;

        if (r < 0) {
            json_object_put(o);
            return r;
        }
        repo_cli_node_json(o, n);
        cli_json_push(c->matches, o);
        return 0;
    }
    if (c->hits == 0)
        header(c);
    localtime_r(&t, &tm);
    strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S", &tm);
    printf("  %c%04o %-8s %-8s %12llu %s ", type_char[n->type < 8 ? n->type : 0], n->mode & 07777,
           n->user[0] ? n->user : "?", n->group[0] ? n->group : "?", (unsigned long long)n->size, tb);
    repo_cli_print_path(stdout, path);
    putchar('\n');
    return 0;
}

static int find_tree(find_ctx *c, const cs_id *id, const char *prefix, int depth)
{
    const cs_tree *t;
    cs_bref *ref;
    int rc;

    if (depth > 4096)
        return -ELOOP;
    if ((rc = cs_browse_tree(c->b, id, &ref, &t)) < 0) {
        char hex[65];
        cs_id_hex(id, hex);
        return log_error_errno(rc, "%s: cannot read tree blob %s", prefix[0] ? prefix : "/", hex);
    }
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const cs_node *n = &t->nodes[i];
        char *p = NULL;
        if (asprintf(&p, "%s/%s", prefix, n->name) < 0) {
            rc = -ENOMEM;
            break;
        }
        if (matches(c, p, n)) {
            rc = report(c, p, n);
            c->hits++;
        }
        if (rc == 0 && n->type == CS_NODE_DIR)
            rc = find_tree(c, &n->subtree, p, depth + 1);
        free(p);
    }
    cs_browse_put(c->b, ref);
    return rc;
}

static int find_snapshot(find_ctx *c, const cs_snapshot *s, json_object *out)
{
    int rc;

    c->snap = s;
    c->hits = 0;
    c->matches = out ? json_object_new_array() : NULL;
    rc = find_tree(c, &s->tree, "", 0);
    if (out && c->hits) {
        json_object *o = json_object_new_object();
        char hex[65];
        cs_id_hex(&s->id, hex);
        cli_json_add(o, "snapshot", json_object_new_string(hex));
        cli_json_add(o, "short_id", json_object_new_string_len(hex, 8));
        cli_json_add(o, "time", json_object_new_int64(s->time_sec));
        cli_json_add(o, "hits", json_object_new_uint64(c->hits));
        cli_json_add(o, "matches", CS_TAKE_PTR(c->matches));
        cli_json_push(out, o);
    } else if (!out && c->hits) {
        putchar('\n');
    }
    json_object_put(c->matches);
    c->matches = NULL;
    return rc;
}

/* "YYYY-MM-DD[ HH:MM[:SS]]" in local time. */
static int parse_time(const char *s, int64_t *out)
{
    static const char *const fmts[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d" };

    for (size_t i = 0; i < CS_ARRAY_SIZE(fmts); i++) {
        struct tm tm = { 0 };
        const char *end = strptime(s, fmts[i], &tm);
        if (end && *end == '\0') {
            tm.tm_isdst = -1;
            *out = (int64_t)mktime(&tm);
            return 0;
        }
    }
    log_error("'%s' is not a time: give YYYY-MM-DD, 'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD HH:MM:SS'", s);
    return -EINVAL;
}

/* Keep in v only the snapshots named by specs (ids or prefixes, "latest"). */
static int select_specs(repo_cli *rc, char **specs, int nspecs, cs_snapshot *v, size_t *n)
{
    cs_id want[FIND_MAX_SPECS];
    size_t k = 0;
    int r;

    for (int i = 0; i < nspecs; i++) {
        cs_snapshot s = { 0 };
        if ((r = repo_cli_snapshot(rc, specs[i], &s)) != CLI_OK)
            return r;
        want[i] = s.id;
        cs_snapshot_clear(&s);
    }
    for (size_t i = 0; i < *n; i++) {
        bool keep = false;
        for (int j = 0; j < nspecs && !keep; j++)
            keep = memcmp(want[j].b, v[i].id.b, CS_ID_LEN) == 0;
        if (keep)
            v[k++] = v[i];
        else
            cs_snapshot_clear(&v[i]);
    }
    *n = k;
    return CLI_OK;
}

int cmd_find(int argc, char **argv)
{
    static const struct option opts[] = {
        { "snapshot", required_argument, NULL, 's' }, { "oldest", required_argument, NULL, 'O' },
        { "newest", required_argument, NULL, 'N' }, REPO_CLI_FILTER_OPTIONS, {}
    };
    char *specs[FIND_MAX_SPECS];
    int nspecs = 0, o, r;
    find_ctx c = { 0 };
    cs_snapshot *v = NULL;
    size_t n = 0;
    json_object *out = NULL;
    repo_cli rc;

    while ((o = repo_cli_getopt(argc, argv, "s:O:N:", opts)) != -1) {
        switch (o) {
        case 's':
            if (nspecs == FIND_MAX_SPECS) {
                log_error("at most %d --snapshot options", FIND_MAX_SPECS);
                return CLI_USAGE;
            }
            specs[nspecs++] = optarg;
            break;
        case 'O':
            if (parse_time(optarg, &c.oldest) < 0)
                return CLI_USAGE;
            c.has_oldest = true;
            break;
        case 'N':
            if (parse_time(optarg, &c.newest) < 0)
                return CLI_USAGE;
            c.has_newest = true;
            break;
        default: return cli_opt_exit(o);
        }
    }
    c.patterns = argv + optind;
    c.npatterns = argc - optind;
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    if ((r = repo_cli_exit(cs_snapshot_list(rc.repo, &v, &n, NULL))) != CLI_OK) {
        log_error("cannot list the snapshots");
        goto out;
    }
    repo_cli_filter_list(v, &n);
    if (nspecs && (r = select_specs(&rc, specs, nspecs, v, &n)) != CLI_OK)
        goto out;
    if ((r = repo_cli_exit(cs_browse_new(rc.repo, 0, 0, &c.b))) != CLI_OK)
        goto out;
    if (cli.json)
        out = json_object_new_array();
    for (size_t i = 0; i < n && r == CLI_OK; i++)
        r = repo_cli_exit(find_snapshot(&c, &v[i], out));
    if (cli.json) { /* what was found before a failure, too */
        int p = cli_print_json(CS_TAKE_PTR(out), JSON_C_TO_STRING_PRETTY);
        r = r == CLI_OK ? p : r;
    }
    {
        cs_browse_stats st;
        cs_browse_stats_get(c.b, &st);
        log_debug("find: %llu trees read, %llu from the cache", (unsigned long long)st.tree_loads,
                  (unsigned long long)st.tree_hits);
    }
out:
    json_object_put(out);
    cs_browse_free(c.b);
    cs_snapshots_free(v, n);
    repo_cli_close(&rc);
    return r;
}
