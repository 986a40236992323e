/* SPDX-License-Identifier: MIT */
/* The verb dispatcher (verbs.h). */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include "util/verbs.h"

static const cs_verb *running;

const cs_verb *cs_verb_running(void)
{
    return running;
}

const cs_verb *cs_verb_find(const cs_verb *verbs, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

int cs_verb_dispatch(const cs_verb *verbs, size_t n, int argc, char **argv, int *exit_code)
{
    const cs_verb *v = optind < argc ? cs_verb_find(verbs, n, argv[optind]) : NULL;

    if (!v)
        return -ENOENT;
    argv += optind;
    argc -= optind;
    optind = 0; /* a full reset: the verb parses its own options */
    running = v;
    *exit_code = v->fn(argc, argv);
    return 0;
}

int cs_verb_operands_ok(const cs_verb *v, int n)
{
    if (v->max_args != CS_VERB_ANY && n > v->max_args)
        return -E2BIG;
    if (v->min_args != CS_VERB_ANY && n < v->min_args)
        return -EINVAL;
    return 0;
}

void cs_verbs_print(FILE *f, const cs_verb *verbs, size_t n, int width)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-*s %s\n", width, verbs[i].name, verbs[i].summary);
}
