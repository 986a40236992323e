/* SPDX-License-Identifier: MIT */
/* cloudseal restore: recreate a snapshot (or part of it) in a directory. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/log.h"

int cmd_restore(int argc, char **argv)
{
    static const struct option opts[] = {
        { "target", required_argument, NULL, 't' }, { "include", required_argument, NULL, 'i' },
        { "password-stdin", no_argument, NULL, 'p' }, { "help", no_argument, NULL, 'h' }, {}
    };
    const char *target = NULL, *incl[256];
    size_t ni = 0;
    cs_restore_opts o = { 0 };
    cs_restore_result res = { 0 };
    cs_snapshot s = { 0 };
    char *spec = NULL, *colon;
    repo_cli rc;
    int c, r;

    while ((c = getopt_long(argc, argv, "t:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': target = optarg; break;
        case 'i':
            if (ni < 256)
                incl[ni++] = optarg;
            break;
        case 'p': cli_password_stdin = true; break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "Usage: cloudseal restore SNAPSHOT[:PATH] --target DIR [--include PATTERN]...\n\n"
                    "Restore SNAPSHOT ('latest' or an id) into DIR; with :PATH only that part, its\n"
                    "contents placed in DIR.  --include restores only paths (as shown by 'cloudseal ls')\n"
                    "matching a shell pattern, or below a matching directory.  Damaged data is never\n"
                    "written: the files that need it are reported and skipped, the rest is restored.\n");
            return c == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if (optind + 1 != argc || !target) {
        log_error("give one snapshot and --target DIR; see 'cloudseal restore --help'");
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
        o.target = target;
        o.subpath = colon && *colon ? colon : NULL;
        o.includes = incl;
        o.nincludes = ni;
        e = cs_restore(rc.repo, &s, &o, &res);
        if (!cli.quiet)
            printf("restored %llu files, %llu directories, %llu others into %s%s\n",
                   (unsigned long long)res.files, (unsigned long long)res.dirs, (unsigned long long)res.others,
                   target, res.errors ? " (with errors: see above)" : "");
        if (e == -EBADMSG)
            log_error("%llu item(s) were NOT restored because the repository data they need is damaged "
                      "or missing; run 'cloudseal check --read-data' for details",
                      (unsigned long long)res.damaged);
        r = e < 0 ? repo_cli_exit(e) : res.errors ? CLI_FAILED : CLI_OK;
    }
    cs_snapshot_clear(&s);
    repo_cli_close(&rc);
    free(spec);
    return r;
}
