/* SPDX-License-Identifier: MIT */
/* Pack garbage collection of the message archive (docs/archive.md, section 8).
 *
 * A pack may go when no live instance of the merged state names it: every
 * message whose body it holds was deleted (or it is an orphan of a killed
 * sync).  Why that is safe: a device only ever points a new message at a
 * stored body through a live instance of its own merged state (record_new
 * dedups against live instances only), and it reads every log before it
 * scans; so once no live instance names a pack, nothing can name it again.
 * Except a sync running at the same moment on another device, which read the
 * logs before the deletion was uploaded: it may still point a new message at
 * the pack, and its log segment arrives when its sync ends.  Hence the two
 * observations: a pack is deleted only when it was already unreferenced at an
 * earlier collection of this device, at least `grace` seconds ago (7 days by
 * default, far longer than any sync), and still is.  The first observations
 * are kept in <state_dir>/gc-candidates (JSON, bounded; a damaged file is
 * replaced: it only delays deletions).
 *
 * Packs holding live and dead bodies stay (no repacking yet); objects under
 * pack/ whose names are not pack names are never touched. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <sodium.h>
#include "archive/gc.h"
#include "archive/hlc.h"
#include "archive/sync_internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/log.h"

#define CANDIDATES_FILE "gc-candidates"
#define CANDIDATES_MAX_BYTES (16u << 20)

typedef struct pack_ref {
    uint8_t id[CS_ARCH_PACK_BYTES];
} pack_ref;

static int cmp_ref(const void *a, const void *b)
{
    return memcmp(a, b, CS_ARCH_PACK_BYTES);
}

static int cmp_cand(const void *a, const void *b)
{
    return memcmp(((const cs_arch_gc_candidate *)a)->id, ((const cs_arch_gc_candidate *)b)->id, CS_ARCH_PACK_BYTES);
}

/* ---- the candidates file ---- */

static bool parse_pack_name(const char *s, size_t len, uint8_t id[CS_ARCH_PACK_BYTES])
{
    size_t bin_len = 0;
    const char *end = NULL;

    if (len != CS_ARCH_PACK_BYTES * 2)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false; /* lowercase hex only: the name start_upload gives */
    return sodium_hex2bin(id, CS_ARCH_PACK_BYTES, s, len, NULL, &bin_len, &end) == 0 &&
           bin_len == CS_ARCH_PACK_BYTES && end == s + len;
}

typedef struct candidates_json {
    int64_t version, collected;
    cs_arch_gc_candidate *c;
    size_t n;
} candidates_json;

/* "packs": {"<pack name>": <first seen>, ...}, sorted here, each once. */
static int read_packs(const cs_json_field *f, json_object *packs, void *base, cs_json_error *err)
{
    candidates_json *j = base;

    if ((size_t)json_object_object_length(packs) > CS_ARCH_GC_MAX_CANDIDATES)
        return cs_json_fail(err, "field '%s' has more than %u packs", f->name, CS_ARCH_GC_MAX_CANDIDATES);
    if (!(j->c = calloc((size_t)json_object_object_length(packs) + 1, sizeof(*j->c))))
        return -ENOMEM;
    json_object_object_foreach(packs, name, seen) {
        int64_t t;

        if (!parse_pack_name(name, strlen(name), j->c[j->n].id))
            return cs_json_fail(err, "field '%s' names no pack: '%.80s'", f->name, name);
        t = json_object_get_int64(seen);
        if (!json_object_is_type(seen, json_type_int) || t < 0 || t > (INT64_C(1) << 40))
            return cs_json_fail(err, "field '%s' has no valid time for %s", f->name, name);
        j->c[j->n++].first_seen = t;
    }
    qsort(j->c, j->n, sizeof(*j->c), cmp_cand);
    for (size_t i = 1; i < j->n; i++)
        if (cmp_cand(&j->c[i - 1], &j->c[i]) == 0) /* json-c keeps one of two equal members; ours never repeats */
            return cs_json_fail(err, "field '%s' names a pack twice", f->name);
    return 0;
}

