/* SPDX-License-Identifier: MIT */
/* String vectors (strv.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/strv.h"

int cs_strv_push(cs_strv *sv, char *s)
{
    if (!s)
        return -ENOMEM;
    if (CS_GREEDY_REALLOC(sv->v, sv->cap, sv->n + 2) < 0) {
        free(s);
        return -ENOMEM;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
    return 0;
}

int cs_strv_add(cs_strv *sv, const char *s)
{
    return cs_strv_push(sv, strdup(s));
}

void cs_strv_free(cs_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    *sv = (cs_strv)CS_STRV_INIT;
}
