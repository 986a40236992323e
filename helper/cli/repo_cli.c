/* SPDX-License-Identifier: MIT */
/* See repo_cli.h. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "repo_cli.h"
#include "account/credentials.h"
#include "storage/storage_s3.h"
#include "unlock_common.h"
#include "util/log.h"
#include "util/macros.h"

bool repo_cli_no_object_cache;

int repo_cli_exit(int r)
{
    switch (r) {
    case 0: return CLI_OK;
    case -ENOKEY: case -EACCES: return CLI_LOCKED;
    case -ENOENT: return CLI_NOT_FOUND;
    case -EBADMSG: return CLI_DATA_ERROR;
    case -EHOSTUNREACH: case -ETIMEDOUT: case -ECONNRESET: return CLI_UNAVAILABLE;
    case -EINVAL: return CLI_USAGE;
    default: return CLI_FAILED;
    }
}

int repo_cli_open_storage(repo_cli *rc)
{
    bool own;
    int r;

    memset(rc, 0, sizeof(*rc));
    snprintf(rc->prefix, sizeof(rc->prefix), "users/%s/backup/", cli_user());
    r = cli_obtain_amk(&rc->amk);
    if (r < 0)
        return r == -ENOKEY ? (log_error("your keys are locked: run 'cloudseal unlock' or give your password"),
                               CLI_LOCKED)
                            : repo_cli_exit(r);
    r = cs_storage_open_user(cli_config(), cli_user(), rc->amk, &rc->st, &own);
    if (r < 0) {
        char why[1024];
        log_error("cannot open the storage: %s",
                  cs_storage_explain(cs_config_str(cli_config(), "storage", "url"), r, why, sizeof(why)));
        repo_cli_close(rc);
        return r == -EBADMSG ? CLI_DATA_ERROR : CLI_UNAVAILABLE;
    }
    log_debug("storage credentials: %s", own ? "your own (from your keybag)" : "the machine's ([storage])");
    return CLI_OK;
}

int repo_cli_open(repo_cli *rc)
{
    return repo_cli_open_ex(rc, 0);
}

int repo_cli_open_ex(repo_cli *rc, int flags)
{
    int r = repo_cli_open_storage(rc);

    if (r != CLI_OK)
        return r;
    {
        /* check and repair read storage's objects, but keep the config's copy too */
        char *cache = repo_cli_cache_root();
        r = cs_repo_open_ex(rc->st, rc->prefix, rc->amk, cache,
                            flags | (repo_cli_no_object_cache ? CS_REPO_NO_OBJECT_CACHE : 0), &rc->repo);
        free(cache);
    }
    if (r == -EBUSY) {
        /* the lock's holder was named */
    } else if (r == -ENOENT) {
        log_error("there is no backup repository yet: run 'cloudseal init' first");
    } else if (r == -EBADMSG) {
        log_error("the repository configuration does not authenticate with your keys "
                  "(a different account's repository, or tampering)");
    } else if (r < 0) {
        log_error_errno(r, "cannot open the backup repository");
    }
    if (r < 0) {
        repo_cli_close(rc);
        return repo_cli_exit(r);
    }
    return CLI_OK;
}

void repo_cli_close(repo_cli *rc)
{
    cs_repo_close(rc->repo);
    cs_storage_close(rc->st);
    cs_amk_free(rc->amk);
    rc->repo = NULL;
    rc->st = NULL;
    rc->amk = NULL;
}

/* "latest" among the snapshots the filter lets through. */
static int latest_filtered(repo_cli *rc, cs_snapshot *out)
{
    cs_snapshot *v = NULL;
    size_t n = 0;
    int r = cs_snapshot_list(rc->repo, &v, &n, NULL);

    if (r < 0)
        return r;
    repo_cli_filter_list(v, &n);
    if (n == 0) {
        cs_snapshots_free(v, n);
        log_error("no snapshot matches --tag/--host/--path: run 'cloudseal snapshots' to list them");
        return -ECHILD; /* reported */
    }
    *out = v[n - 1];
    memset(&v[n - 1], 0, sizeof(v[n - 1]));
    cs_snapshots_free(v, n);
    return 0;
}

int repo_cli_snapshot(repo_cli *rc, const char *spec, cs_snapshot *out)
{
    int r = strcmp(spec, "latest") == 0 && repo_cli_filter_set() ? latest_filtered(rc, out)
                                                                  : cs_snapshot_find(rc->repo, spec, out);

    if (r == -ECHILD)
        return CLI_NOT_FOUND;
    if (r == -ENOENT)
        log_error("no snapshot '%s': run 'cloudseal snapshots' to list them", spec);
    else if (r == -ENOTUNIQ)
        log_error("'%s' matches several snapshots: give more digits", spec);
    else if (r == -EBADMSG)
        log_error("snapshot '%s' is damaged: nothing in it can be restored; 'cloudseal repair snapshots' "
                  "removes it, 'cloudseal snapshots' lists the others", spec);
    else if (r == -EINVAL)
        log_error("'%s' is not a snapshot id: give 'latest' or at least 4 hex digits", spec);
    else if (r < 0)
        log_error_errno(r, "cannot read the snapshots");
    return r == -ENOTUNIQ ? CLI_USAGE : repo_cli_exit(r);
}

const char *repo_cli_size(uint64_t b, char buf[32])
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)b;
    int i = 0;

    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(buf, 32, i ? "%.1f %s" : "%.0f %s", v, u[i]);
    return buf;
}

void repo_cli_prune_left(const cs_prune_result *res)
{
    char a[32], b[32];

    if (!res->packs_repack_left)
        return;
    printf("repacked %s of %s; the rest next time\n", repo_cli_size(res->bytes_repacked, a),
           repo_cli_size(res->bytes_repacked + res->bytes_repack_left, b));
}

char *repo_cli_expand(const char *p)
{
    char *out = NULL;

    if (p[0] == '~' && (p[1] == '/' || !p[1])) {
        const char *home = getenv("HOME");
        struct passwd *pw;
        if (!home && (pw = getpwuid(getuid())))
            home = pw->pw_dir;
        if (asprintf(&out, "%s%s", home ? home : "", p + 1) < 0)
            return NULL;
        return out;
    }
    return strdup(p);
}

char *repo_cli_cache_root(void)
{
    const char *conf = cs_config_str(cli_config(), "backup", "cache_dir");
    const char *xdg = getenv("XDG_CACHE_HOME");
    char *out = NULL;

    if (conf)
        return repo_cli_expand(conf);
    if (xdg && xdg[0] == '/')
        return asprintf(&out, "%s/cloudseal", xdg) < 0 ? NULL : out;
    return repo_cli_expand("~/.cache/cloudseal");
}

int repo_cli_split(const char *value, cs_strv *v)
{
    _cleanup_free_ char *copy = NULL;
    char *save = NULL;
    int r = 0;

    if (!value)
        return 0;
    if (!(copy = strdup(value)))
        return -ENOMEM;
    for (char *tok = strtok_r(copy, " \t", &save); tok && r == 0; tok = strtok_r(NULL, " \t", &save))
        r = cs_strv_push(v, repo_cli_expand(tok));
    return r;
}

void repo_cli_print_path(FILE *f, const char *p)
{
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '\\')
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}