static const cs_json_field candidates_fields[] = {
    CS_JSON_I64("version", candidates_json, version, 0, 0, CS_JSON_MANDATORY),
    CS_JSON_I64("collected", candidates_json, collected, 0, INT64_C(1) << 40, CS_JSON_MANDATORY),
    CS_JSON_OBJECT("packs", read_packs, CS_JSON_MANDATORY),
    {},
};

int cs_arch_gc_candidates_parse(const void *data, size_t len, cs_arch_gc_candidate **out, size_t *n,
                                int64_t *collected)
{
    _cleanup_json_ json_object *root = NULL;
    candidates_json j = { 0 };
    cs_json_error err = { "" };
    int r;

    *out = NULL;
    *n = 0;
    r = cs_json_parse_ex(data, len, CANDIDATES_MAX_BYTES, 4, &root, NULL);
    if (r == 0)
        r = cs_json_dispatch(root, candidates_fields, CS_JSON_REFUSE_UNKNOWN, &j, &err);
    if (r == 0 && j.version != 1)
        r = cs_json_fail(&err, "version %lld (this cloudseal reads 1)", (long long)j.version);
    if (r < 0) {
        if (err.msg[0])
            log_debug("archive: %s: %s", CANDIDATES_FILE, err.msg);
        free(j.c);
        return r;
    }
    *collected = j.collected;
    *out = j.c;
    *n = j.n;
    return 0;
}

static int candidates_load(int statefd, cs_arch_gc_candidate **out, size_t *n, int64_t *collected, bool quiet)
{
    cs_buf b = CS_BUF_INIT;
    int r = cs_read_file_at(statefd, CANDIDATES_FILE, CANDIDATES_MAX_BYTES, &b);

    *out = NULL;
    *n = 0;
    *collected = 0;
    if (r == -ENOENT) {
        cs_buf_free(&b);
        return 0;
    }
    if (r == 0)
        r = cs_arch_gc_candidates_parse(b.data, b.len, out, n, collected);
    cs_buf_free(&b);
    if (r == -ENOMEM)
        return r;
    if (r < 0 && !quiet) /* only delays deletions: start over */
        log_warning_errno(r, "archive: %s in the state directory is damaged (%m); it is written anew",
                          CANDIDATES_FILE);
    return 0;
}

int64_t cs_arch_gc_last_run(int statefd)
{
    cs_arch_gc_candidate *c = NULL;
    size_t n = 0;
    int64_t when = 0;

    (void)candidates_load(statefd, &c, &n, &when, true);
    free(c);
    return when;
}

static int candidates_save(int statefd, const cs_arch_gc_candidate *c, size_t n, int64_t collected)
{
    json_object *root = json_object_new_object(), *packs = json_object_new_object();
    const char *text;
    int r = 0;

    if (!root || !packs) {
        json_object_put(root);
        json_object_put(packs);
        return -ENOMEM;
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        char hex[CS_ARCH_PACK_BYTES * 2 + 1];
        sodium_bin2hex(hex, sizeof(hex), c[i].id, CS_ARCH_PACK_BYTES);
        r = json_object_object_add(packs, hex, json_object_new_int64(c[i].first_seen)) == 0 ? 0 : -ENOMEM;
    }
    json_object_object_add(root, "version", json_object_new_int(1));
    json_object_object_add(root, "collected", json_object_new_int64(collected));
    json_object_object_add(root, "packs", packs);
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    if (r == 0)
        r = text ? cs_write_file_atomic_at(statefd, CANDIDATES_FILE, text, strlen(text), 0600) : -ENOMEM;
    json_object_put(root);
    return r;
}

/* ---- the collection ---- */

/* Packs named by live instances and by those deleted within the keep
 * period (they can be undeleted), sorted for bsearch. */
static int referenced_packs(const cs_arch_state *st, uint64_t keep_ms, pack_ref **out, size_t *n)
{
    pack_ref *v = calloc(st->ninst + 1, sizeof(*v));
    uint64_t now = cs_hlc_wall_ms();
    size_t k = 0;

    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < st->ninst; i++) {
        const cs_arch_inst *in = st->inst[i];
        if (in->has_add && (!in->deleted || cs_arch_within_keep(in, now, keep_ms)))
            memcpy(v[k++].id, in->ref.pack, CS_ARCH_PACK_BYTES);
    }
    qsort(v, k, sizeof(*v), cmp_ref);
    *out = v;
    *n = k;
    return 0;
}

