/* SPDX-License-Identifier: MIT */
/* cloudseal init: create the invoking user's backup repository. */
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

/* init is idempotent (the agent creates the repository on its first
 * backup): one that exists and opens with this account's key is success. */
static int check_existing(repo_cli *rc, bool existed)
{
    cs_repo *repo = NULL;
    char *cache = repo_cli_cache_root(); /* keeps a verified copy of the config */
    int r = cs_repo_open_ex(rc->st, rc->prefix, rc->amk, cache, CS_REPO_NO_OBJECT_CACHE, &repo);

    free(cache);
    if (r < 0) {
        log_error("a repository exists at %s but does not open with your keys: %s; 'cloudseal check' "
                  "tells more", rc->prefix, strerror(-r));
        return r;
    }
    cs_repo_close(repo);
    if (existed && !cli.quiet)
        printf("the backup repository %s exists already: nothing to do; 'cloudseal snapshots' lists "
               "its snapshots\n", rc->prefix);
    return 0;
}

int cmd_init(int argc, char **argv)
{
    repo_cli rc;
    int c, r;

    if ((c = cli_getopt(argc, argv, "", NULL)) != -1)
        return cli_opt_exit(c);
    if ((r = repo_cli_open_storage(&rc)) != CLI_OK)
        return r;
    r = cs_repo_init(rc.st, rc.prefix, rc.amk);
    if (r == -EEXIST) {
        r = check_existing(&rc, true);
    } else if (r < 0) {
        log_error("cannot create the repository: %s", strerror(-r));
    } else {
        (void)check_existing(&rc, false); /* opening it keeps the config's local copy */
        if (!cli.quiet)
            printf("created the backup repository %s; back up with 'cloudseal backup'\n", rc.prefix);
    }
    repo_cli_close(&rc);
    return repo_cli_exit(r);
}
