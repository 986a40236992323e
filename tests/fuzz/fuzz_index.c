/* SPDX-License-Identifier: MIT */
/* libFuzzer: the index object parser and the merge into the table; then
 * every blob the object lists is found in a pack it names, within the pack,
 * every entry is found at its own address, a lookup never answers with
 * another id's entry, and the table keeps its load limit.  A second merge of the same object adds
 * nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"

typedef struct seen {
    cs_index *ix;
    size_t blobs;
} seen;

static int check_pack(const cs_index_pack_blobs *p, void *ud)
{
    seen *s = ud;

    for (uint32_t j = 0; j < p->n; j++) {
        const cs_ientry *e = cs_index_find(s->ix, &p->blobs[j].id);
        if (!e || e->pack >= s->ix->npacks || (e->type != CS_BLOB_DATA && e->type != CS_BLOB_TREE) ||
            (uint64_t)e->offset + e->enc_len > s->ix->packs[e->pack].size)
            abort();
        s->blobs++;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_index ix;
    seen s;
    size_t count;

    if (cs_index_init(&ix) < 0)
        return 0;
    s = (seen){ &ix, 0 };
    if (cs_index_merge(&ix, data, size) == 0) {
        if (cs_index_parse(data, size, check_pack, &s) != 0 || ix.count > s.blobs ||
            ix.count * 10 > ix.nslots * 6)
            abort();
        for (size_t i = 0; i < ix.count; i++) {
            cs_id near = cs_index_at(&ix, i)->id;
            const cs_ientry *e;
            if (cs_index_find(&ix, &near) != cs_index_at(&ix, i))
                abort();
            near.b[CS_ID_LEN - 1] ^= 0x5a; /* the same probe key: found only if listed too */
            if ((e = cs_index_find(&ix, &near)) && memcmp(e->id.b, near.b, CS_ID_LEN) != 0)
                abort();
        }
        count = ix.count;
        if (cs_index_merge(&ix, data, size) != 0 || ix.count != count)
            abort();
    }
    cs_index_free(&ix);
    return 0;
}
