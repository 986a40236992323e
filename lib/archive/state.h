/* SPDX-License-Identifier: MIT */
/* The archive's merged state (a state-based CRDT, docs/archive.md sections
 * 6-7) plus this device's record of what is on its disk.  Saved as
 * <state_dir>/state: binary, BLAKE2b-checksummed, replaced atomically. */
#ifndef CS_ARCHIVE_STATE_H
#define CS_ARCHIVE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "archive/entry.h"
#include "archive/seal.h"

#define CS_ARCH_MAX_DEVICES 4096
#define CS_ARCH_MAX_INSTANCES (16u << 20)
#define CS_ARCH_STATE_MAX (2u << 30)
#define CS_ARCH_MD_ID_BYTES 16

/* A register write: ordered by (hlc, device id). dev indexes state->devs. */
typedef struct cs_lww {
    cs_hlc hlc;
    uint16_t dev;
} cs_lww;

typedef struct cs_flag_stamp {
    uint8_t bit;
    cs_lww w;
} cs_flag_stamp;

typedef struct cs_arch_inst {
    char *key;
    bool has_add, deleted;
    cs_lww del_w;            /* the first deletion (min stamp): when, and by which device */
    /* content, from the ADD with the smallest stamp */
    cs_lww add_w;
    uint8_t id[CS_ARCH_ID_BYTES];
    cs_arch_ref ref;
    int64_t mtime;           /* received date for the file, from the same ADD */
    /* placement registers */
    char *folder;
    cs_lww folder_w;
    uint8_t subdir;
    cs_lww subdir_w;
    uint64_t flags;
    cs_lww flags_base_w;     /* stamp of every flag without its own entry below */
    uint8_t nflagw;
    cs_flag_stamp *flagw;    /* flags written after flags_base_w */
    /* this device's disk */
    bool local_present;
    bool local_stale;        /* the file on disk holds other content than id */
    char *local_folder;
    uint8_t local_subdir;
    char *local_name;
    /* the file as last seen (rename keeps these): a change means it was
     * edited in place.  All 0 = not known yet. */
    uint64_t local_ino, local_size;
    int64_t local_mtime_ns;
    /* tombstone collection (docs/archive.md section 8, R4): wall-clock ms
     * of the collection that first found every device's claim covering
     * this deletion (0 = not yet) */
    uint64_t collect_since;
    bool scan_seen;          /* transient: found by this sync's scan */
    bool scan_named;         /* transient: its unique name is somewhere in this scan */
} cs_arch_inst;

/* A Maildir++ folder as an LWW register (DIR entries): created or removed,
 * so that empty folders travel too.  A folder holding live messages is on
 * disk whatever the register says. */
typedef struct cs_arch_folder {
    char *name;
    bool exists;
    cs_lww w;
    bool local;              /* on this device's disk (last scan or materialise) */
} cs_arch_folder;

#define CS_ARCH_MAX_FOLDERS 65536

/* One entry of a device's claim: it merged every entry of device dev
 * stamped up to hlc and applied the resulting deletions to its disk. */
typedef struct cs_arch_front {
    uint16_t dev;     /* index in the state's devs */
    cs_hlc hlc;
} cs_arch_front;

#define CS_ARCH_MAX_COLLECTED (4u << 20)

typedef struct cs_arch_dev {
    uint8_t id[CS_ARCH_DEV_BYTES];
    uint64_t applied; /* highest contiguous segment sequence merged */
    uint64_t floor;   /* lowest sequence that must still be in storage: that
                         of the last compacted segment seen (0 = 1) */
    cs_hlc seen;      /* highest stamp merged from its log */
    bool retired;     /* forgotten (archive forget-device): never claims again */
    /* its latest claim (docs/archive.md section 8, R2), from its compacted
     * segment claim_seq: counts only while that is its lowest segment */
    bool claimed;
    uint64_t claim_seq, claim_t; /* claim_t: wall-clock ms of the compaction */
    uint16_t nfront;
    cs_arch_front *front;
    uint64_t lowest;  /* its lowest sequence in the last sync's LIST (0 = none) */
} cs_arch_dev;

