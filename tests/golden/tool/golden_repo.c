/* SPDX-License-Identifier: MIT */
/* golden-tool repo: the backup repository's plaintext formats written again
 * from their parsed form -- every snapshot (JSON), every tree reachable from
 * them (whose blob id must also be the keyed hash of the re-encoding), every
 * index object -- and the file-change cache looked up with the stat data
 * the generator recorded (the cache is keyed by inode and ctime, so only
 * the parse can be checked; its seal takes a fresh nonce). */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "golden_tool.h"
#include "repo/filecache.h"
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "storage/storage.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

/* Shared with the CLI (helper/cli/repo_cli.h), defined in lib/repo/snapshot.c. */
struct json_object *cs_snapshot_to_json(const cs_snapshot *s, bool with_id);

typedef struct seen_ids {
    cs_id *v;
    size_t n;
} seen_ids;

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cs_id));
}

static bool seen_add(seen_ids *s, const cs_id *id)
{
    cs_id *nv;

    for (size_t i = 0; i < s->n; i++)
        if (memcmp(&s->v[i], id, sizeof(*id)) == 0)
            return false;
    if (!(nv = realloc(s->v, (s->n + 1) * sizeof(*nv))))
        return false;
    s->v = nv;
    s->v[s->n++] = *id;
    return true;
}

static int check_tree(cs_repo *r, const cs_id *id, seen_ids *seen)
{
    _cleanup_buf_ cs_buf pt = CS_BUF_INIT, enc = CS_BUF_INIT;
    cs_tree t = { 0 };
    char hex[65];
    cs_id again;
    int rc, bad;

    if (!seen_add(seen, id))
        return 0;
    cs_id_hex(id, hex);
    if ((rc = cs_repo_load_blob(r, id, CS_BLOB_TREE, &pt)) < 0)
        return log_error_errno(rc, "tree %s", hex);
    if ((rc = cs_tree_parse(pt.data, pt.len, &t)) < 0)
        return log_error_errno(rc, "tree %s does not parse", hex);
    if ((rc = cs_tree_encode(t.nodes, t.n, &enc)) < 0) {
        cs_tree_free(&t);
        return log_error_errno(rc, "tree %s does not encode", hex);
    }
    bad = golden_same("tree", hex, enc.data, enc.len, pt.data, pt.len);
    cs_blob_id(r->keys, enc.data, enc.len, &again);
    if (memcmp(&again, id, sizeof(again)) != 0) {
        printf("tree %s: the re-encoding hashes to another blob id\n", hex);
        bad++;
    }
    for (size_t i = 0; i < t.n && bad >= 0; i++)
        if (t.nodes[i].type == CS_NODE_DIR) {
            rc = check_tree(r, &t.nodes[i].subtree, seen);
            bad = rc < 0 ? rc : bad + rc;
        }
    cs_tree_free(&t);
    return bad;
}

static int check_snapshot(cs_repo *r, const cs_id *id, seen_ids *trees)
{
    _cleanup_buf_ cs_buf pt = CS_BUF_INIT;
    cs_snapshot s = { 0 };
    json_object *o;
    const char *txt;
    char hex[65];
    int rc, bad;

    cs_id_hex(id, hex);
    if ((rc = cs_repo_get_sealed(r, "snapshots", CS_OBJ_SNAPSHOT, id, &pt)) < 0)
        return log_error_errno(rc, "snapshot %s", hex);
    if ((rc = cs_snapshot_parse(pt.data, pt.len, &s)) < 0)
        return log_error_errno(rc, "snapshot %s does not parse", hex);
    o = cs_snapshot_to_json(&s, false);
    txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    bad = golden_same("snapshot", hex, (const uint8_t *)txt, strlen(txt), pt.data, pt.len);
    json_object_put(o);
    rc = check_tree(r, &s.tree, trees);
    cs_snapshot_clear(&s);
    return rc < 0 ? rc : bad + rc;
}

typedef struct packs {
    cs_index_pack_blobs *v;
    size_t n;
} packs;

static int collect_pack(const cs_index_pack_blobs *p, void *ud)
{
    packs *ps = ud;
    cs_index_pack_blobs *nv = realloc(ps->v, (ps->n + 1) * sizeof(*nv));

    if (!nv)
        return -ENOMEM;
    ps->v = nv;
    nv[ps->n] = *p;
    if (!(nv[ps->n].blobs = malloc((p->n ? p->n : 1) * sizeof(*p->blobs))))
        return -ENOMEM;
    memcpy(nv[ps->n].blobs, p->blobs, p->n * sizeof(*p->blobs));
    ps->n++;
    return 0;
}

