/* SPDX-License-Identifier: MIT */
/* A growable vector of owned strings, always NULL-terminated, so that
 * lists of paths, tags and names stop being hand-grown arrays that each
 * forget a different failure. */
#ifndef CS_UTIL_STRV_H
#define CS_UTIL_STRV_H

#include <stddef.h>

typedef struct cs_strv {
    char **v;  /* NULL or n strings and a NULL */
    size_t n;
    size_t cap;
} cs_strv;

#define CS_STRV_INIT { NULL, 0, 0 }

/* Append s, taking ownership: on -ENOMEM s is freed.  A NULL s (a failed
 * strdup() in the argument) is -ENOMEM, so `cs_strv_push(&v, strdup(x))`
 * checks both allocations. */
int cs_strv_push(cs_strv *sv, char *s);
/* Append a copy of s. */
int cs_strv_add(cs_strv *sv, const char *s);
static inline size_t cs_strv_length(const cs_strv *sv) { return sv->n; }
/* Frees every string and the vector; leaves an empty one. */
void cs_strv_free(cs_strv *sv);

static inline void cs_strv_freep(cs_strv *sv) { cs_strv_free(sv); }
#define _cleanup_strv_ __attribute__((cleanup(cs_strv_freep)))

#endif
