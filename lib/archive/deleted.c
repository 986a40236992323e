/* SPDX-License-Identifier: MIT */
/* Recently deleted messages (docs/archive.md section 8): which ones can
 * still be brought back, for `archive deleted` and `archive undelete`. */
#include "archive/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "archive/hlc.h"
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "util/macros.h"

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, CS_ARCH_ID_BYTES);
}

int cs_arch_live_ids_build(const cs_arch_state *st, cs_arch_live_ids *out)
{
    out->n = 0;
    out->ids = malloc((st->ninst ? st->ninst : 1) * sizeof(*out->ids));
    if (!out->ids)
        return -ENOMEM;
    for (size_t i = 0; i < st->ninst; i++)
        if (st->inst[i]->has_add && !st->inst[i]->deleted)
            memcpy(out->ids[out->n++], st->inst[i]->id, CS_ARCH_ID_BYTES);
    qsort(out->ids, out->n, sizeof(*out->ids), cmp_id);
    return 0;
}

void cs_arch_live_ids_free(cs_arch_live_ids *l)
{
    free(l->ids);
    l->ids = NULL;
    l->n = 0;
}

bool cs_arch_within_keep(const cs_arch_inst *in, uint64_t now_ms, uint64_t keep_ms)
{
    return in->deleted && CS_HLC_MS(in->del_w.hlc) + keep_ms >= now_ms;
}

bool cs_arch_restorable(const cs_arch_inst *in, const cs_arch_live_ids *live, uint64_t now_ms, uint64_t keep_ms)
{
    return in->has_add && in->folder && cs_arch_within_keep(in, now_ms, keep_ms) &&
           !bsearch(in->id, live->ids, live->n, sizeof(*live->ids), cmp_id);
}

static int cmp_del(const void *a, const void *b)
{
    const cs_arch_inst *x = *(cs_arch_inst *const *)a, *y = *(cs_arch_inst *const *)b;

    if (x->del_w.hlc != y->del_w.hlc)
        return x->del_w.hlc < y->del_w.hlc ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int list(const cs_arch_state *st, uint64_t keep_sec, uint64_t since_sec, const char *folder,
                int (*cb)(const cs_archive_deleted *d, void *userdata), void *userdata)
{
    uint64_t now = cs_hlc_wall_ms(), since_ms = since_sec * 1000;
    cs_arch_live_ids live = { 0 };
    cs_arch_inst **v = calloc(st->ninst ? st->ninst : 1, sizeof(*v));
    size_t n = 0;
    int r = v ? cs_arch_live_ids_build(st, &live) : -ENOMEM;

    for (size_t i = 0; r == 0 && i < st->ninst; i++) {
        cs_arch_inst *in = st->inst[i];

        if (cs_arch_restorable(in, &live, now, keep_sec * 1000) &&
            (!since_sec || CS_HLC_MS(in->del_w.hlc) + since_ms >= now) && (!folder || strcmp(folder, in->folder) == 0))
            v[n++] = in;
    }
    if (r == 0)
        qsort(v, n, sizeof(*v), cmp_del);
    for (size_t i = 0; r == 0 && i < n; i++) {
        cs_archive_deleted d = { .id = v[i]->key, .folder = v[i]->folder,
                                 .deleted_at = (int64_t)(CS_HLC_MS(v[i]->del_w.hlc) / 1000),
                                 .received = v[i]->mtime, .size = v[i]->ref.size };

        sodium_bin2hex(d.device, sizeof(d.device), st->devs[v[i]->del_w.dev].id, CS_ARCH_DEV_BYTES);
        r = cb(&d, userdata);
    }
    cs_arch_live_ids_free(&live);
    free(v);
    return r;
}

int cs_archive_list_deleted(const char *state_dir, uint64_t keep_sec, uint64_t since_sec, const char *folder,
                            int (*cb)(const cs_archive_deleted *d, void *userdata), void *userdata)
{
    _cleanup_close_ int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cs_arch_state *st = NULL;
    int r;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (faccessat(fd, "state", F_OK, 0) < 0)
        return 0;
    r = cs_arch_load_state(fd, state_dir, &st);
    if (r == 0)
        r = list(st, keep_sec, since_sec, folder, cb, userdata);
    cs_arch_state_free(st);
    return r;
}
