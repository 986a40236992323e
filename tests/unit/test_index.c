/* SPDX-License-Identifier: MIT */
/* Unit tests of the in-memory index table (lib/repo/index.c): growth across
 * many sizes, entries that keep their address while the table grows (also
 * under claim races between threads), lookups of absent ids at the load
 * limit, the memory a million blobs take (peak, not only at the end), and
 * the bounds of the entries' narrow fields. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "repo/repo_int.h"

/* Ids as the engine makes them: uniformly spread (splitmix64 stands in for
 * the keyed hash); seed and n name the id. */
static cs_id make_id(uint64_t seed, uint64_t n)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + n;
    cs_id id;

    for (int i = 0; i < CS_ID_LEN / 8; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(id.b + 8 * i, &z, 8);
    }
    return id;
}

static void check_sizes(size_t n)
{
    cs_ientry **seen = calloc(n ? n : 1, sizeof(*seen));
    cs_index ix;

    assert_non_null(seen);
    assert_int_equal(cs_index_init(&ix), 0);
    for (size_t i = 0; i < n; i++) {
        cs_id id = make_id(n, i);
        assert_int_equal(cs_index_claim(&ix, &id, i % 3 ? CS_BLOB_DATA : CS_BLOB_TREE, &seen[i]), 1);
        assert_memory_equal(seen[i]->id.b, id.b, CS_ID_LEN);
    }
    assert_int_equal(ix.count, n);
    /* the load stays between 60 % (the limit) and 60 / 1.5 % (just grown) */
    assert_true(ix.count * 10 <= ix.nslots * 6);
    if (n > 614)
        assert_true(ix.count * 10 >= ix.nslots * 4);
    for (size_t i = 0; i < n; i++) {
        cs_id id = make_id(n, i);
        cs_ientry *e = NULL;
        /* the address handed out before the table grew still names the entry */
        assert_ptr_equal(cs_index_find(&ix, &id), seen[i]);
        assert_int_equal(cs_index_claim(&ix, &id, CS_BLOB_DATA, &e), 0);
        assert_ptr_equal(e, seen[i]);
        assert_int_equal(e->type, i % 3 ? CS_BLOB_DATA : CS_BLOB_TREE);
        assert_int_equal(e->pack, CS_PACK_PENDING);
        assert_ptr_equal(cs_index_at(&ix, i), seen[i]); /* claim order */
    }
    for (size_t i = 0; i < 1000; i++) {
        cs_id id = make_id(n + 1, i);
        assert_null(cs_index_find(&ix, &id));
    }
    assert_int_equal(ix.count, n);
    cs_index_free(&ix);
    free(seen);
}

static void test_growth_many_sizes(void **state)
{
    static const size_t sizes[] = { 0, 1, 2, 7, 614, 615, 616, 921, 922, 1023, 1024, 1025, 1382, 1383,
                                    (1u << CS_INDEX_CHUNK_SHIFT) - 1, 1u << CS_INDEX_CHUNK_SHIFT,
                                    (1u << CS_INDEX_CHUNK_SHIFT) + 1, 3 * (1u << CS_INDEX_CHUNK_SHIFT) + 5,
                                    100003 };
    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
        check_sizes(sizes[k]);
}

/* Fill the table up to its load limit (60 %): it does not grow, every
 * absent id is answered (the probe ends at an empty slot), and the next
 * claim grows it. */
static void test_load_limit(void **state)
{
    cs_index ix;
    size_t nslots, limit, i;

    (void)state;
    assert_int_equal(cs_index_init(&ix), 0);
    nslots = ix.nslots;
    limit = nslots * 6 / 10;
    for (i = 0; i < limit; i++) {
        cs_id id = make_id(7, i);
        assert_int_equal(cs_index_claim(&ix, &id, CS_BLOB_DATA, NULL), 1);
    }
    assert_int_equal(ix.nslots, nslots);
    for (i = 0; i < 100000; i++) {
        cs_id id = make_id(8, i);
        assert_null(cs_index_find(&ix, &id));
    }
    for (i = 0; i < limit; i++) {
        cs_id id = make_id(7, i);
        assert_non_null(cs_index_find(&ix, &id));
    }
    {
        cs_id id = make_id(7, limit);
        assert_int_equal(cs_index_claim(&ix, &id, CS_BLOB_DATA, NULL), 1);
        assert_int_equal(ix.nslots, nslots / 2 * 3);
    }
    /* ids that share their first 8 bytes (the probe key) are still told apart */
    {
        cs_id a = make_id(9, 0), b = a;
        b.b[CS_ID_LEN - 1] ^= 1;
        assert_int_equal(cs_index_claim(&ix, &a, CS_BLOB_DATA, NULL), 1);
        assert_null(cs_index_find(&ix, &b));
        assert_int_equal(cs_index_claim(&ix, &b, CS_BLOB_TREE, NULL), 1);
        assert_int_equal(cs_index_find(&ix, &a)->type, CS_BLOB_DATA);
        assert_int_equal(cs_index_find(&ix, &b)->type, CS_BLOB_TREE);
    }
    assert_int_equal(cs_index_claim(&ix, &(cs_id){ { 1 } }, 0, NULL), -EINVAL);
    assert_int_equal(cs_index_claim(&ix, &(cs_id){ { 1 } }, 3, NULL), -EINVAL);
    cs_index_free(&ix);
}

