/* SPDX-License-Identifier: MIT */
/* Internals of lib/repo shared between its files (not for other parts). */
#ifndef CS_REPO_INT_H
#define CS_REPO_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "repo/repo.h"
#include "util/buf.h"
#include "util/bytes.h"
#include "util/secmem.h"

/* ---- limits (hostile-input bounds) ---- */
#define CS_MAX_OBJECT     (64u << 20)  /* sealed config/index/snapshot/lock object */
#define CS_MAX_BLOB       (9u << 20)   /* stored blob: max chunk + header + tag */
#define CS_MAX_TREE       (64u << 20)  /* encoded tree */
#define CS_MAX_PACK       (128u << 20)
#define CS_PACK_TARGET    (4u << 20)
#define CS_CHUNK_MIN      (512u << 10)
#define CS_CHUNK_AVG      (1u << 20)
#define CS_CHUNK_MAX      (8u << 20)

enum { CS_BLOB_DATA = 1, CS_BLOB_TREE = 2 };
enum { CS_OBJ_CONFIG = 1, CS_OBJ_INDEX = 2, CS_OBJ_SNAPSHOT = 3, CS_OBJ_LOCK = 4,
       CS_OBJ_PACK_HEADER = 5, CS_OBJ_CACHE = 6 };

#define CS_SEAL_OVERHEAD (4 + 1 + 24 + 16)
#define CS_BLOB_OVERHEAD (24 + 16 + 1)

/* ---- keys ---- */
typedef struct cs_repo_keys {
    uint8_t data[32];
    uint8_t mac[32];
    uint8_t cache[32];
} cs_repo_keys; /* always in secure memory */

int cs_rkeys_new(const cs_amk *amk, cs_repo_keys **out);
void cs_rkeys_free(cs_repo_keys *k);
/* A blob's id: keyed BLAKE2b-256 of its plaintext with k->mac. */
void cs_blob_id(const cs_repo_keys *k, const void *data, size_t len, cs_id *out);
/* Sealed objects: see docs/repository.md.  Output appended to out. */
int cs_seal(const uint8_t key[32], int type, const cs_id *id, const void *pt, size_t len, cs_buf *out);
int cs_unseal(const uint8_t key[32], int type, const cs_id *id, const void *ct, size_t len, cs_buf *out);
/* Blobs: compress (maybe) + encrypt into out (reset first).  zctx is a
 * ZSTD_CCtx * owned by the caller (NULL = create one per call). */
int cs_blob_seal(const cs_repo_keys *k, int type, const cs_id *id, const void *data, size_t len,
                 void *zctx, cs_buf *out);
/* The same in two steps, so the sealed blob can be written straight into a
 * pack buffer (one copy of the data, outside any lock):
 * cs_blob_payload decides compression: *payload is data itself (flag 0) or
 * the compressed bytes in scratch (flag 1); the sealed blob is then
 * CS_BLOB_OVERHEAD + *plen bytes, which cs_blob_seal_into writes at dst. */
int cs_blob_payload(void *zctx, const void *data, size_t len, cs_buf *scratch, const uint8_t **payload,
                    size_t *plen, uint8_t *flag);
int cs_blob_seal_into(const cs_repo_keys *k, int type, const cs_id *id, uint8_t flag, const uint8_t *payload,
                      size_t plen, uint8_t *dst);
/* XChaCha20-Poly1305-IETF of flag | payload (blob_aead.c): ct receives
 * 1 + plen bytes and the 16-byte tag; payload must not overlap ct.  Open
 * writes the clen - 16 plaintext bytes to pt, wiped again if the tag fails. */
int cs_blob_aead_seal(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                      uint8_t flag, const uint8_t *payload, size_t plen, uint8_t *ct);
int cs_blob_aead_open(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                      const uint8_t *ct, size_t clen, uint8_t *pt);
/* The same computed by libsodium: the fallback where OpenSSL cannot provide
 * the cipher (the seal copies payload after the flag at ct first). */
int cs_blob_aead_seal_sodium(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                             uint8_t flag, const uint8_t *payload, size_t plen, uint8_t *ct);
int cs_blob_aead_open_sodium(const uint8_t key[32], const uint8_t nonce[24], const uint8_t *ad, size_t adlen,
                             const uint8_t *ct, size_t clen, uint8_t *pt);
