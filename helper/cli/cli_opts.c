/* SPDX-License-Identifier: MIT */
/* Shared verb options (cli_opts.h). */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "util/macros.h"
#include "util/verbs.h"

enum { OPT_JSON = 0x7f00, OPT_PASSWORD_STDIN };

void cli_usage(FILE *f)
{
    const cs_verb *v = cs_verb_running();

    if (v && v->usage) /* every verb calling this has one in commands.def */
        fputs(v->usage, f);
}

/* own + the shared options the verb allows, built once per table */
static const struct option *with_shared(const cs_verb *v, const struct option *own)
{
    static struct option all[64];
    static const struct option *built_for;
    static const cs_verb *built_verb;
    size_t n = 0;

    if (built_verb == v && built_for == own)
        return all;
    for (; own && own[n].name && n < CS_ARRAY_SIZE(all) - 4; n++)
        all[n] = own[n];
    if (v->flags & CLI_VERB_JSON)
        all[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
    if (v->flags & CLI_VERB_PASSWORD_STDIN)
        all[n++] = (struct option){ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN };
    all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    all[n] = (struct option){ 0 };
    built_for = own;
    built_verb = v;
    return all;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *own)
{
    const cs_verb *v = cs_verb_running();
    char shorts[64];
    int c;

    snprintf(shorts, sizeof(shorts), "%s%s", shortopts, strchr(shortopts, 'h') ? "" : "h");
    for (;;) {
        c = getopt_long(argc, argv, shorts, with_shared(v, own), NULL);
        if (c == OPT_JSON)
            cli.json = true;
        else if (c == OPT_PASSWORD_STDIN)
            cli_password_stdin = true;
        else
            break;
    }
    if (c == -1 && cs_verb_operands_ok(v, argc - optind) < 0)
        c = '?'; /* operands are where getopt moved them: argv[optind..] */
    if (c == 'h' || c == '?' || c == ':') {
        cli_usage(c == 'h' ? stdout : stderr);
        return c == 'h' ? CLI_OPT_HELP : '?';
    }
    return c;
}


int cli_opt_exit(int c)
{
    return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
}