static int check_index(cs_repo *r, const cs_id *id)
{
    _cleanup_buf_ cs_buf pt = CS_BUF_INIT, enc = CS_BUF_INIT;
    packs ps = { 0 };
    char hex[65];
    int rc;

    cs_id_hex(id, hex);
    if ((rc = cs_repo_get_sealed(r, "index", CS_OBJ_INDEX, id, &pt)) < 0)
        return log_error_errno(rc, "index %s", hex);
    rc = cs_index_parse(pt.data, pt.len, collect_pack, &ps);
    if (rc >= 0)
        rc = cs_index_encode(ps.v, ps.n, &enc);
    for (size_t i = 0; i < ps.n; i++)
        free(ps.v[i].blobs);
    free(ps.v);
    if (rc < 0)
        return log_error_errno(rc, "index %s does not parse or encode", hex);
    return golden_same("index", hex, enc.data, enc.len, pt.data, pt.len);
}

/* Each line of stats: "ino size mtime_s mtime_ns ctime_s ctime_ns path". */
static int check_filecache(cs_repo *r, const char *cache_root, const char *stats)
{
    cs_fcache *c = NULL;
    char line[4200], path[4097];
    FILE *f;
    int rc = cs_fcache_load(r, cache_root, &c);

    if (rc < 0)
        return log_error_errno(rc, "loading the file cache");
    if (!(f = fopen(stats, "re"))) {
        cs_fcache_free(c);
        return log_error_errno(-errno, "%s", stats);
    }
    while (fgets(line, sizeof(line), f)) {
        struct stat st = { 0 };
        uint64_t ino, size;
        int64_t ms, cs;
        uint32_t mns, cns, n = 0;
        const cs_id *ids = NULL;
        bool nox;
        int hit;

        if (sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNu32 " %" SCNd64 " %" SCNu32 " %4096[^\n]",
                   &ino, &size, &ms, &mns, &cs, &cns, path) != 7) {
            rc = log_error_errno(-EBADMSG, "%s: bad line %s", stats, line);
            break;
        }
        st.st_ino = ino;
        st.st_size = (off_t)size;
        st.st_mtim = (struct timespec){ ms, mns };
        st.st_ctim = (struct timespec){ cs, cns };
        hit = cs_fcache_lookup(c, path, &st, &ids, &n, &nox);
        printf("filecache %s: lookup %d", path, hit);
        for (uint32_t i = 0; hit == 1 && i < n; i++) {
            char hex[65];
            cs_id_hex(&ids[i], hex);
            printf(" %s", hex);
        }
        printf("\n");
    }
    fclose(f);
    cs_fcache_free(c);
    return rc < 0 ? rc : 0;
}

static int check_kind(cs_repo *r, const char *kind, seen_ids *trees)
{
    cs_id *ids = NULL;
    size_t n = 0;
    int rc = cs_repo_list_ids(r, kind, &ids, &n), bad = 0;

    if (rc < 0)
        return log_error_errno(rc, "listing %s", kind);
    qsort(ids, n, sizeof(*ids), id_cmp);
    for (size_t i = 0; i < n && bad >= 0; i++) {
        rc = strcmp(kind, "index") == 0 ? check_index(r, &ids[i]) : check_snapshot(r, &ids[i], trees);
        bad = rc < 0 ? rc : bad + rc;
    }
    free(ids);
    return bad;
}

/* A pack's header: the sealed tail opened, parsed and encoded again (the
 * seal takes a fresh nonce: the plaintext is compared). */
static int check_pack(cs_repo *r, const cs_pent *pe)
{
    _cleanup_buf_ cs_buf pack = CS_BUF_INIT, hdr = CS_BUF_INIT, enc = CS_BUF_INIT;
    _cleanup_free_ cs_pack_blob *blobs = NULL;
    char key[1200], hex[65], name[120];
    uint32_t hlen;
    size_t n;
    int rc;

    cs_id_hex(&pe->id, hex);
    cs_repo_key(r, "data", &pe->id, key, sizeof(key));
    if ((rc = cs_storage_get(r->st, key, 0, 0, CS_MAX_PACK, &pack)) < 0)
        return log_error_errno(rc, "%s", key);
    if ((rc = cs_pack_trailer(pack.data, pack.len, pack.len, &hlen)) < 0 ||
        (rc = cs_unseal(r->keys->data, CS_OBJ_PACK_HEADER, NULL, pack.data + pack.len - 8 - hlen, hlen, &hdr)) < 0 ||
        (rc = cs_pack_header_parse(hdr.data, hdr.len, pack.len - 8 - hlen, &blobs, &n)) < 0)
        return log_error_errno(rc, "pack %s: its header does not open or parse", hex);
    if ((rc = cs_pack_header_encode(blobs, n, &enc)) < 0)
        return log_error_errno(rc, "pack %s: its header does not encode", hex);
    snprintf(name, sizeof(name), "%s (%zu blobs)", hex, n);
    return golden_same("pack-header", name, enc.data, enc.len, hdr.data, hdr.len);
}

