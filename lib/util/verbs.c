/* SPDX-License-Identifier: MIT */
/* The verb dispatcher and option layer (verbs.h). */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include "util/macros.h"
#include "util/verbs.h"

static const cs_verb *running;
static char path[256]; /* "cloudseal admin show": the program, then each verb */

const cs_verb *cs_verb_running(void)
{
    return running;
}

const char *cs_verb_path(void)
{
    return path;
}

const cs_verb *cs_verb_find(const cs_verb *verbs, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

void cs_verb_enter(const cs_verb *v)
{
    running = v;
    snprintf(path, sizeof(path), "%s", v->name);
}

int cs_verb_dispatch(const cs_verb *verbs, size_t n, int argc, char **argv, int *exit_code)
{
    const cs_verb *v = optind < argc ? cs_verb_find(verbs, n, argv[optind]) : NULL;
    const cs_verb *outer = running;
    size_t len;

    if (!v)
        return -ENOENT;
    if (!outer) { /* the outermost table: argv[0] is the program */
        const char *slash = strrchr(argv[0], '/');

        snprintf(path, sizeof(path), "%s", slash ? slash + 1 : argv[0]);
    }
    len = strlen(path);
    snprintf(path + len, sizeof(path) - len, " %s", v->name);
    argv += optind;
    argc -= optind;
    optind = 0; /* a full reset: the verb parses its own options */
    running = v;
    *exit_code = v->fn(argc, argv);
    running = outer;
    path[len] = '\0';
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

/* own, then shared, then --help, in all (room for n entries: a verb with
 * more options is a bug, caught here rather than losing one) */
static void merge(struct option *all, size_t n, const struct option *own, const struct option *shared)
{
    size_t k = 0;

    for (; own && own->name; own++) {
        assert(k < n - 2);
        all[k++] = *own;
    }
    for (; shared && shared->name; shared++) {
        assert(k < n - 2);
        all[k++] = *shared;
    }
    all[k++] = (struct option){ "help", no_argument, NULL, 'h' };
    all[k] = (struct option){ 0 };
}

/* The operands are where getopt moved them: argv[optind..argc-1]. */
static int check_operands(const cs_verb *v, int argc, char **argv)
{
    int r = cs_verb_operands_ok(v, argc - optind);

    if (r == -E2BIG)
        fprintf(stderr, "%s: unexpected operand '%s'\n", path, argv[optind + v->max_args]);
    else if (r < 0)
        fprintf(stderr, "%s: missing operand (wants %s%d)\n", path,
                v->max_args == v->min_args ? "" : "at least ", v->min_args);
    return r;
}

int cs_verb_getopt(int argc, char **argv, const char *shortopts, const struct option *own,
                   const struct option *shared)
{
    const cs_verb *v = running;
    struct option all[64];
    char shorts[64], *argv0 = argv[0];
    int c;

    assert(v); /* inside cs_verb_dispatch() or after cs_verb_enter() */
    assert(strlen(shortopts) < sizeof(shorts) - 1);
    snprintf(shorts, sizeof(shorts), "%s%s", shortopts, strchr(shortopts, 'h') ? "" : "h");
    merge(all, CS_ARRAY_SIZE(all), own, shared);
    argv[0] = path; /* getopt's messages name argv[0]: say the whole command */
    c = getopt_long(argc, argv, shorts, all, NULL);
    argv[0] = argv0;
    if (c == 'h') {
        fputs(v->usage ? v->usage : v->summary, stdout);
        return CS_VERB_HELP;
    }
    if (c == -1 && check_operands(v, argc, argv) < 0)
        c = '?';
    if (c == '?' || c == ':') {
        fprintf(stderr, "Try '%s --help'.\n", path);
        return '?';
    }
    return c;
}

void cs_verbs_print(FILE *f, const cs_verb *verbs, size_t n, int width)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-*s %s\n", width, verbs[i].name, verbs[i].summary);
}