typedef struct cs_arch_state {
    cs_hlc clock;
    size_t ndevs;
    cs_arch_dev *devs;      /* devs[0] is this device */
    size_t ninst, cap;
    cs_arch_inst **inst;
    size_t hcap;            /* open-addressing hash: key -> inst index + 1 */
    uint32_t *hash;
    size_t nfolders;
    cs_arch_folder *folders;
    /* the Maildir this state was made from (docs/archive.md section 9):
     * the id in its marker file and its st_dev (0 = not a stable number) */
    /* keys whose tombstone was collected (R6), as cs_arch_key_hash values,
     * sorted: a name among them is never recorded again */
    size_t ncollected;
    uint64_t *collected;
    bool md_bound;
    uint8_t md_id[CS_ARCH_MD_ID_BYTES];
    uint64_t md_dev;
    bool dirty;
} cs_arch_state;

/* A new state for a fresh device (random device id). */
int cs_arch_state_new(cs_arch_state **out);
void cs_arch_state_free(cs_arch_state *st);

cs_arch_inst *cs_arch_state_find(const cs_arch_state *st, const char *key);
/* Find or create the instance for key. */
int cs_arch_state_get(cs_arch_state *st, const char *key, cs_arch_inst **out);
/* The folder record of name, or NULL. */
cs_arch_folder *cs_arch_state_folder(cs_arch_state *st, const char *name);
/* Find or create (not existing, not local) the folder record of name:
 * 0, -E2BIG past CS_ARCH_MAX_FOLDERS, or -ENOMEM. */
int cs_arch_state_folder_get(cs_arch_state *st, const char *name, cs_arch_folder **out);

/* Index of device id, added when unknown (-E2BIG past CS_ARCH_MAX_DEVICES). */
int cs_arch_state_dev(cs_arch_state *st, const uint8_t id[CS_ARCH_DEV_BYTES]);

/* Tombstone collection (collect.c).  The 64-bit hash of a unique name kept
 * once its tombstone is dropped. */
uint64_t cs_arch_key_hash(const char *key);
bool cs_arch_collected(const cs_arch_state *st, const char *key);
/* Add hashes (any order, duplicates allowed) to the sorted set: -E2BIG
 * past CS_ARCH_MAX_COLLECTED, nothing added. */
int cs_arch_collected_add(cs_arch_state *st, const uint64_t *h, size_t n);
/* Drop the instances marked by drop[i] (index in st->inst). */
int cs_arch_state_remove(cs_arch_state *st, const bool *drop);

/* Merge one entry written by device index dev.  Entries of a collected
 * key are ignored (after R4 they can only be deletions).  Returns 1 when the state
 * changed, 0 when the entry was already reflected (idempotence). */
int cs_arch_state_apply(cs_arch_state *st, uint16_t dev, const cs_arch_entry *e);

/* Compare two writes: <0, 0, >0. */
int cs_lww_cmp(const cs_arch_state *st, cs_lww a, cs_lww b);

/* Serialise / parse.  Parsing treats the bytes as hostile: -EBADMSG for
 * anything malformed or failing the checksum. */
int cs_arch_state_encode(const cs_arch_state *st, cs_buf *out);
/* The same in an older version (2: what tombstone collection keeps is
 * left out), for the golden fixtures' checks; -EINVAL for others. */
int cs_arch_state_encode_as(const cs_arch_state *st, uint8_t version, cs_buf *out);
int cs_arch_state_decode(const uint8_t *data, size_t len, cs_arch_state **out);

/* Set a local placement (copies strings). */
int cs_arch_inst_set_local(cs_arch_inst *in, const char *folder, int subdir, const char *name);
struct stat;
void cs_arch_inst_set_stat(cs_arch_inst *in, const struct stat *st);
/* Whether st differs from the file as last seen (false when not known). */
bool cs_arch_inst_stat_changed(const cs_arch_inst *in, const struct stat *st);
void cs_arch_inst_clear_local(cs_arch_inst *in);

#endif
