/* SPDX-License-Identifier: MIT */
/* Shared verb options (cli_opts.h). */
#include <stdio.h>
#include "cli.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "util/verbs.h"

enum { OPT_JSON = 0x7f00, OPT_PASSWORD_STDIN };

void cli_usage(FILE *f)
{
    const cs_verb *v = cs_verb_running();

    if (v && v->usage) /* every verb has one in its commands.def */
        fputs(v->usage, f);
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *own)
{
    const cs_verb *v = cs_verb_running();
    struct option shared[3] = { { 0 } };
    size_t n = 0;
    int c;

    if (v->flags & CLI_VERB_JSON)
        shared[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
    if (v->flags & CLI_VERB_PASSWORD_STDIN)
        shared[n++] = (struct option){ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN };
    for (;;) {
        c = cs_verb_getopt(argc, argv, shortopts, own, shared);
        if (c == OPT_JSON)
            cli.json = true;
        else if (c == OPT_PASSWORD_STDIN)
            cli_password_stdin = true;
        else
            return c;
    }
}

int cli_opt_exit(int c)
{
    return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
}
