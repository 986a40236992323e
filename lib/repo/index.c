/* SPDX-License-Identifier: MIT */
/* The in-memory index (blob id -> pack, offset, lengths) and the encoding of
 * index objects.  The entries are a dense array, in claim order, of chunks
 * that never move (an entry's address stays valid while the table grows);
 * a table of 4-byte slots finds them, linear probing from the id's first
 * 8 bytes scaled to the table's size, at <= 60 % load: ids are keyed hashes,
 * uniformly spread, and index objects are authenticated, so nobody without
 * the key can craft colliding ids.  Growing rebuilds only the slot table
 * (4 bytes an entry, not 48), by 1.5x or to what an index object needs:
 * the table is not a power of two, so its load stays between 40 and 60 %
 * (1.3-1.75 slots probed per lookup: the 52-byte table's 37-75 % probed
 * 1.3-2.5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "repo/repo_int.h"
#include "util/alloc.h"

#define INDEX_VERSION 1
#define INDEX_MAX_PACKS (1u << 22)
#define PACK_MAX_BLOBS (1u << 20)
#define INDEX_BLOB_RECORD 45 /* type, id, offset, enc_len, raw_len */
#define CHUNK_LEN (1u << CS_INDEX_CHUNK_SHIFT)
#define CHUNK_BYTES ((size_t)CHUNK_LEN * sizeof(cs_ientry))
#define MIN_SLOTS 1024
#define MAX_ENTRIES (UINT32_MAX - 1) /* a slot holds the entry number, 1.. */

/* The entry's narrow fields hold every location cs_index_locate() accepts. */
_Static_assert(CS_MAX_PACK <= (1u << 27), "offset < CS_MAX_PACK fits 27 bits");
_Static_assert(CS_MAX_TREE < (1u << 27), "raw_len <= CS_MAX_TREE fits 27 bits");
_Static_assert(CS_MAX_BLOB < (1u << 24), "enc_len <= CS_MAX_BLOB fits 24 bits");
_Static_assert(CS_BLOB_DATA < 4 && CS_BLOB_TREE < 4, "type fits 2 bits");
_Static_assert(sizeof(cs_ientry) == 48, "an entry is 48 bytes");

static int rebuild_slots(cs_index *ix, size_t nslots);

int cs_index_init(cs_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    pthread_mutex_init(&ix->lock, NULL);
    return rebuild_slots(ix, MIN_SLOTS);
}

void cs_index_free(cs_index *ix)
{
    for (size_t i = 0; i < ix->nchunks; i++)
        munmap(ix->chunks[i], CHUNK_BYTES);
    free(ix->chunks);
    free(ix->slots);
    free(ix->packs);
    free(ix->pack_slots);
    pthread_mutex_destroy(&ix->lock);
    memset(ix, 0, sizeof(*ix));
}

static inline uint64_t key_of(const cs_id *id)
{
    uint64_t h;

    memcpy(&h, id->b, 8);
    return h;
}

/* key * nslots / 2^64: a uniform key gives a uniform slot in [0, nslots). */
static inline size_t home_slot(uint64_t key, size_t nslots)
{
    return (size_t)(((unsigned __int128)key * nslots) >> 64);
}

/* id's entry or NULL; *slot is the slot holding it, or the empty slot where
 * it would go.  The first 8 bytes are compared inline: almost every other
 * entry differs there.  Inlined: it is the lookup's whole cost. */
static inline __attribute__((always_inline)) cs_ientry *probe(const cs_index *ix, const cs_id *id,
                                                              uint32_t **slot)
{
    uint64_t key = key_of(id);
    uint32_t *slots = ix->slots;
    cs_ientry *const *chunks = ix->chunks;
    size_t n = ix->nslots;

    for (size_t i = home_slot(key, n);;) {
        uint32_t v = slots[i];
        cs_ientry *e;
        *slot = &slots[i];
        if (!v)
            return NULL;
        e = &chunks[v >> CS_INDEX_CHUNK_SHIFT][v & (CHUNK_LEN - 1)];
        if (key_of(&e->id) == key && memcmp(e->id.b + 8, id->b + 8, CS_ID_LEN - 8) == 0)
            return e;
        if (++i == n)
            i = 0;
    }
}

