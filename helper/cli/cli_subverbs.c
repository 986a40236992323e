/* SPDX-License-Identifier: MIT */
/* A verb with sub-verbs of its own (admin, agent, archive, key, keybag,
 * repair, storage, storage credentials): its options before the sub-verb,
 * --help with the list of sub-verbs, then the sub-verb's table
 * (util/verbs.h), so that --help, an unknown sub-verb and the operand
 * count answer as every verb's do. */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "cli_opts.h"
#include "util/verbs.h"

/* The verb's own options, up to the sub-verb: -1 to go on to it, else
 * the exit code (CLI_OK after --help). */
static int own_options(const cli_sub *t, int argc, char **argv)
{
    /* '+': stop at the sub-verb, whose options are its own */
    const char *shortopts = t->shortopts ? t->shortopts : "+j";
    int c, r;

    while ((c = cli_getopt(argc, argv, shortopts, t->opts)) != -1) {
        if (c == 'j' && !t->opt) { /* -j: --json's short form */
            cli.json = true;
            continue;
        }
        if (c != CLI_OPT_HELP && c != '?' && t->opt) {
            if ((r = t->opt(c, optarg)) != CLI_OK)
                return r;
            continue;
        }
        if (c == CLI_OPT_HELP) {
            printf("\nCommands:\n");
            cs_verbs_print(stdout, t->verbs, t->n, 14);
            printf("\n%s", t->footer ? t->footer : "");
            printf("Run '%s COMMAND --help' for its options.\n", cs_verb_path());
        }
        return cli_opt_exit(c);
    }
    return -1;
}

int cli_sub_run(const cli_sub *t, int argc, char **argv)
{
    char *only[] = { argv[0], (char *)t->dflt, NULL };
    int r, ex;

    if ((r = own_options(t, argc, argv)) >= 0)
        return r;
    if (optind >= argc && t->dflt) {
        argc = 2;
        argv = only;
        optind = 1;
    }
    r = cs_verb_dispatch(t->verbs, t->n, argc, argv, &ex);
    if (r == -ENOENT) {
        if (optind < argc)
            fprintf(stderr, "%s: unknown command '%s'\n", cs_verb_path(), argv[optind]);
        else
            fprintf(stderr, "%s: missing command\n", cs_verb_path());
        fprintf(stderr, "Try '%s --help'.\n", cs_verb_path());
        return CLI_USAGE;
    }
    return ex;
}

int cli_sub_dispatch(const cs_verb *verbs, size_t n, int argc, char **argv, const char *dflt)
{
    const cli_sub t = { .verbs = verbs, .n = n, .dflt = dflt };

    return cli_sub_run(&t, argc, argv);
}
