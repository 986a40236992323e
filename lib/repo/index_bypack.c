/* SPDX-License-Identifier: MIT */
/* The index's located entries grouped by pack, for the maintenance passes
 * that work pack by pack (prune's kept-pack index, check --read-data,
 * repair's salvage).  Filtering the whole index once per pack made those
 * O(packs x blobs): 250 M entry visits for a million blobs in 250 packs.
 * One counting sort by pack number (two passes over the entries) builds
 * every pack's list at once; it is stable, so a pack's entries keep claim
 * order, the order the per-pack filter gave (and the index objects and
 * messages written from them keep). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"

unsigned long cs_index_bypack_builds;

int cs_index_bypack_build(const cs_index *ix, cs_index_bypack *out)
{
    size_t np = ix->npacks;

    memset(out, 0, sizeof(*out));
    out->start = calloc(np + 2, sizeof(*out->start));
    out->entry = malloc((ix->count ? ix->count : 1) * sizeof(*out->entry));
    if (!out->start || !out->entry) {
        cs_index_bypack_free(out);
        return -ENOMEM;
    }
    out->npacks = np;
    /* start[p + 2] counts pack p; after the prefix sum start[p + 1] is
     * where pack p's run begins, and the fill moves it to its end */
    for (size_t i = 0; i < ix->count; i++) {
        uint32_t p = cs_index_at(ix, i)->pack;
        if (p < np) /* pending (being rewritten), or a pack added since: in no run */
            out->start[p + 2]++;
    }
    for (size_t p = 2; p < np + 2; p++)
        out->start[p] += out->start[p - 1];
    for (size_t i = 0; i < ix->count; i++) {
        uint32_t p = cs_index_at(ix, i)->pack;
        if (p < np)
            out->entry[out->start[p + 1]++] = (uint32_t)i;
    }
    __atomic_fetch_add(&cs_index_bypack_builds, 1, __ATOMIC_RELAXED); /* prunes of two repositories at once */
    return 0;
}

void cs_index_bypack_free(cs_index_bypack *b)
{
    free(b->start);
    free(b->entry);
    memset(b, 0, sizeof(*b));
}

int cs_index_pack_view(const cs_index *ix, const cs_index_bypack *b, uint32_t p, cs_index_pack_blobs *out)
{
    size_t n = cs_index_bypack_count(b, p);

    out->pack_id = ix->packs[p].id;
    out->size = ix->packs[p].size;
    out->n = (uint32_t)n;
    out->blobs = calloc(n ? n : 1, sizeof(cs_pack_blob));
    if (!out->blobs)
        return -ENOMEM;
    for (size_t k = 0; k < n; k++) {
        const cs_ientry *e = cs_index_bypack_at(ix, b, p, k);
        out->blobs[k] = (cs_pack_blob){ e->type, e->id, e->offset, e->enc_len, e->raw_len };
    }
    return 0;
}