/* Backup workers claim under ix->lock; each keeps the entry it was handed
 * while the others grow the table. */
#define RACE_THREADS 4
#define RACE_IDS 65536 /* a power of two: every odd stride is a permutation */
typedef struct racer {
    cs_index *ix;
    int t;
    cs_ientry *got[RACE_IDS];
    int won[RACE_IDS];
} racer;

static void *race(void *ud)
{
    racer *rc = ud;

    for (size_t k = 0; k < RACE_IDS; k++) {
        /* each thread walks the shared ids in its own order */
        size_t i = (k * (2 * (size_t)rc->t + 1) + (size_t)rc->t * 977) % RACE_IDS;
        cs_id id = make_id(11, i);
        pthread_mutex_lock(&rc->ix->lock);
        rc->won[i] = cs_index_claim(rc->ix, &id, CS_BLOB_DATA, &rc->got[i]);
        pthread_mutex_unlock(&rc->ix->lock);
    }
    return NULL;
}

static void test_claim_races(void **state)
{
    static racer rs[RACE_THREADS];
    pthread_t th[RACE_THREADS];
    cs_index ix;

    (void)state;
    assert_int_equal(cs_index_init(&ix), 0);
    for (int t = 0; t < RACE_THREADS; t++) {
        rs[t].ix = &ix;
        rs[t].t = t;
        assert_int_equal(pthread_create(&th[t], NULL, race, &rs[t]), 0);
    }
    for (int t = 0; t < RACE_THREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(ix.count, RACE_IDS);
    for (size_t i = 0; i < RACE_IDS; i++) {
        cs_id id = make_id(11, i);
        cs_ientry *e = cs_index_find(&ix, &id);
        int winners = 0;
        assert_non_null(e);
        for (int t = 0; t < RACE_THREADS; t++) {
            assert_true(rs[t].won[i] == 0 || rs[t].won[i] == 1);
            winners += rs[t].won[i];
            assert_ptr_equal(rs[t].got[i], e); /* still the entry, after every growth */
        }
        assert_int_equal(winners, 1);
    }
    cs_index_free(&ix);
}

/* Peak RSS while the index of 1.03 M blobs (the 1 M tree's) is built, the
 * growth of the table included: 48-byte entries and 4-byte slots at 40-60 %
 * load; the table of 52-byte entries at <= 75 % load took 109 MB, 163 MB
 * while it doubled.  Claimed one by one (an initial backup), and merged
 * from two index objects (every later run: the table is sized for each
 * object before its blobs go in). */
static long status_kb(const char *field)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "re");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    return v;
}

/* Reset the peak (VmHWM) to the current RSS; returns the current RSS. */
static long reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "we");

    assert_non_null(f);
    assert_true(fputs("5", f) >= 0);
    assert_int_equal(fclose(f), 0);
    return status_kb("VmRSS:");
}

#define MILLION_BLOBS 1030000

static void check_peak(const char *how, long before, long limit_kib)
{
    long peak = status_kb("VmHWM:");

    assert_true(before > 0 && peak > 0);
    print_message("index of %d blobs %s: peak RSS +%ld KiB\n", MILLION_BLOBS, how, peak - before);
#if !defined(__SANITIZE_ADDRESS__) /* ASan's shadow memory is not what is measured */
    assert_true(peak - before <= limit_kib);
#endif
}

static void test_million_blobs_peak_memory(void **state)
{
    long before;
    cs_index ix;

    (void)state;
    assert_int_equal(cs_index_init(&ix), 0);
    before = reset_peak();
    for (size_t i = 0; i < MILLION_BLOBS; i++) {
        cs_id id = make_id(13, i);
        assert_int_equal(cs_index_claim(&ix, &id, CS_BLOB_DATA, NULL), 1);
    }
    check_peak("claimed", before, 57 * 1024);
    for (size_t i = 0; i < MILLION_BLOBS; i += 997) {
        cs_id id = make_id(13, i);
        assert_non_null(cs_index_find(&ix, &id));
    }
    cs_index_free(&ix);
}

