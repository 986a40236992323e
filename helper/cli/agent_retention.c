/* SPDX-License-Identifier: MIT */
/* cloudseal agent retention [--prune] [--dry-run]: apply the [retention]
 * policy to this machine's snapshots (and free their data with --prune).
 * The agent runs it after backups as a job of its own, like every job; it
 * calls the repository library directly, so the policy and its guard
 * (lib/agent/retention.h) are decided in one place. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/retention.h"
#include "cli.h"
#include "repo_cli.h"
#include "util/log.h"

/* Only this machine's snapshots: another workstation of the same user keeps
 * its own history under its own agent. */
static size_t pick_mine(const cs_snapshot *v, size_t n, cs_snapshot *mine, size_t *idx)
{
    char host[256] = "";
    size_t k = 0;

    (void)gethostname(host, sizeof(host) - 1);
    for (size_t i = 0; i < n; i++) {
        if (!v[i].host || strcmp(v[i].host, host) != 0)
            continue;
        mine[k] = v[i]; /* shallow: v owns the strings */
        idx[k++] = i;
    }
    return k;
}

/* The policy applies to each set of backed-up paths on its own, as
 * 'forget' groups by host and paths: backups of a changed or mistyped path
 * never push out the history of the paths backed up before.  The plans are
 * added up; the guard's sizes are those of the group that raised it. */
static int decide_per_group(const cs_snapshot *mine, size_t k, const cs_retention_policy *pol, bool *keep,
                            cs_retention_plan *total)
{
    cs_snapshot *members = calloc(k ? k : 1, sizeof(*members));
    size_t *where = calloc(k ? k : 1, sizeof(*where));
    bool *done = calloc(k ? k : 1, sizeof(*done)), *mkeep = calloc(k ? k : 1, sizeof(*mkeep));
    int r = members && where && done && mkeep ? 0 : -ENOMEM;

    memset(total, 0, sizeof(*total));
    for (size_t i = 0; i < k && r == 0; i++) {
        cs_retention_plan pl;
        size_t m = 0;

        if (done[i])
            continue;
        for (size_t j = i; j < k; j++) {
            if (!done[j] && cs_snapshot_same_group(&mine[i], &mine[j], CS_GROUP_PATHS)) {
                done[j] = true;
                members[m] = mine[j]; /* shallow, oldest first like mine */
                where[m++] = j;
            }
        }
        cs_retention_decide(members, m, pol, mkeep, &pl);
        for (size_t g = 0; g < m; g++)
            keep[where[g]] = mkeep[g];
        total->kept += pl.kept;
        total->removed += pl.removed;
        total->guard_rescued += pl.guard_rescued;
        if (pl.guard && !total->guard) {
            total->guard = true;
            total->newest_bytes = pl.newest_bytes;
            total->full_bytes = pl.full_bytes;
        }
    }
    free(mkeep);
    free(done);
    free(where);
    free(members);
    return r;
}

static void report(const cs_retention_plan *pl, size_t n, bool dry)
{
    char a[32], b[32];

    if (cli.json) {
        json_object *o = json_object_new_object(), *r = json_object_new_object();
        json_object_object_add(r, "snapshots", json_object_new_uint64(n));
        json_object_object_add(r, "kept", json_object_new_uint64(pl->kept));
        json_object_object_add(r, "removed", json_object_new_uint64(dry ? 0 : pl->removed));
        json_object_object_add(r, "guard", json_object_new_boolean(pl->guard));
        json_object_object_add(r, "guard_rescued", json_object_new_uint64(pl->guard_rescued));
        json_object_object_add(r, "newest_bytes", json_object_new_uint64(pl->newest_bytes));
        json_object_object_add(r, "full_bytes", json_object_new_uint64(pl->full_bytes));
        json_object_object_add(o, "retention", r);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else if (!cli.quiet) {
        printf("retention: %zu snapshot(s) of this machine, %zu kept, %zu %s\n", n, pl->kept, pl->removed,
               dry ? "would be removed" : "removed");
    }
    if (pl->guard)
        log_warning("the newest snapshot covers only %s, the largest %s: kept the last full snapshots "
                    "(%zu only for that). Check that everything to back up is there (a disk not mounted? "
                    "a path changed?); if the smaller backups are intended, remove the old ones with "
                    "'cloudseal forget' or set [retention] guard_ratio = 0",
                    repo_cli_size(pl->newest_bytes, a), repo_cli_size(pl->full_bytes, b), pl->guard_rescued);
}

static int prune(repo_cli *rc)
{
    cs_prune_opts o = { .max_repack = (uint64_t)cs_config_int(cli_config(), "retention", "prune_max_repack") };
    cs_prune_result pr;
    char a[32];
    int e = cs_prune(rc->repo, &o, &pr);

    if (e < 0)
        return e;
    if (cli.json)
        printf("{\"prune\":{\"bytes_freed\":%llu,\"packs_deleted\":%llu,\"bytes_repacked\":%llu,"
               "\"bytes_repack_left\":%llu}}\n", (unsigned long long)pr.bytes_freed,
               (unsigned long long)pr.packs_deleted, (unsigned long long)pr.bytes_repacked,
               (unsigned long long)pr.bytes_repack_left);
    if (!cli.json && !cli.quiet) {
        printf("prune: %s freed\n", repo_cli_size(pr.bytes_freed, a));
        repo_cli_prune_left(&pr);
    }
    return 0;
}

int agent_retention(bool with_prune, bool dry)
{
    cs_retention_policy pol;
    cs_retention_plan pl;
    cs_snapshot *v = NULL, *mine = NULL;
    size_t n = 0, k, *idx = NULL;
    bool *keep = NULL;
    repo_cli rc;
    int r, e;

    if (cs_retention_policy_load(cli_config(), &pol) < 0)
        return CLI_USAGE;
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    if (!dry && (e = cs_repo_lock(rc.repo, false)) < 0)
        goto out;
    e = cs_snapshot_list(rc.repo, &v, &n, NULL);
    if (e < 0)
        goto unlock;
    mine = calloc(n ? n : 1, sizeof(*mine));
    idx = calloc(n ? n : 1, sizeof(*idx));
    keep = calloc(n ? n : 1, sizeof(*keep));
    if (!mine || !idx || !keep) {
        e = -ENOMEM;
        goto unlock;
    }
    k = pick_mine(v, n, mine, idx);
    e = decide_per_group(mine, k, &pol, keep, &pl);
    if (e < 0)
        goto unlock;
    for (size_t i = 0; i < k && !dry; i++) {
        if (keep[i])
            continue;
        e = cs_snapshot_delete(rc.repo, &v[idx[i]].id);
        if (e < 0 && e != -ENOENT)
            goto unlock;
        e = 0;
    }
    report(&pl, k, dry);
unlock:
    if (!dry)
        cs_repo_unlock(rc.repo);
    if (e == 0 && with_prune && !dry)
        e = prune(&rc);
out:
    if (e < 0 && e != -EBUSY && e != -EBADMSG)
        log_error("retention failed: %s", strerror(-e));
    free(keep);
    free(idx);
    free(mine);
    cs_snapshots_free(v, n);
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}
