/* SPDX-License-Identifier: MIT */
/* cloudseal init: create the invoking user's backup repository. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/log.h"

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        { "password-stdin", no_argument, NULL, 'p' }, { "help", no_argument, NULL, 'h' }, {}
    };
    repo_cli rc;
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'p') {
            cli_password_stdin = true;
        } else {
            fprintf(c == 'h' ? stdout : stderr,
                    "Usage: cloudseal init [--password-stdin]\n\n"
                    "Create your encrypted backup repository in the storage of [storage] url,\n"
                    "under users/<you>/backup/.  Keys come from your account (cloudseal enroll).\n");
            return c == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if ((r = repo_cli_open_storage(&rc)) != CLI_OK)
        return r;
    r = cs_repo_init(rc.st, rc.prefix, rc.amk);
    if (r == -EEXIST)
        log_error("a backup repository exists already; 'cloudseal snapshots' lists its snapshots");
    else if (r < 0)
        log_error("cannot create the repository: %s", strerror(-r));
    else if (!cli.quiet)
        printf("created the backup repository %s; back up with 'cloudseal backup'\n", rc.prefix);
    repo_cli_close(&rc);
    return r == -EEXIST ? CLI_FAILED : repo_cli_exit(r);
}
