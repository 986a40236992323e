/* SPDX-License-Identifier: MIT */
/* cloudseal restore: recreate a snapshot (or part of it) in a directory. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/log.h"

static int overwrite_arg(const char *s)
{
    static const char *const names[] = { "never", "if-changed", "if-newer", "always" };

    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i; /* CS_OVERWRITE_* in this order */
    log_error("--overwrite takes never, if-changed, if-newer or always, not '%s'", s);
    return -EINVAL;
}

static void report(const char *what, const char *path, void *ud)
{
    (void)ud;
    if (strcmp(what, "keep") == 0)
        printf("would keep %s (it differs from the snapshot's)\n", path);
    else
        printf("would %s %s\n", what, path);
}

static void print_result(const cs_restore_opts *o, const cs_restore_result *res)
{
    if (!cli.quiet) {
        printf("%s %llu files, %llu directories, %llu others into %s%s\n", o->dry_run ? "would restore" : "restored",
               (unsigned long long)res->files, (unsigned long long)res->dirs, (unsigned long long)res->others,
               o->target, res->errors ? " (with errors: see above)" : "");
        if (res->unchanged)
            printf("%llu file(s) already as in the snapshot\n", (unsigned long long)res->unchanged);
        if (res->deleted)
            printf("%s %llu item(s) the snapshot does not have\n", o->dry_run ? "would delete" : "deleted",
                   (unsigned long long)res->deleted);
    }
    if (res->kept && o->dry_run && !cli.quiet)
        printf("%llu existing file(s) differ from the snapshot and would be kept (--overwrite replaces them)\n",
               (unsigned long long)res->kept);
    else if (res->kept)
        log_warning("%llu existing file(s) differ from the snapshot and were left as they are: "
                    "list them with --dry-run, replace them with --overwrite if-changed (or if-newer, always)",
                    (unsigned long long)res->kept);
}

int cmd_restore(int argc, char **argv)
{
    static const struct option opts[] = {
        { "target", required_argument, NULL, 't' }, { "include", required_argument, NULL, 'i' },
        { "overwrite", required_argument, NULL, 'o' }, { "delete", no_argument, NULL, 'D' },
        { "dry-run", no_argument, NULL, 'n' }, REPO_CLI_FILTER_OPTIONS, {}
    };
    const char *incl[256];
    size_t ni = 0;
    cs_restore_opts o = { .report = NULL };
    cs_restore_result res = { 0 };
    cs_snapshot s = { 0 };
    char *spec = NULL, *colon;
    repo_cli rc;
    int c, r;

    while ((c = repo_cli_getopt(argc, argv, "t:i:n", opts)) != -1) {
        switch (c) {
        case 't': o.target = optarg; break;
        case 'i':
            if (ni < 256)
                incl[ni++] = optarg;
            break;
        case 'o':
            if ((o.overwrite = overwrite_arg(optarg)) < 0)
                return CLI_USAGE;
            break;
        case 'D': o.delete_extra = true; break;
        case 'n': o.dry_run = true; o.report = report; break;
        default: return cli_opt_exit(c);
        }
    }
    if (!o.target) {
        log_error("give --target DIR; see 'cloudseal restore --help'");
        return CLI_USAGE;
    }
    if (o.delete_extra && ni) {
        log_error("--delete mirrors a whole directory: give SNAPSHOT:PATH instead of --include");
        return CLI_USAGE;
    }
    spec = strdup(argv[optind]);
    if (!spec)
        return CLI_FAILED;
    colon = strchr(spec, ':');
    if (colon)
        *colon++ = '\0';
    if ((r = repo_cli_open(&rc)) != CLI_OK) {
        free(spec);
        return r;
    }
    if ((r = repo_cli_snapshot(&rc, spec, &s)) == CLI_OK) {
        int e;
        o.subpath = colon && *colon ? colon : NULL;
        o.includes = incl;
        o.nincludes = ni;
        e = cs_restore(rc.repo, &s, &o, &res);
        print_result(&o, &res);
        if (e == -EBADMSG)
            log_error("%llu item(s) were NOT restored because the repository data they need is damaged "
                      "or missing; run 'cloudseal check --read-data' for details",
                      (unsigned long long)res.damaged);
        r = e < 0 ? repo_cli_exit(e) : res.errors ? CLI_FAILED : res.unmatched ? CLI_NOT_FOUND : CLI_OK;
    }
    cs_snapshot_clear(&s);
    repo_cli_close(&rc);
    free(spec);
    return r;
}
