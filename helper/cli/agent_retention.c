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
#include "cli_json.h"
#include "repo_cli.h"
#include "util/log.h"

/* Only this machine's snapshots: another workstation of the same user keeps
 * its own history under its own agent. */
static bool is_mine(const cs_snapshot *s, void *ud)
{
    const char *host = ud;

    return s->host && strcmp(s->host, host) == 0;
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
        cli_print_json(o, JSON_C_TO_STRING_PLAIN);
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
    if (cli.json) {
        json_object *j = json_object_new_object(), *p = json_object_new_object();

        json_object_object_add(p, "bytes_freed", json_object_new_uint64(pr.bytes_freed));
        json_object_object_add(p, "packs_deleted", json_object_new_uint64(pr.packs_deleted));
        json_object_object_add(p, "bytes_repacked", json_object_new_uint64(pr.bytes_repacked));
        json_object_object_add(p, "bytes_repack_left", json_object_new_uint64(pr.bytes_repack_left));
        json_object_object_add(j, "prune", p);
        cli_print_json(j, JSON_C_TO_STRING_PLAIN);
    }
    if (!cli.json && !cli.quiet) {
        printf("prune: %s freed\n", repo_cli_size(pr.bytes_freed, a));
        repo_cli_prune_left(&pr);
    }
    return 0;
}

int agent_retention(bool with_prune, bool dry)
{
    char host[256] = "";
    /* The policy applies to each set of backed-up paths on its own, as
     * 'forget' groups by host and paths: backups of a changed or mistyped
     * path never push out the history of the paths backed up before. */
    cs_retention_run run = { .group_by = CS_GROUP_HOST | CS_GROUP_PATHS, .dry = dry, .select = is_mine,
                             .ud = host };
    cs_retention_plan pl;
    repo_cli rc;
    int r, e;

    if (cs_retention_policy_load(cli_config(), &run.policy) < 0)
        return CLI_USAGE;
    (void)gethostname(host, sizeof(host) - 1);
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_retention_apply(rc.repo, &run, &pl);
    if (e == 0)
        report(&pl, pl.kept + pl.removed, dry);
    if (e == 0 && with_prune && !dry)
        e = prune(&rc);
    if (e < 0 && e != -EBUSY && e != -EBADMSG)
        log_error_errno(e, "retention failed");
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}