static void test_million_blobs_merged_peak_memory(void **state)
{
    const size_t per_pack = 20000, npacks = MILLION_BLOBS / 20000 + 1;
    cs_pack_blob *blobs = calloc(MILLION_BLOBS, sizeof(*blobs));
    cs_index_pack_blobs *packs = calloc(npacks, sizeof(*packs));
    cs_buf enc[2] = { CS_BUF_INIT, CS_BUF_INIT };
    long before;
    cs_index ix;

    (void)state;
    assert_non_null(blobs);
    assert_non_null(packs);
    for (size_t i = 0; i < MILLION_BLOBS; i++)
        blobs[i] = (cs_pack_blob){ CS_BLOB_DATA, make_id(23, i), (uint32_t)(i % per_pack) * 100, 100, 60 };
    for (size_t k = 0; k < npacks; k++) {
        size_t n = k + 1 < npacks ? per_pack : MILLION_BLOBS - k * per_pack;
        packs[k] = (cs_index_pack_blobs){ make_id(24, k), per_pack * 100, (uint32_t)n, blobs + k * per_pack };
    }
    /* two index objects, as the 1 M tree's initial backup wrote */
    assert_int_equal(cs_index_encode(packs, npacks / 2, &enc[0]), 0);
    assert_int_equal(cs_index_encode(packs + npacks / 2, npacks - npacks / 2, &enc[1]), 0);
    free(blobs);
    free(packs);
    assert_int_equal(cs_index_init(&ix), 0);
    before = reset_peak();
    assert_int_equal(cs_index_merge(&ix, enc[0].data, enc[0].len), 0);
    assert_int_equal(cs_index_merge(&ix, enc[1].data, enc[1].len), 0);
    check_peak("merged", before, 55 * 1024);
    assert_int_equal(ix.count, MILLION_BLOBS);
    assert_int_equal(ix.npacks, npacks);
    for (size_t i = 0; i < MILLION_BLOBS; i += 997) {
        cs_id id = make_id(23, i);
        cs_ientry *e = cs_index_find(&ix, &id);
        assert_non_null(e);
        assert_int_equal(e->offset, (i % per_pack) * 100);
    }
    cs_index_free(&ix);
    cs_buf_free(&enc[0]);
    cs_buf_free(&enc[1]);
}

/* An index object records every location with its bounds checked; the
 * entry's narrow fields hold the extremes exactly. */
static void test_fields_at_their_bounds(void **state)
{
    cs_pack_blob b[2] = {
        { CS_BLOB_TREE, make_id(17, 0), 0, CS_MAX_BLOB, CS_MAX_TREE },
        { CS_BLOB_DATA, make_id(17, 1), CS_MAX_PACK - CS_BLOB_OVERHEAD, CS_BLOB_OVERHEAD, 0 },
    };
    cs_index_pack_blobs p = { make_id(18, 0), CS_MAX_PACK, 2, b };
    _cleanup_buf_ cs_buf enc = CS_BUF_INIT;
    cs_ientry *e;
    cs_index ix;

    (void)state;
    assert_int_equal(cs_index_encode(&p, 1, &enc), 0);
    assert_int_equal(cs_index_init(&ix), 0);
    assert_int_equal(cs_index_merge(&ix, enc.data, enc.len), 0);
    assert_non_null(e = cs_index_find(&ix, &b[0].id));
    assert_int_equal(e->type, CS_BLOB_TREE);
    assert_int_equal(e->offset, 0);
    assert_int_equal(e->enc_len, CS_MAX_BLOB);
    assert_int_equal(e->raw_len, CS_MAX_TREE);
    assert_int_equal(e->pack, 0);
    assert_non_null(e = cs_index_find(&ix, &b[1].id));
    assert_int_equal(e->type, CS_BLOB_DATA);
    assert_int_equal(e->offset, CS_MAX_PACK - CS_BLOB_OVERHEAD);
    assert_int_equal(e->enc_len, CS_BLOB_OVERHEAD);
    assert_int_equal(e->raw_len, 0);
    cs_index_free(&ix);
}

/* Blobs that come from a pack's own header (repair's fallback) or from the
 * pack writer are checked as an index object's are: a location the entry
 * cannot hold is refused, and nothing of that pack is merged. */