/* argv: URL PREFIX KEYBAG */
int golden_packs(int argc, char **argv)
{
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_storage *st = NULL;
    cs_repo *r = NULL;
    cs_plist pl = { 0 };
    int rc, bad = 0;

    if (argc != 3)
        return -EINVAL;
    if ((rc = golden_unlock(argv[2], NULL, &amk)) < 0)
        return rc;
    if ((rc = cs_storage_open(argv[0], NULL, &st)) < 0)
        return log_error_errno(rc, "%s", argv[0]);
    if ((rc = cs_repo_open_ex(st, argv[1], amk, NULL, CS_REPO_NO_OBJECT_CACHE, &r)) < 0) {
        cs_storage_close(st);
        return log_error_errno(rc, "opening the repository");
    }
    if ((rc = cs_plist_load(r, &pl)) < 0)
        bad = log_error_errno(rc, "listing data/");
    for (size_t i = 0; i < pl.n && bad >= 0; i++) {   /* sorted by id */
        rc = check_pack(r, &pl.v[i]);
        bad = rc < 0 ? rc : bad + rc;
    }
    cs_plist_free(&pl);
    cs_repo_close(r);
    cs_storage_close(st);
    return bad;
}

/* A file cut with the repository's chunker (its config: sizes and the
 * secret gear table) and each chunk's blob id looked up in the index:
 * content backed up before must still cut and hash to the stored blobs. */
static int check_chunks(cs_repo *r, const char *path)
{
    _cleanup_buf_ cs_buf data = CS_BUF_INIT;
    size_t off = 0, n = 0, missing = 0;
    int rc = cs_read_file(path, 64u << 20, &data);

    if (rc < 0)
        return log_error_errno(rc, "%s", path);
    printf("chunks %s:", path);
    while (off < data.len) {
        size_t cut = cs_chunker_next(r->chunker, data.data + off, data.len - off, true);
        char hex[65];
        cs_id id;

        if (cut == 0 || cut > data.len - off)
            return log_error_errno(-EINVAL, "%s: the chunker cut at %zu", path, cut);
        cs_blob_id(r->keys, data.data + off, cut, &id);
        cs_id_hex(&id, hex);
        if (!cs_index_find(&r->index, &id))
            missing++;
        printf(" %zu:%.16s", cut, hex);
        off += cut;
        n++;
    }
    printf("; %zu chunks, %zu not in the index\n", n, missing);
    return 0;
}

/* argv: URL PREFIX KEYBAG FILE... */
int golden_chunks(int argc, char **argv)
{
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_storage *st = NULL;
    cs_repo *r = NULL;
    int rc = 0;

    if (argc < 4)
        return -EINVAL;
    if ((rc = golden_unlock(argv[2], NULL, &amk)) < 0)
        return rc;
    if ((rc = cs_storage_open(argv[0], NULL, &st)) < 0)
        return log_error_errno(rc, "%s", argv[0]);
    if ((rc = cs_repo_open_ex(st, argv[1], amk, NULL, CS_REPO_NO_OBJECT_CACHE, &r)) < 0) {
        cs_storage_close(st);
        return log_error_errno(rc, "opening the repository");
    }
    if (!r->chunker)
        rc = log_error_errno(-EBADMSG, "the repository opened without its config");
    for (int i = 3; i < argc && rc >= 0; i++)
        rc = check_chunks(r, argv[i]);
    cs_repo_close(r);
    cs_storage_close(st);
    return rc;
}

/* argv: URL PREFIX KEYBAG CACHE_ROOT STATS */
int golden_repo(int argc, char **argv)
{
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_storage *st = NULL;
    cs_repo *r = NULL;
    seen_ids trees = { 0 };
    int rc, bad = 0;

    if (argc != 5)
        return -EINVAL;
    if ((rc = golden_unlock(argv[2], NULL, &amk)) < 0)
        return rc;
    if ((rc = cs_storage_open(argv[0], NULL, &st)) < 0)
        return log_error_errno(rc, "%s", argv[0]);
    if ((rc = cs_repo_open_ex(st, argv[1], amk, NULL, CS_REPO_NO_OBJECT_CACHE, &r)) < 0) {
        cs_storage_close(st);
        return log_error_errno(rc, "opening the repository");
    }
    bad = check_kind(r, "snapshots", &trees);
    if (bad >= 0 && (rc = check_kind(r, "index", NULL)) != 0)
        bad = rc < 0 ? rc : bad + rc;
    if (bad >= 0 && (rc = check_filecache(r, argv[3], argv[4])) < 0)
        bad = rc;
    free(trees.v);
    cs_repo_close(r);
    cs_storage_close(st);
    return bad;
}
