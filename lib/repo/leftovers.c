/* SPDX-License-Identifier: MIT */
/* The leftovers of interrupted writes: on file:// a put killed midway
 * leaves <key>.tmp-<random> (up to a 4-5 MiB pack).  check counts them,
 * prune removes those older than its own exclusive lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "util/alloc.h"
#include "util/log.h"

typedef struct temp_obj {
    char *key;
    uint64_t size;
    int64_t mtime;
} temp_obj;
typedef struct temp_list {
    temp_obj *v;
    size_t n, cap;
} temp_list;

static int temp_cb(const char *key, const cs_object_stat *st, void *ud)
{
    temp_list *t = ud;

    if (CS_GREEDY_REALLOC(t->v, t->cap, t->n + 1) < 0)
        return -ENOMEM;
    if (!(t->v[t->n].key = strdup(key)))
        return -ENOMEM;
    t->v[t->n].size = st->size;
    t->v[t->n++].mtime = st->mtime_sec;
    return 0;
}

int cs_repo_temp_objects(cs_repo *r, int64_t remove_before, uint64_t *count, uint64_t *bytes)
{
    temp_list t = { 0 };
    int rc = cs_storage_list_partial(r->st, r->prefix, temp_cb, &t);

    *count = *bytes = 0;
    for (size_t i = 0; i < t.n; i++) {
        /* a write still going on keeps its file's mtime current */
        if (rc == 0 && remove_before > 0) {
            int d;
            if (t.v[i].mtime >= remove_before)
                goto next;
            d = cs_storage_del(r->st, t.v[i].key);
            if (d < 0 && d != -ENOENT) {
                log_warning_errno(d, "cannot remove the temporary object %s", t.v[i].key);
                goto next;
            }
        }
        (*count)++;
        *bytes += t.v[i].size;
next:
        free(t.v[i].key);
    }
    free(t.v);
    return rc;
}

