/* SPDX-License-Identifier: MIT */
/* The options many verbs share, handled in one place: --json and
 * --password-stdin (as the verb's flags in commands.def allow) on top of
 * cs_verb_getopt() (util/verbs.h), which does --help (the verb's usage in
 * commands.def), the operand count and the usage errors. */
#ifndef CS_CLI_CLI_OPTS_H
#define CS_CLI_CLI_OPTS_H

#include <getopt.h>
#include <stdio.h>
#include "util/verbs.h"

/* commands.def flags */
#define CLI_VERB_JSON           0x100u /* --json sets cli.json */
#define CLI_VERB_PASSWORD_STDIN 0x200u /* --password-stdin: one line from stdin */

/* cli_getopt() after --help (the usage is printed on stdout) */
#define CLI_OPT_HELP CS_VERB_HELP

/* getopt_long() over the verb's own options (own, shortopts) and the
 * shared ones.  Returns the next own option, -1 at the end, CLI_OPT_HELP,
 * or '?' for a bad command line, including a number of operands outside
 * the verb's min_args..max_args (said on stderr, with "Try ... --help"). */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *own);

/* The running verb's usage text (commands.def). */
void cli_usage(FILE *f);

/* The exit code for what cli_getopt() returned and the verb did not take:
 * CLI_OK after --help, CLI_USAGE else. */
int cli_opt_exit(int c);

/* For a verb with sub-verbs (argv[0] is the verb): its options before the
 * sub-verb (the shared ones, -j for --json), --help followed by the list of
 * verbs, then the sub-verb argv[optind] names (dflt when none is given and
 * dflt is not NULL) run from verbs.  Returns its exit code, or CLI_USAGE
 * for a bad command line or no or an unknown sub-verb (said on stderr). */
int cli_sub_dispatch(const cs_verb *verbs, size_t n, int argc, char **argv, const char *dflt);

/* The same for a verb with options of its own before the sub-verb (admin
 * --source, the storage options) or more to say in its --help. */
typedef struct cli_sub {
    const cs_verb *verbs;
    size_t n;
    const char *dflt;              /* the sub-verb when none is given, or NULL */
    const char *shortopts;         /* the verb's own, starting with '+'; NULL: "+j" */
    const struct option *opts;     /* their long forms, or NULL */
    int (*opt)(int c, const char *arg); /* takes one: 0, or the exit code */
    const char *footer;            /* --help: after the list of sub-verbs */
} cli_sub;
int cli_sub_run(const cli_sub *t, int argc, char **argv);

#endif