static int rebuild_slots(cs_index *ix, size_t nslots)
{
    uint32_t *t = calloc(nslots, sizeof(*t));

    if (!t)
        return -ENOMEM;
    for (size_t n = 0; n < ix->count; n++) {
        size_t i = home_slot(key_of(&cs_index_at(ix, n)->id), nslots);
        while (t[i])
            i = i + 1 < nslots ? i + 1 : 0;
        t[i] = (uint32_t)n + 1; /* entry numbers start at 1 */
    }
    free(ix->slots);
    ix->slots = t;
    ix->nslots = nslots;
    ix->slots_limit = nslots / 5 * 3 + nslots % 5 * 3 / 5; /* 60 % */
    return 0;
}

/* Past 60 % load the table grows by 1.5x, or to what n needs. */
int cs_index_reserve(cs_index *ix, size_t n)
{
    size_t need = n / 3 * 5 + (n % 3 * 5 + 2) / 3; /* n = 60 % of need */

    if (n <= ix->slots_limit)
        return 0;
    if (n > MAX_ENTRIES)
        return -ENOMEM;
    return rebuild_slots(ix, need > ix->nslots / 2 * 3 ? need : ix->nslots / 2 * 3);
}

/* Chunks are mapped, not malloc'ed: pages are resident only once entries
 * fill them, and long-lived chunks do not pin the backup workers' malloc
 * arenas around the short-lived buffers between them. */
static cs_ientry *new_entry(cs_index *ix)
{
    if ((ix->count + 1) >> CS_INDEX_CHUNK_SHIFT == ix->nchunks) {
        void *c;
        if (CS_GREEDY_REALLOC(ix->chunks, ix->chunks_cap, ix->nchunks + 1) < 0)
            return NULL;
        c = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (c == MAP_FAILED)
            return NULL;
        ix->chunks[ix->nchunks++] = c;
    }
    return cs_index_at(ix, ix->count);
}

cs_ientry *cs_index_find(cs_index *ix, const cs_id *id)
{
    uint32_t *slot;

    return probe(ix, id, &slot);
}

int cs_index_claim(cs_index *ix, const cs_id *id, int type, cs_ientry **out)
{
    uint32_t *slot;
    cs_ientry *e;
    int r;

    if (type != CS_BLOB_DATA && type != CS_BLOB_TREE)
        return -EINVAL;
    if (ix->count >= ix->slots_limit && (r = cs_index_reserve(ix, ix->count + 1)) < 0)
        return r;
    if ((e = probe(ix, id, &slot))) {
        if (out)
            *out = e;
        return 0;
    }
    if (!(e = new_entry(ix)))
        return -ENOMEM;
    memset(e, 0, sizeof(*e));
    e->id = *id;
    e->type = (unsigned)type;
    e->pack = CS_PACK_PENDING;
    *slot = (uint32_t)++ix->count;
    if (out)
        *out = e;
    return 1;
}

void cs_index_clear_used(cs_index *ix)
{
    for (size_t i = 0; i < ix->count; i++)
        cs_index_at(ix, i)->used = 0;
}

/* The bounds of a located blob: those of an index object's record, which
 * are also what the entry's narrow fields can hold. */
static bool blob_fits(const cs_pack_blob *b, uint64_t pack_size)
{
    return (b->type == CS_BLOB_DATA || b->type == CS_BLOB_TREE) && pack_size <= CS_MAX_PACK &&
           (uint64_t)b->offset + b->enc_len <= pack_size && b->enc_len <= CS_MAX_BLOB &&
           b->enc_len >= CS_BLOB_OVERHEAD && b->raw_len <= CS_MAX_TREE;
}

/* b fits (blob_fits() said so) */
static void set_location(cs_ientry *e, uint32_t pack, const cs_pack_blob *b)
{
    e->pack = pack;
    e->offset = b->offset;
    e->enc_len = b->enc_len;
    e->raw_len = b->raw_len;
}