static void test_out_of_bounds_locations_refused(void **state)
{
    cs_pack_blob ok = { CS_BLOB_DATA, make_id(19, 0), 0, 100, 50 };
    cs_pack_blob bad[] = {
        { CS_BLOB_DATA, make_id(19, 1), CS_MAX_PACK, 100, 50 },                   /* offset past the pack */
        { CS_BLOB_DATA, make_id(19, 2), 0, CS_MAX_BLOB + 1, 50 },                 /* enc_len too long */
        { CS_BLOB_DATA, make_id(19, 3), 0, 100, CS_MAX_TREE + 1 },                /* raw_len too long */
        { CS_BLOB_DATA, make_id(19, 4), 0, CS_BLOB_OVERHEAD - 1, 0 },             /* shorter than a blob */
        { 3, make_id(19, 5), 0, 100, 50 },                                        /* no such type */
        { CS_BLOB_DATA, make_id(19, 6), (uint32_t)CS_MAX_PACK + 100, 100, 50 },   /* past 2^27 */
    };
    cs_index ix;
    cs_ientry *e;

    (void)state;
    assert_int_equal(cs_index_init(&ix), 0);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        cs_pack_blob two[2] = { ok, bad[k] };
        cs_index_pack_blobs p = { make_id(20, k), (uint64_t)CS_MAX_PACK * 2, 2, two };
        assert_int_equal(cs_index_merge_pack(&ix, &p), -EBADMSG);
        p.size = CS_MAX_PACK;
        assert_int_equal(cs_index_merge_pack(&ix, &p), -EBADMSG);
        assert_int_equal(ix.count, 0);
        assert_null(cs_index_find(&ix, &ok.id));
    }
    /* a pack larger than any offset the entry holds */
    {
        cs_index_pack_blobs p = { make_id(21, 0), (uint64_t)CS_MAX_PACK + 1, 1, &ok };
        assert_int_equal(cs_index_merge_pack(&ix, &p), -EBADMSG);
        assert_int_equal(ix.count, 0);
    }
    /* the pack writer's path */
    assert_int_equal(cs_index_claim(&ix, &ok.id, CS_BLOB_DATA, &e), 1);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        assert_int_equal(cs_index_locate(e, 0, CS_MAX_PACK, &bad[k]), -EBADMSG);
        assert_int_equal(e->pack, CS_PACK_PENDING);
    }
    assert_int_equal(cs_index_locate(e, 5, 1000, &ok), 0);
    assert_int_equal(e->pack, 5);
    assert_int_equal(e->enc_len, 100);
    assert_int_equal(e->raw_len, 50);
    cs_index_free(&ix);
}

/* A pack is immutable: listed again with another size (in the same index
 * object or a later one) the listing is refused, and no blob of it points
 * past the size the pack was first listed with (fuzz_index found this). */
static void test_pack_listed_with_two_sizes_refused(void **state)
{
    cs_pack_blob first = { CS_BLOB_DATA, make_id(22, 0), 0, 100, 50 };
    cs_pack_blob later = { CS_BLOB_DATA, make_id(22, 1), 900, 100, 50 };
    cs_index_pack_blobs p[2] = { { make_id(23, 0), 200, 1, &first }, { make_id(23, 0), 1000, 1, &later } };
    _cleanup_buf_ cs_buf one = CS_BUF_INIT, again = CS_BUF_INIT;
    cs_index ix;

    (void)state;
    assert_int_equal(cs_index_encode(p, 2, &one), 0);
    assert_int_equal(cs_index_init(&ix), 0);
    assert_int_equal(cs_index_merge(&ix, one.data, one.len), -EBADMSG);
    assert_null(cs_index_find(&ix, &later.id));
    cs_index_free(&ix);

    /* in two objects: the second is refused */
    assert_int_equal(cs_index_encode(&p[1], 1, &again), 0);
    cs_buf_reset(&one);
    assert_int_equal(cs_index_encode(&p[0], 1, &one), 0);
    assert_int_equal(cs_index_init(&ix), 0);
    assert_int_equal(cs_index_merge(&ix, one.data, one.len), 0);
    assert_int_equal(cs_index_merge(&ix, again.data, again.len), -EBADMSG);
    assert_null(cs_index_find(&ix, &later.id));
    /* the same listing again (an index object written twice) is fine */
    assert_int_equal(cs_index_merge(&ix, one.data, one.len), 0);
    assert_int_equal(ix.count, 1);
    cs_index_free(&ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_many_sizes),
        cmocka_unit_test(test_load_limit),
        cmocka_unit_test(test_claim_races),
        cmocka_unit_test(test_million_blobs_peak_memory),
        cmocka_unit_test(test_million_blobs_merged_peak_memory),
        cmocka_unit_test(test_fields_at_their_bounds),
        cmocka_unit_test(test_out_of_bounds_locations_refused),
        cmocka_unit_test(test_pack_listed_with_two_sizes_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