/* A pack in storage and its size: one array, one capacity (two arrays
 * sharing a capacity overflow the one that did not grow). */
typedef struct listed_pack {
    cs_arch_gc_candidate c; /* first_seen unused */
    uint64_t size;
} listed_pack;

typedef struct listed {
    listed_pack *v;
    size_t n, cap;
    size_t prefix_len;
    uint64_t foreign;
} listed;

static int list_cb(const char *key, const cs_object_stat *st, void *userdata)
{
    listed *l = userdata;
    const char *name = strlen(key) >= l->prefix_len ? key + l->prefix_len : "";
    listed_pack p = { .size = st ? st->size : 0 };

    if (!parse_pack_name(name, strlen(name), p.c.id)) {
        l->foreign++;
        return 0;
    }
    if (CS_GREEDY_REALLOC(l->v, l->cap, l->n + 1) < 0)
        return -ENOMEM;
    l->v[l->n++] = p;
    return 0;
}

int cs_arch_gc(const cs_arch_gc_opts *g, const cs_arch_state *st, cs_arch_gc_stats *stats)
{
    char prefix[400], key[480];
    listed l = { 0 };
    pack_ref *refs = NULL;
    cs_arch_gc_candidate *old = NULL, *keep = NULL;
    size_t nrefs = 0, nold = 0, nkeep = 0;
    int64_t now = (int64_t)time(NULL), last;
    int r;

    memset(stats, 0, sizeof(*stats));
    snprintf(prefix, sizeof(prefix), "%spack/", g->prefix);
    l.prefix_len = strlen(prefix);
    if ((r = referenced_packs(st, g->keep_deleted_sec * 1000, &refs, &nrefs)) < 0 ||
        (r = candidates_load(g->statefd, &old, &nold, &last, false)) < 0)
        goto out;
    if ((r = cs_storage_list(g->storage, prefix, list_cb, &l)) < 0) {
        log_error_errno(r, "archive: cannot list %s", prefix);
        goto out;
    }
    stats->packs = l.n;
    stats->foreign = l.foreign;
    keep = calloc(l.n + 1, sizeof(*keep));
    if (!keep) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        const cs_arch_gc_candidate *was;
        char hex[CS_ARCH_PACK_BYTES * 2 + 1];

        const listed_pack *p = &l.v[i];

        if (bsearch(p->c.id, refs, nrefs, sizeof(*refs), cmp_ref))
            continue;
        was = nold ? bsearch(&p->c, old, nold, sizeof(*old), cmp_cand) : NULL;
        if (!was || was->first_seen > now - (int64_t)g->grace_sec) {
            /* first seen unreferenced now, or not long enough ago */
            keep[nkeep] = p->c;
            keep[nkeep++].first_seen = was ? was->first_seen : now;
            continue;
        }
        sodium_bin2hex(hex, sizeof(hex), p->c.id, CS_ARCH_PACK_BYTES);
        if (g->plan)
            fprintf(g->plan, "gc: delete pack %s (%llu bytes, unreferenced since %lld)\n", hex,
                    (unsigned long long)p->size, (long long)was->first_seen);
        if (g->dry_run) {
            stats->deleted++;
            stats->bytes_freed += p->size;
            continue;
        }
        snprintf(key, sizeof(key), "%s%s", prefix, hex);
        r = cs_storage_del(g->storage, key);
        if (r < 0 && r != -ENOENT) { /* another device may have collected it */
            log_error_errno(r, "archive: cannot delete %s", key);
            goto out;
        }
        stats->deleted++;
        stats->bytes_freed += p->size;
    }
    stats->waiting = nkeep;
    if (nkeep > CS_ARCH_GC_MAX_CANDIDATES)
        nkeep = CS_ARCH_GC_MAX_CANDIDATES; /* the rest are noticed at a later run */
    r = g->dry_run ? 0 : candidates_save(g->statefd, keep, nkeep, now);
out:
    free(refs);
    free(old);
    free(keep);
    free(l.v);
    return r;
}
