/* SPDX-License-Identifier: MIT */
/* The in-memory index (blob id -> pack, offset, lengths) and the encoding of
 * index objects.  Open addressing keyed by the id's first 8 bytes: ids are
 * keyed hashes, uniformly spread, and index objects are authenticated, so
 * nobody without the key can craft colliding ids. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "util/alloc.h"

#define INDEX_VERSION 1
#define INDEX_MAX_PACKS (1u << 22)
#define PACK_MAX_BLOBS (1u << 20)

int cs_index_init(cs_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    pthread_mutex_init(&ix->lock, NULL);
    ix->cap = 1024;
    ix->tab = calloc(ix->cap, sizeof(*ix->tab));
    return ix->tab ? 0 : -ENOMEM;
}

void cs_index_free(cs_index *ix)
{
    free(ix->tab);
    free(ix->packs);
    free(ix->pack_slots);
    pthread_mutex_destroy(&ix->lock);
    memset(ix, 0, sizeof(*ix));
}

static inline uint64_t slot_of(const cs_id *id, size_t cap)
{
    uint64_t h;

    memcpy(&h, id->b, 8);
    return h & (cap - 1);
}

/* An empty slot has type 0. */
static cs_ientry *probe(cs_ientry *tab, size_t cap, const cs_id *id)
{
    for (uint64_t i = slot_of(id, cap);; i = (i + 1) & (cap - 1)) {
        if (!tab[i].type || memcmp(tab[i].id.b, id->b, CS_ID_LEN) == 0)
            return &tab[i];
    }
}

static int grow(cs_index *ix)
{
    size_t ncap = ix->cap * 2;
    cs_ientry *nt = calloc(ncap, sizeof(*nt));

    if (!nt)
        return -ENOMEM;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->tab[i].type)
            *probe(nt, ncap, &ix->tab[i].id) = ix->tab[i];
    free(ix->tab);
    ix->tab = nt;
    ix->cap = ncap;
    return 0;
}

cs_ientry *cs_index_find(cs_index *ix, const cs_id *id)
{
    cs_ientry *e = probe(ix->tab, ix->cap, id);

    return e->type ? e : NULL;
}

int cs_index_claim(cs_index *ix, const cs_id *id, int type, cs_ientry **out)
{
    cs_ientry *e;
    int r;

    if ((ix->count + 1) * 4 > ix->cap * 3 && (r = grow(ix)) < 0)
        return r;
    e = probe(ix->tab, ix->cap, id);
    if (out)
        *out = e;
    if (e->type)
        return 0;
    memset(e, 0, sizeof(*e));
    e->id = *id;
    e->type = (uint8_t)type;
    e->pack = CS_PACK_PENDING;
    ix->count++;
    return 1;
}

static uint32_t *pack_slot(cs_index *ix, const cs_id *id)
{
    for (uint64_t i = slot_of(id, ix->pack_slots_cap);; i = (i + 1) & (ix->pack_slots_cap - 1)) {
        uint32_t v = ix->pack_slots[i];
        if (!v || memcmp(ix->packs[v - 1].id.b, id->b, CS_ID_LEN) == 0)
            return &ix->pack_slots[i];
    }
}

static int grow_pack_slots(cs_index *ix)
{
    size_t ncap = ix->pack_slots_cap ? ix->pack_slots_cap * 2 : 256;
    uint32_t *old = ix->pack_slots;
    size_t oldcap = ix->pack_slots_cap;

    ix->pack_slots = calloc(ncap, sizeof(uint32_t));
    if (!ix->pack_slots) {
        ix->pack_slots = old;
        return -ENOMEM;
    }
    ix->pack_slots_cap = ncap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            *pack_slot(ix, &ix->packs[old[i] - 1].id) = old[i];
    free(old);
    return 0;
}

bool cs_index_has_pack(cs_index *ix, const cs_id *pack_id)
{
    return ix->pack_slots_cap && *pack_slot(ix, pack_id) != 0;
}

int cs_index_add_pack(cs_index *ix, const cs_id *pack_id, uint64_t size, uint32_t *pack_idx)
{
    uint32_t *slot;
    int r;

    if ((ix->npacks + 1) * 2 > ix->pack_slots_cap && (r = grow_pack_slots(ix)) < 0)
        return r;
    slot = pack_slot(ix, pack_id);
    if (*slot) {
        *pack_idx = *slot - 1;
        return 0;
    }
    if (CS_GREEDY_REALLOC(ix->packs, ix->packs_cap, ix->npacks + 1) < 0)
        return -ENOMEM;
    memset(&ix->packs[ix->npacks], 0, sizeof(ix->packs[0]));
    ix->packs[ix->npacks].id = *pack_id;
    ix->packs[ix->npacks].size = size;
    *pack_idx = (uint32_t)ix->npacks++;
    *slot = *pack_idx + 1;
    return 0;
}

