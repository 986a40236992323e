/* SPDX-License-Identifier: MIT */
/* One verb dispatcher and one option layer (like systemd's
 * src/shared/verbs.c) for `cloudseal`, `cloudseal-helper`, the agent and
 * the sub-verbs of `cloudseal admin` and `cloudseal storage`: a table of
 * verbs, the lookup, the command list of --help, and the getopt loop that
 * handles --help, the operand count and the shape of a usage error once,
 * so that no tool grows its own.  The tables are generated from
 * commands.def files. */
#ifndef CS_UTIL_VERBS_H
#define CS_UTIL_VERBS_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#define CS_VERB_ANY (-1)

typedef struct cs_verb {
    const char *name;
    /* operands after the verb and its options, checked by cs_verb_getopt()
     * at the end of the options; CS_VERB_ANY: no bound */
    int min_args, max_args;
    unsigned flags;                   /* the tool's own (cli_opts.h) */
    int (*fn)(int argc, char **argv); /* argv[0] is the verb, getopt reset */
    const char *summary;              /* one line, for the tool's --help */
    const char *usage;                /* the verb's --help, "Usage: ..." */
} cs_verb;

/* The verb called name, or NULL. */
const cs_verb *cs_verb_find(const cs_verb *verbs, size_t n, const char *name);

/* Run the verb argv[optind] names with argv shifted to start at it and
 * getopt reset.  Returns 0 with the verb's exit code in *exit_code, or
 * -ENOENT for no verb given or an unknown one: the caller says so with its
 * own exit code.  A verb may dispatch again to a table of its own. */
int cs_verb_dispatch(const cs_verb *verbs, size_t n, int argc, char **argv, int *exit_code);

/* A program without verbs (the agent) parses its options as the verb v,
 * whose name is the program's. */
void cs_verb_enter(const cs_verb *v);

/* The verb cs_verb_dispatch() is running (the innermost), or NULL. */
const cs_verb *cs_verb_running(void);

/* What the user typed to name the running verb: "cloudseal admin show". */
const char *cs_verb_path(void);

/* Whether n operands suit v: 0, -E2BIG (too many) or -EINVAL (too few). */
int cs_verb_operands_ok(const cs_verb *v, int n);

/* cs_verb_getopt() after --help: the verb's usage is on stdout. */
#define CS_VERB_HELP (-2)

/* getopt_long() for the running verb over its own options (shortopts, own,
 * NULL-able), the tool's shared ones (shared, NULL-able) and -h/--help.
 * Returns the next own or shared option's val; -1 at the end, when the
 * operands suit the verb's min_args..max_args; CS_VERB_HELP; or '?' for a
 * bad command line, after "PATH: what is wrong" and "Try 'PATH --help'."
 * on stderr.  A shortopts starting with '+' stops at the first operand. */
int cs_verb_getopt(int argc, char **argv, const char *shortopts, const struct option *own,
                   const struct option *shared);

/* "  NAME  summary" lines of --help, names padded to width. */
void cs_verbs_print(FILE *f, const cs_verb *verbs, size_t n, int width);

#endif