/* Decrypt + decompress + verify the id; result in out (reset first). */
int cs_blob_open(const cs_repo_keys *k, int type, const cs_id *id, const void *ct, size_t len,
                 uint32_t raw_len, cs_buf *tmp, cs_buf *out);
/* Same with a reusable ZSTD_DCtx (NULL = one per call) and without the
 * final re-hash when verify_id is false (restore: the AEAD binds the id). */
int cs_blob_open_dctx(const cs_repo_keys *k, int type, const cs_id *id, const void *ct, size_t len,
                      uint32_t raw_len, cs_buf *tmp, cs_buf *out, void *dctx, bool verify_id);
/* A thread's compressors (crypto.c): fixed workspaces, allocated here once */
void *cs_zctx_new(void);
void cs_zctx_free(void *z);
size_t cs_zctx_sizeof(const void *z); /* bytes held: constant from creation */

/* ---- chunker ---- */
typedef struct cs_chunker {
    uint64_t gear[256];
    uint32_t min, avg, max;
    uint64_t mask_s, mask_l;
} cs_chunker;
int cs_chunker_init(cs_chunker *c, const uint64_t gear[256], uint32_t min, uint32_t avg, uint32_t max);
/* Cut point in buf[0..len): the chunk length.  When no cut is found before
 * len < max and !eof, returns 0 (need more data). */
size_t cs_chunker_next(const cs_chunker *c, const uint8_t *buf, size_t len, bool eof);

/* ---- index ---- */
#define CS_PACK_PENDING UINT32_MAX
/* 48 bytes: the location fields are as narrow as the bounds every writer
 * checks (cs_index_locate): offset < CS_MAX_PACK, enc_len <= CS_MAX_BLOB,
 * raw_len <= CS_MAX_TREE.  type shares a word with offset: both are written
 * under ix->lock or single-threaded; used is a byte of its own. */
typedef struct cs_ientry {
    cs_id id;
    uint32_t pack;     /* index into cs_index.packs, or CS_PACK_PENDING */
    uint32_t offset : 27, type : 2;
    uint32_t raw_len : 27;
    uint32_t enc_len : 24;
    uint8_t used;      /* scratch for prune/check */
} cs_ientry;
typedef struct cs_ipack {
    cs_id id;
    uint64_t size;
    uint32_t nblobs;
    uint8_t type;
    uint8_t flag;      /* scratch */
    uint8_t unindexed; /* named by no index object: its own header was read */
} cs_ipack;
#define CS_INDEX_CHUNK_SHIFT 16
typedef struct cs_index {
    pthread_mutex_t lock;
    cs_ientry **chunks; /* entries 1.. in claim order, 2^CS_INDEX_CHUNK_SHIFT a chunk: they never move */
    size_t nchunks, chunks_cap;
    uint32_t *slots;    /* entry number (0 = empty): linear probing on the id's first 8 bytes */
    size_t nslots, count;
    size_t slots_limit; /* entries the slot table holds at 60 % load */
    cs_ipack *packs;
    size_t npacks, packs_cap;
    uint32_t *pack_slots; /* pack id -> 1 + index into packs (0 = empty) */
    size_t pack_slots_cap;
} cs_index;
/* Entry i < ix->count, in claim order (how maintenance walks the index):
 * an entry's address never changes while the index lives. */
static inline cs_ientry *cs_index_at(const cs_index *ix, size_t i)
{
    i++; /* entry 0 is not used: a slot holds the entry number itself */
    return &ix->chunks[i >> CS_INDEX_CHUNK_SHIFT][i & ((1u << CS_INDEX_CHUNK_SHIFT) - 1)];
}
int cs_index_init(cs_index *ix);
void cs_index_free(cs_index *ix);
cs_ientry *cs_index_find(cs_index *ix, const cs_id *id); /* caller holds the lock or is single-threaded */
/* Insert if absent; returns 1 if inserted (as PENDING), 0 if present, -ENOMEM
 * (-EINVAL for a type that is not CS_BLOB_DATA or CS_BLOB_TREE). */
int cs_index_claim(cs_index *ix, const cs_id *id, int type, cs_ientry **out);
/* Room for n entries without growing the slot table. */
int cs_index_reserve(cs_index *ix, size_t n);
/* Clear every entry's scratch byte. */
void cs_index_clear_used(cs_index *ix);
/* Add a pack, or find it when the id is known (index objects may overlap
 * after an interrupted prune: one pack must have one entry). */