int cs_index_encode(const cs_index_pack_blobs *packs, size_t n, cs_buf *out)
{
    int r = 0;

    r |= cs_put_le32(out, INDEX_VERSION);
    r |= cs_put_le32(out, (uint32_t)n);
    for (size_t i = 0; i < n && r == 0; i++) {
        r |= cs_buf_append(out, packs[i].pack_id.b, CS_ID_LEN);
        r |= cs_put_le64(out, packs[i].size);
        r |= cs_put_le32(out, packs[i].n);
        for (uint32_t j = 0; j < packs[i].n && r == 0; j++) {
            const cs_pack_blob *b = &packs[i].blobs[j];
            r |= cs_put_u8(out, b->type);
            r |= cs_buf_append(out, b->id.b, CS_ID_LEN);
            r |= cs_put_le32(out, b->offset);
            r |= cs_put_le32(out, b->enc_len);
            r |= cs_put_le32(out, b->raw_len);
        }
    }
    return r ? -ENOMEM : 0;
}

/* Each blob record is 45 bytes; a pack record at least 44: counts are
 * checked against what remains before anything is allocated. */
int cs_index_parse(const uint8_t *data, size_t len, cs_index_pack_cb cb, void *ud)
{
    cs_reader rd = cs_rd_init(data, len);
    uint32_t version, npacks;
    cs_pack_blob *blobs = NULL;
    int r = 0;

    if (cs_get_le32(&rd, &version) < 0 || version != INDEX_VERSION)
        return -EBADMSG;
    cs_get_le32(&rd, &npacks);
    if (rd.err || npacks > INDEX_MAX_PACKS || (uint64_t)npacks * 44 > cs_rd_left(&rd))
        return -EBADMSG;
    for (uint32_t i = 0; i < npacks && r == 0; i++) {
        cs_index_pack_blobs p;
        cs_get_copy(&rd, p.pack_id.b, CS_ID_LEN);
        cs_get_le64(&rd, &p.size);
        cs_get_le32(&rd, &p.n);
        if (rd.err || p.n > PACK_MAX_BLOBS || (uint64_t)p.n * 45 > cs_rd_left(&rd) || p.size > CS_MAX_PACK) {
            r = -EBADMSG;
            break;
        }
        free(blobs);
        blobs = calloc(p.n ? p.n : 1, sizeof(*blobs));
        if (!blobs) {
            r = -ENOMEM;
            break;
        }
        for (uint32_t j = 0; j < p.n; j++) {
            cs_pack_blob *b = &blobs[j];
            const uint8_t *e; /* type, id, offset, enc_len, raw_len */
            if (cs_get_bytes(&rd, 1 + CS_ID_LEN + 12, &e) < 0) {
                r = -EBADMSG;
                break;
            }
            b->type = e[0];
            memcpy(b->id.b, e + 1, CS_ID_LEN);
            b->offset = cs_load_le32(e + 1 + CS_ID_LEN);
            b->enc_len = cs_load_le32(e + 5 + CS_ID_LEN);
            b->raw_len = cs_load_le32(e + 9 + CS_ID_LEN);
            if ( (b->type != CS_BLOB_DATA && b->type != CS_BLOB_TREE) ||
                (uint64_t)b->offset + b->enc_len > p.size || b->enc_len > CS_MAX_BLOB ||
                b->enc_len < CS_BLOB_OVERHEAD || b->raw_len > CS_MAX_TREE) {
                r = -EBADMSG;
                break;
            }
        }
        if (r == 0) {
            p.blobs = blobs;
            r = cb(&p, ud);
        }
    }
    if (r == 0 && cs_rd_end(&rd) < 0)
        r = -EBADMSG;
    free(blobs);
    return r;
}

int cs_index_merge_pack(cs_index *ix, const cs_index_pack_blobs *p)
{
    uint32_t pidx;
    int r = cs_index_add_pack(ix, &p->pack_id, p->size, &pidx);

    if (r < 0)
        return r;
    if (p->n > ix->packs[pidx].nblobs)
        ix->packs[pidx].nblobs = p->n;
    for (uint32_t j = 0; j < p->n; j++) {
        cs_ientry *e;
        r = cs_index_claim(ix, &p->blobs[j].id, p->blobs[j].type, &e);
        if (r < 0)
            return r;
        if (r == 1 || e->pack == CS_PACK_PENDING) {
            e->pack = pidx;
            e->offset = p->blobs[j].offset;
            e->enc_len = p->blobs[j].enc_len;
            e->raw_len = p->blobs[j].raw_len;
        }
        if (p->blobs[j].type == CS_BLOB_TREE)
            ix->packs[pidx].type = CS_BLOB_TREE;
    }
    return 0;
}

static int merge_pack(const cs_index_pack_blobs *p, void *ud)
{
    return cs_index_merge_pack(ud, p);
}

int cs_index_merge(cs_index *ix, const uint8_t *data, size_t len)
{
    return cs_index_parse(data, len, merge_pack, ix);
}
