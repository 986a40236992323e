/* SPDX-License-Identifier: MIT */
/* A verb with sub-verbs of its own (archive, agent, keybag, repair): its
 * options before the sub-verb, --help with the list of sub-verbs, then the
 * sub-verb's table (util/verbs.h), so that --help, an unknown sub-verb and
 * the operand count answer as every verb's do. */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "cli_opts.h"
#include "util/verbs.h"

int cli_sub_dispatch(const cs_verb *verbs, size_t n, int argc, char **argv, const char *dflt)
{
    char *only[] = { argv[0], (char *)dflt, NULL };
    int c, r, ex;

    /* '+': stop at the sub-verb, whose options are its own; -j: --json */
    while ((c = cli_getopt(argc, argv, "+j", NULL)) != -1) {
        if (c == 'j') {
            cli.json = true;
            continue;
        }
        if (c == CLI_OPT_HELP) {
            printf("\nCommands:\n");
            cs_verbs_print(stdout, verbs, n, 14);
            printf("\nRun '%s COMMAND --help' for its options.\n", cs_verb_path());
        }
        return cli_opt_exit(c);
    }
    if (optind >= argc && dflt) {
        argc = 2;
        argv = only;
        optind = 1;
    }
    r = cs_verb_dispatch(verbs, n, argc, argv, &ex);
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