int cs_index_add_pack(cs_index *ix, const cs_id *pack_id, uint64_t size, uint32_t *pack_idx);
bool cs_index_has_pack(cs_index *ix, const cs_id *pack_id);
/* The pack's number in *pack_idx, when the index has it. */
bool cs_index_find_pack(cs_index *ix, const cs_id *pack_id, uint32_t *pack_idx);
/* Parse a decrypted index object and merge it. */
int cs_index_merge(cs_index *ix, const uint8_t *data, size_t len);
/* Encode packs [from..) as an index object plaintext (the packs' blobs are found by scanning). */
typedef struct cs_index_pack_blobs {
    cs_id pack_id;
    uint64_t size;
    uint32_t n;
    struct cs_pack_blob *blobs;
} cs_index_pack_blobs;

/* ---- packs ---- */
typedef struct cs_pack_blob {
    uint8_t type;
    cs_id id;
    uint32_t offset, enc_len, raw_len;
} cs_pack_blob;
/* Encode an index object plaintext from a list of packs. */
int cs_index_encode(const cs_index_pack_blobs *packs, size_t n, cs_buf *out);
/* Parse an index object (plaintext) into a list of packs, calling cb for each. */
typedef int (*cs_index_pack_cb)(const cs_index_pack_blobs *p, void *ud);
int cs_index_parse(const uint8_t *data, size_t len, cs_index_pack_cb cb, void *ud);
/* Merge one pack's blobs (a blob already located keeps its location);
 * -EBADMSG, and nothing merged, when a blob does not fit in the pack. */
int cs_index_merge_pack(cs_index *ix, const cs_index_pack_blobs *p);
/* Locate entry e at blob b of pack number pack (pack_size bytes); -EBADMSG
 * when b is out of the bounds the entry's fields hold. */
int cs_index_locate(cs_ientry *e, uint32_t pack, uint64_t pack_size, const cs_pack_blob *b);

/* The located entries grouped by pack (index_bypack.c), built in one pass
 * for the packs [0, npacks) of the index as it is then: pack p's entries,
 * in claim order, are entry numbers entry[start[p] .. start[p + 1]).
 * Pending entries are in no pack's run.  Rebuild after entries move. */
typedef struct cs_index_bypack {
    size_t npacks;
    uint32_t *start; /* npacks + 2 */
    uint32_t *entry;
} cs_index_bypack;
int cs_index_bypack_build(const cs_index *ix, cs_index_bypack *out);
void cs_index_bypack_free(cs_index_bypack *b);
extern unsigned long cs_index_bypack_builds; /* builds so far: for the tests */
static inline size_t cs_index_bypack_count(const cs_index_bypack *b, uint32_t p)
{
    return p < b->npacks ? b->start[p + 1] - b->start[p] : 0;
}
static inline cs_ientry *cs_index_bypack_at(const cs_index *ix, const cs_index_bypack *b, uint32_t p, size_t k)
{
    return cs_index_at(ix, b->entry[b->start[p] + k]);
}
/* Pack p (< b->npacks) as an index object lists it: its id, size and the
 * locations of its entries (out->blobs: the caller frees). */
int cs_index_pack_view(const cs_index *ix, const cs_index_bypack *b, uint32_t p, cs_index_pack_blobs *out);

/* Header plaintext of a pack (list of blobs); and finishing a pack buffer. */
int cs_pack_header_encode(const cs_pack_blob *b, size_t n, cs_buf *out);
int cs_pack_header_parse(const uint8_t *data, size_t len, uint64_t blobs_end,
                         cs_pack_blob **out, size_t *n);
/* Append sealed header + trailer to pack (which holds the blobs). */
int cs_pack_finish(const cs_repo_keys *k, const cs_pack_blob *b, size_t n, cs_buf *pack);
/* The trailer (last 8 bytes, at the end of tail) of a pack of pack_len
 * bytes: the sealed header's length in *hlen. */
int cs_pack_trailer(const uint8_t *tail, size_t tail_len, uint64_t pack_len, uint32_t *hlen);
/* Open the sealed header (hlen bytes that end 8 bytes before the end). */
int cs_pack_open_header(const cs_repo_keys *k, const uint8_t *sealed, uint32_t hlen, uint64_t pack_len,
                        cs_pack_blob **out, size_t *n);
