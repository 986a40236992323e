/* SPDX-License-Identifier: MIT */
/* One verb dispatcher (like systemd's src/shared/verbs.c) for `cloudseal`,
 * `cloudseal-helper` and the sub-verbs of `cloudseal admin`: a table of
 * verbs, the lookup, the operand-count check and the command list of
 * --help, so that each tool stops growing its own loop over its own
 * struct.  The tables are generated from commands.def files. */
#ifndef CS_UTIL_VERBS_H
#define CS_UTIL_VERBS_H

#include <stddef.h>
#include <stdio.h>

#define CS_VERB_ANY (-1)

typedef struct cs_verb {
    const char *name;
    /* operands after the verb and its options (cs_verb_operands_ok(), once
     * the verb's getopt is done); CS_VERB_ANY: not checked */
    int min_args, max_args;
    unsigned flags;
    int (*fn)(int argc, char **argv); /* argv[0] is the verb, getopt reset */
    const char *summary;              /* one line, for the tool's --help */
    const char *usage;                /* the verb's --help, or NULL: it prints its own */
} cs_verb;

/* The verb called name, or NULL. */
const cs_verb *cs_verb_find(const cs_verb *verbs, size_t n, const char *name);

/* Run the verb argv[optind] names with argv shifted to start at it and
 * getopt reset.  Returns 0 with the verb's exit code in *exit_code, or
 * -ENOENT for no verb given or an unknown one: the caller says so with its
 * own exit code. */
int cs_verb_dispatch(const cs_verb *verbs, size_t n, int argc, char **argv, int *exit_code);

/* Whether n operands suit v: 0, -E2BIG (too many) or -EINVAL (too few). */
int cs_verb_operands_ok(const cs_verb *v, int n);

/* The verb cs_verb_dispatch() is running (the innermost), or NULL. */
const cs_verb *cs_verb_running(void);

/* "  NAME  summary" lines of --help, names padded to width. */
void cs_verbs_print(FILE *f, const cs_verb *verbs, size_t n, int width);

#endif