int cs_index_locate(cs_ientry *e, uint32_t pack, uint64_t pack_size, const cs_pack_blob *b)
{
    if (!blob_fits(b, pack_size))
        return -EBADMSG;
    set_location(e, pack, b);
    return 0;
}

static uint32_t *pack_slot(cs_index *ix, const cs_id *id)
{
    for (size_t i = key_of(id) & (ix->pack_slots_cap - 1);; i = (i + 1) & (ix->pack_slots_cap - 1)) {
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

bool cs_index_find_pack(cs_index *ix, const cs_id *pack_id, uint32_t *pack_idx)
{
    uint32_t v = ix->pack_slots_cap ? *pack_slot(ix, pack_id) : 0;

    if (v)
        *pack_idx = v - 1;
    return v != 0;
}

bool cs_index_has_pack(cs_index *ix, const cs_id *pack_id)
{
    uint32_t p;

    return cs_index_find_pack(ix, pack_id, &p);
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
    size_t size = 8;
    int r;

    /* sized up front: a cs_buf that grows copies and wipes (util/buf.h) */
    for (size_t i = 0; i < n; i++)
        size += CS_ID_LEN + 12 + (size_t)packs[i].n * (CS_ID_LEN + 13);
    if ((r = cs_buf_reserve(out, size)) < 0)
        return r;
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
        if (rd.err || p.n > PACK_MAX_BLOBS || (uint64_t)p.n * INDEX_BLOB_RECORD > cs_rd_left(&rd) || p.size > CS_MAX_PACK) {
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
            if (cs_get_bytes(&rd, INDEX_BLOB_RECORD, &e) < 0) {
                r = -EBADMSG;
                break;
            }
            b->type = e[0];
            memcpy(b->id.b, e + 1, CS_ID_LEN);
            b->offset = cs_load_le32(e + 1 + CS_ID_LEN);
            b->enc_len = cs_load_le32(e + 5 + CS_ID_LEN);
            b->raw_len = cs_load_le32(e + 9 + CS_ID_LEN);
            if (!blob_fits(b, p.size)) {
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

/* p's blobs fit its pack (checked by the caller).  A pack already known
 * keeps the size it was first listed with, and its blobs were checked
 * against p's: a pack is immutable, so another size (listed twice in one
 * object, or in two) is a damaged or forged listing, refused before any
 * blob of it points past the pack's known end. */
static int merge_checked(cs_index *ix, const cs_index_pack_blobs *p)
{
    uint32_t pidx;
    int r;

    if ((r = cs_index_add_pack(ix, &p->pack_id, p->size, &pidx)) < 0)
        return r;
    if (ix->packs[pidx].size != p->size)
        return -EBADMSG;
    if ((r = cs_index_reserve(ix, ix->count + p->n)) < 0)
        return r;
    if (p->n > ix->packs[pidx].nblobs)
        ix->packs[pidx].nblobs = p->n;
    for (uint32_t j = 0; j < p->n; j++) {
        cs_ientry *e;
        r = cs_index_claim(ix, &p->blobs[j].id, p->blobs[j].type, &e);
        if (r < 0)
            return r;
        if (r == 1 || e->pack == CS_PACK_PENDING)
            set_location(e, pidx, &p->blobs[j]);
        if (p->blobs[j].type == CS_BLOB_TREE)
            ix->packs[pidx].type = CS_BLOB_TREE;
    }
    return 0;
}

int cs_index_merge_pack(cs_index *ix, const cs_index_pack_blobs *p)
{
    for (uint32_t j = 0; j < p->n; j++)
        if (!blob_fits(&p->blobs[j], p->size))
            return -EBADMSG;
    return merge_checked(ix, p);
}

static int merge_pack(const cs_index_pack_blobs *p, void *ud)
{
    return merge_checked(ud, p); /* cs_index_parse() checked every blob */
}

/* The object's size bounds its blobs: the slot table is sized once for
 * them, not doubled on the way. */
int cs_index_merge(cs_index *ix, const uint8_t *data, size_t len)
{
    int r = cs_index_reserve(ix, ix->count + len / INDEX_BLOB_RECORD);

    return r < 0 ? r : cs_index_parse(data, len, merge_pack, ix);
}