/* Read the header of a whole pack in memory. */
int cs_pack_read_header(const cs_repo_keys *k, const uint8_t *pack, size_t len,
                        cs_pack_blob **out, size_t *n);

/* ---- the repository object ---- */
struct cs_repo {
    cs_storage *st;
    char *prefix;
    cs_repo_keys *keys;
    cs_id repo_id;
    cs_chunker *chunker; /* secret gear table: secure memory */
    cs_index index;
    size_t index_files;
    size_t damaged_index;
    char *cache_dir;    /* <cache>/<repo id>, or NULL */
    cs_id *index_ids;   /* the index objects loaded */
    size_t nindex_ids;
    bool has_lock;
    cs_id lock_id;
    bool lock_exclusive;
    pthread_t lock_thread;
    bool lock_thread_running;
    pthread_mutex_t lock_mu;
    pthread_cond_t lock_cv;
    bool lock_stop;
    int64_t lock_time;   /* when the lock was taken (Unix s) */
    bool index_after_lock; /* the index was listed after our lock was stored (CS_REPO_OPEN_LOCKED) */
    cs_id *pre_snapshots;  /* a listing of snapshots/ made by the open, for the first cs_repo_list_ids */
    size_t npre_snapshots;
    bool have_pre_snapshots;
    bool headers_read;   /* cs_repo_index_unindexed ran */
    int config_err;      /* storage's config: 0, -ENOENT or -EBADMSG (then chunker NULL unless a copy was found) */
    cs_buf config_copy;  /* the verified local copy used instead of storage's (sealed bytes) */
};

/* ---- locks (lock.c) ----
 * cs_repo_lock() in steps, for an open that overlaps them with its other
 * requests: put our lock (a new random id); then, only once that is
 * stored, list locks/ and check the listing (conflict: our lock is
 * removed, -EBUSY; else the lock is held and refreshed); drop removes ours
 * when the open fails in between. */
int cs_repo_lock_put(cs_repo *r, bool exclusive);
int cs_repo_lock_check(cs_repo *r, const cs_id *ids, size_t n);
void cs_repo_lock_drop(cs_repo *r);

/* ---- the config object (repo_config.c) ---- */
#define CS_CONFIG_VERSION 1
#define CS_CONFIG_LEN (4 * 4 + 32 + 256 * 8)
#define CS_CONFIG_SEALED_MAX 4096
/* Read storage's config; keep a verified copy under root/<repo id>/config
 * (root may be NULL).  When storage's is missing or does not authenticate
 * but the repository is ours, the local copy is used, or none (chunker NULL:
 * read-only); r->config_err says which.  -ENOENT: no repository;
 * -EBADMSG: another account's. */
int cs_repo_load_config(cs_repo *r, const char *root);

/* ---- the data/ listing, sorted by id ---- */
typedef struct cs_pent {
    cs_id id;
    uint64_t size;
    bool known; /* named by the index */
} cs_pent;
typedef struct cs_plist {
    cs_pent *v;
    size_t n, cap;
} cs_plist;
int cs_plist_load(cs_repo *r, cs_plist *p);
cs_pent *cs_plist_find(cs_plist *p, const cs_id *id);
void cs_plist_free(cs_plist *p);

/* Temporary objects (interrupted writes) under the repository: how many,
 * their bytes; with remove_before > 0 those last written before that time
 * (Unix s) are deleted and counted instead.  0 when the storage has none. */
int cs_repo_temp_objects(cs_repo *r, int64_t remove_before, uint64_t *count, uint64_t *bytes);

/* The pack-header fallback: read the headers of packs in data/ that no
 * index object names and add their blobs to the in-memory index (packs
 * flagged unindexed).  Runs once per open; returns the number of packs
 * added.  *damaged (may be NULL) counts headers that do not authenticate.
 * Not while other threads read the index. */
int cs_repo_index_unindexed(cs_repo *r, uint64_t *damaged);

/* Storage key of an object: prefix + kind + '/' + hex (data adds xx/), in
 * out[CS_REPO_KEY_MAX]; -ENAMETOOLONG when it does not fit (a cut key would
 * name another object).  Cannot fail for a repository from cs_repo_init()
 * or cs_repo_open*(): they refuse a prefix longer than CS_REPO_PREFIX_MAX,
 * which leaves room for the longest kind and id. */
#define CS_REPO_KEY_MAX 1200
#define CS_REPO_PREFIX_MAX (CS_REPO_KEY_MAX - 128)
int cs_repo_key(const cs_repo *r, const char *kind, const cs_id *id, char *out, size_t outlen);
int cs_repo_get_sealed(cs_repo *r, const char *kind, int type, const cs_id *id, cs_buf *out);
/* The same for each of ids, in their order: cb(ud, i, rc, plaintext) once
 * for each (rc as cs_repo_get_sealed's; a negative cb return stops and is
 * returned).  Those the cache lacks are fetched CS_REPO_FETCH_AT_ONCE at a
 * time (a new machine's first open: one round trip per 8, not per object),
 * at most that many held at once; those it has are read one at a time. */
#define CS_REPO_FETCH_AT_ONCE 8
typedef int (*cs_repo_sealed_cb)(void *ud, size_t i, int rc, const cs_buf *pt);
int cs_repo_get_sealed_each(cs_repo *r, const char *kind, int type, const cs_id *ids, size_t n,
                            cs_repo_sealed_cb cb, void *ud);
int cs_repo_put_sealed(cs_repo *r, const char *kind, int type, const cs_id *id, const void *pt,
                       size_t len, int flags);
int cs_repo_reload_index(cs_repo *r);
/* Drop local copies of kind's objects that are not in ids (deleted remotely). */
void cs_repo_cache_sync(cs_repo *r, const char *kind, const cs_id *ids, size_t n);
/* List ids under kind ("index", "snapshots", "locks", "data"). */
int cs_repo_list_ids(cs_repo *r, const char *kind, cs_id **ids, size_t *n);
/* Fetch and open one blob found in the index. */
int cs_repo_load_blob(cs_repo *r, const cs_id *id, int type, cs_buf *out);
/* The same with caller-owned scratch buffers and decompressor (hot loops). */
int cs_repo_load_blob2(cs_repo *r, const cs_id *id, int type, cs_buf *raw, cs_buf *tmp, cs_buf *out, void *dctx);
/* Write an index object for packs; returns its id in *out (may be NULL). */
/* Write packs[0..n) as index objects of at most CS_INDEX_OBJECT_BLOBS blobs
 * each; returns the number of objects written or a negative errno. */
#define CS_INDEX_OBJECT_BLOBS 65536u
int cs_repo_write_index(cs_repo *r, const cs_index_pack_blobs *packs, size_t n);

/* Pack uploader shared by backup and prune. */
typedef struct cs_pack_writer cs_pack_writer;
int cs_pack_writer_new(cs_repo *r, int uploaders, cs_pack_writer **out);
/* Add a sealed blob; the entry must have been claimed (PENDING) by the caller. */
int cs_pack_writer_add(cs_pack_writer *p, int type, const cs_id *id, const uint8_t *enc, size_t enc_len,
                       uint32_t raw_len);
/* The same without an intermediate buffer: reserve enc_len bytes for the
 * blob in the open pack of its type, write the sealed blob at *dst (no lock
 * held), then cs_pack_writer_commit(p, ticket, 0).  The pack is uploaded
 * only after every reservation in it is committed.  Every successful reserve must be
 * committed. */
int cs_pack_writer_reserve(cs_pack_writer *p, int type, const cs_id *id, size_t enc_len, uint32_t raw_len,
                           uint8_t **dst, void **ticket);
/* error < 0: the blob at *dst could not be written; the pack writer fails
 * (that pack is never stored) and every later call returns the error. */
void cs_pack_writer_commit(cs_pack_writer *p, void *ticket, int error);
/* Flush everything, write the final index; returns the first error. */
int cs_pack_writer_finish(cs_pack_writer *p);
void cs_pack_writer_free(cs_pack_writer *p);
uint64_t cs_pack_writer_bytes(cs_pack_writer *p);

/* restore_existing.c: what restore does with what the target holds already. */
struct cs_tree;
enum { CS_RESTORE_NEW, CS_RESTORE_REPLACE, CS_RESTORE_SAME, CS_RESTORE_KEEP };
/* CS_RESTORE_NEW etc. for the snapshot's non-directory node nd at dest. */
int cs_restore_decide(const cs_node *nd, const char *dest, int overwrite);
/* Remove (or with dry_run only report) the entries of directory dest that
 * tree t does not have; counts them in *deleted. */
int cs_restore_delete_extra(const char *dest, const struct cs_tree *t, const cs_restore_opts *o, uint64_t *deleted);

#endif
