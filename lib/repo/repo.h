/* SPDX-License-Identifier: MIT */
/* The backup repository: public API used by the CLI, the agent and tests.
 * Format and reasons: docs/repository.md.
 *
 * Threading: a cs_repo is used by one command at a time; backup and restore
 * run their own worker threads internally. */
#ifndef CS_REPO_REPO_H
#define CS_REPO_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "crypto/keys.h"
#include "storage/storage.h"

#define CS_ID_LEN 32
typedef struct cs_id { uint8_t b[CS_ID_LEN]; } cs_id;

typedef struct cs_repo cs_repo;

/* Create a repository under prefix (e.g. "users/alice/backup/").
 * -EEXIST if one is there already. */
int cs_repo_init(cs_storage *st, const char *prefix, const cs_amk *amk);
/* Open: read and authenticate the config, load the index.  -ENOENT when no
 * repository exists, -EBADMSG when the config does not authenticate (wrong
 * key or tampering). */
int cs_repo_open(cs_storage *st, const char *prefix, const cs_amk *amk, cs_repo **out);
/* The same with a local cache of the immutable index and snapshot objects
 * under cache_dir/<repo id>/ (NULL = none): opening then costs one listing
 * per kind and fetches only objects not seen before (what matters on S3). */
int cs_repo_open_cached(cs_storage *st, const char *prefix, const cs_amk *amk, const char *cache_dir,
                        cs_repo **out);
/* The same with flags.  cache_dir/<repo id>/config also keeps a verified
 * copy of the config object, used when storage's is missing or damaged
 * (docs/repository.md, "Config"); without one the repository opens without
 * its config: everything but backup works. */
#define CS_REPO_NO_OBJECT_CACHE 0x1 /* index and snapshot objects from storage only (check, repair) */
/* Take the shared lock while opening (backup): the lock's PUT goes with the
 * config's GET and the snapshots' listing, the listings of locks and index
 * together once the lock is stored; cs_backup() then neither locks nor
 * re-reads the index.  Two round trips in all (docs/repository.md,
 * "Opening"). */
#define CS_REPO_OPEN_LOCKED 0x2
int cs_repo_open_ex(cs_storage *st, const char *prefix, const cs_amk *amk, const char *cache_dir, int flags,
                    cs_repo **out);
void cs_repo_close(cs_repo *r);
/* Repository id in hex (65 bytes). */
void cs_repo_id_hex(const cs_repo *r, char out[65]);

/* ---- snapshots ---- */
typedef struct cs_backup_summary {
    uint64_t files_new, files_changed, files_unchanged, dirs, others;
    uint64_t bytes_processed, bytes_added, bytes_stored, blobs_added;
    uint64_t errors;         /* files or directories that could not be read (left out) */
    uint64_t files_vanished; /* deleted (or no longer a regular file) between the walk and the read: left out */
    uint64_t files_unstable; /* still changing after CS_BACKUP_READ_TRIES reads: saved as last read */
    uint64_t lost;           /* files and directories 'repair snapshots' left out: their data was lost */
    double duration;
} cs_backup_summary;

typedef struct cs_snapshot {
    cs_id id;
    int64_t time_sec;
    uint32_t time_ns;
    char *host, *user;
    uint32_t uid;
    char **paths;
    size_t npaths;
    char **tags;
    size_t ntags;
    bool has_parent;
    cs_id parent;
    cs_id tree;
    cs_backup_summary summary;
} cs_snapshot;

void cs_snapshot_clear(cs_snapshot *s);
void cs_snapshots_free(cs_snapshot *v, size_t n);
/* All snapshots, oldest first.  Damaged ones are reported (log) and
 * counted in *damaged (may be NULL), not returned. */
int cs_snapshot_list(cs_repo *r, cs_snapshot **out, size_t *n, size_t *damaged);
/* "latest", a full id or a unique hex prefix (>= 4 digits).  -ENOENT, or
 * -ENOTUNIQ for an ambiguous prefix. */
int cs_snapshot_find(cs_repo *r, const char *spec, cs_snapshot *out);
/* Parse/encode (for tests and fuzzing): JSON text of a snapshot. */
int cs_snapshot_parse(const uint8_t *data, size_t len, cs_snapshot *out);
void cs_id_hex(const cs_id *id, char out[65]);
int cs_id_parse(const char *hex, cs_id *out);

/* ---- backup ---- */
typedef struct cs_progress {
    uint64_t files, dirs, bytes, bytes_added, errors;
    uint64_t total_files, total_bytes; /* 0 when unknown */
    double elapsed;
    const char *current;
} cs_progress;
typedef void (*cs_progress_cb)(const cs_progress *p, void *ud);

typedef struct cs_backup_opts {
    const char *const *paths;    /* absolute paths */
    size_t npaths;
    const char *const *excludes; /* fnmatch patterns: "name", "/abs/path", "dir/" */
    size_t nexcludes;
    const char *const *tags;
    size_t ntags;
    bool one_file_system;
    bool exclude_caches;         /* leave out directories with a CACHEDIR.TAG (signed) */
    const char *const *exclude_if_present; /* leave out directories holding one of these names */
    size_t nexclude_if_present;
    const char *cache_dir;       /* file-change cache dir; NULL = no cache */
    const char *host;            /* NULL = gethostname */
    int workers;                 /* 0 = number of online CPUs (max 8) */
    cs_progress_cb progress;     /* called ~4 times a second from the main thread */
    void *progress_ud;
} cs_backup_opts;

/* Back up; fills *snap (caller clears).  Returns 0 (vanished files are only
 * noticed and counted), 1 when the snapshot was written but some files could
 * not be read or kept changing while read (summary.errors, .files_unstable),
 * or -errno when no snapshot was written.  A file replaced between the walk
 * and the read (an application rewriting it by rename) is saved with the
 * metadata of the file actually read. */
#define CS_BACKUP_READ_TRIES 3
int cs_backup(cs_repo *r, const cs_backup_opts *o, cs_snapshot *snap);
/* backup --dry-run: call cb for each path a backup with o would save (the
 * same excludes), reading no file and touching no repository. */
struct stat;
typedef void (*cs_backup_list_cb)(const char *path, const struct stat *st, void *ud);
int cs_backup_list(const cs_backup_opts *o, cs_backup_list_cb cb, void *ud);

/* ---- restore ---- */
/* What restore does with a file that exists in the target already.  A file
 * with the snapshot's size and modification time (a symlink with its target)
 * is the same and left alone except with ALWAYS. */
enum { CS_OVERWRITE_NEVER = 0,   /* keep every file that differs (default) */
       CS_OVERWRITE_IF_CHANGED,  /* replace a file that differs */
       CS_OVERWRITE_IF_NEWER,    /* replace a file older than the snapshot's */
       CS_OVERWRITE_ALWAYS };
typedef struct cs_restore_opts {
    const char *target;          /* directory (created) */
    const char *subpath;         /* NULL or path inside the snapshot */
    const char *const *includes; /* fnmatch patterns on snapshot paths; none = all */
    size_t nincludes;
    int workers;
    bool verbose;
    int overwrite;               /* CS_OVERWRITE_* */
    bool dry_run;                /* change nothing, report what would change */
    bool delete_extra;           /* remove what the snapshot does not have (no includes) */
    /* called (main thread) with "restore", "overwrite", "keep" (differs,
     * left alone) or "delete" and the target path; may be NULL */
    void (*report)(const char *what, const char *path, void *ud);
    void *report_ud;
} cs_restore_opts;
typedef struct cs_restore_result {
    uint64_t files, dirs, others, bytes, errors, damaged;
    uint64_t kept, unchanged, deleted; /* existing files left alone (differing / same), removed */
    uint64_t unmatched;          /* --include patterns that matched nothing (logged) */
} cs_restore_result;
/* Returns 0, or -EBADMSG when some data was damaged (res->damaged files not
 * restored, everything else was), or another -errno. */
int cs_restore(cs_repo *r, const cs_snapshot *s, const cs_restore_opts *o, cs_restore_result *res);

/* ---- walking snapshot trees (ls, diff) ---- */
typedef struct cs_node cs_node; /* see tree.h */
typedef int (*cs_walk_cb)(const char *path, const cs_node *n, void *ud);
/* Walk s depth-first in name order from subpath (NULL = root). */
int cs_walk(cs_repo *r, const cs_snapshot *s, const char *subpath, cs_walk_cb cb, void *ud);
typedef int (*cs_diff_cb)(char what, const char *path, const cs_node *a, const cs_node *b, void *ud);
/* what: '+' added, '-' removed, 'M' content changed, 'U' metadata only, 'T' type changed */
int cs_diff(cs_repo *r, const cs_snapshot *a, const cs_snapshot *b, cs_diff_cb cb, void *ud);

/* ---- check ---- */
typedef struct cs_check_opts {
    int read_data_percent; /* 0 = structure only, 100 = read every pack */
} cs_check_opts;
typedef struct cs_check_result {
    uint64_t packs, packs_read, blobs, trees, snapshots, errors;
    uint64_t unreferenced_packs; /* in data/, named by no index object */
    uint64_t unindexed_needed;   /* of those, packs holding blobs a snapshot needs */
    uint64_t unindexed_damaged;  /* of those, packs whose header does not authenticate */
    uint64_t temp_objects, temp_bytes; /* leftovers of interrupted writes */
    uint64_t locks_damaged;
} cs_check_result;
/* 0 = no errors, -EBADMSG = errors found (each named in the log). */
int cs_check(cs_repo *r, const cs_check_opts *o, cs_check_result *res);

/* ---- forget / prune ---- */
typedef struct cs_forget_policy {
    int last, hourly, daily, weekly, monthly, yearly; /* 0 = unused */
} cs_forget_policy;
/* Decide which snapshots to keep: keep[i] for snaps[i] (oldest first). */
void cs_forget_plan(const cs_snapshot *snaps, size_t n, const cs_forget_policy *p, bool *keep);
/* What makes snapshots one group for forget (restic's --group-by). */
enum { CS_GROUP_HOST = 1, CS_GROUP_PATHS = 2, CS_GROUP_TAGS = 4 };
/* (Applied per group by cs_retention_decide_grouped(), lib/agent/retention.h.) */
/* Do a and b fall into one group by the CS_GROUP_* bits in by? */
bool cs_snapshot_same_group(const cs_snapshot *a, const cs_snapshot *b, unsigned by);
/* Parse "host,paths,tags" (any of them, or "" for one group) into CS_GROUP_*. */
int cs_group_by_parse(const char *s, unsigned *out);
typedef struct cs_prune_result {
    uint64_t packs_deleted, packs_rewritten, bytes_freed, blobs_kept, blobs_removed, packs_kept;
    uint64_t blobs_unused_kept;         /* unused, in packs kept (rewriting them is not worth it) */
    uint64_t temp_removed, temp_bytes;  /* leftovers of interrupted writes */
    uint64_t bytes_repacked;            /* size of the packs rewritten */
    uint64_t bytes_repack_left, packs_repack_left; /* over max_repack: kept for the next prune */
} cs_prune_result;
typedef struct cs_prune_opts {
    bool dry_run;
    /* Bytes of packs one prune may rewrite, those with the most unused data
     * first (restic's --max-repack-size); 0 = no bound.  Deleting packs
     * nothing uses is not bounded. */
    uint64_t max_repack;
} cs_prune_opts;
/* o may be NULL: no dry run, no bound. */
int cs_prune(cs_repo *r, const cs_prune_opts *o, cs_prune_result *res);
int cs_snapshot_delete(cs_repo *r, const cs_id *id);

/* ---- repair ---- */
typedef struct cs_repair_index_result {
    uint64_t packs, blobs;                /* indexed anew */
    uint64_t damaged_packs, damaged_blobs; /* left out (named in the log) */
    uint64_t index_written, index_removed;
} cs_repair_index_result;
/* Rebuild the index from the packs' own headers: every pack in data/ is
 * read, every blob decrypted and its id recomputed; new index objects are
 * written, and only then the old ones removed.  Exclusive lock. */
int cs_repair_index(cs_repo *r, cs_repair_index_result *res);

typedef struct cs_repair_snap {
    cs_id old_id, new_id; /* new_id is zero for a snapshot object that was itself unreadable */
    uint64_t lost;        /* files and directories left out (each named in the log) */
} cs_repair_snap;
typedef struct cs_repair_snapshots_result {
    uint64_t snapshots;   /* examined */
    uint64_t trees;       /* distinct trees read: a tree the snapshots share is read once */
    cs_repair_snap *repaired;
    size_t nrepaired;
} cs_repair_snapshots_result;
/* For every snapshot whose trees or data are damaged or missing, write a
 * new snapshot keeping everything still readable (tag "repaired",
 * summary.lost), then remove the original; an unreadable snapshot object
 * is removed.  read_data: also decrypt every blob (else the index and the
 * data/ listing decide).  Refuses (-EBADMSG) while the index is damaged or
 * lacks data a snapshot needs: 'repair index' first.  Exclusive lock. */
int cs_repair_snapshots(cs_repo *r, bool dry_run, bool read_data, cs_repair_snapshots_result *res);
void cs_repair_snapshots_result_free(cs_repair_snapshots_result *res);

typedef struct cs_repair_config_result {
    int storage_err; /* what storage held: 0 a config that authenticates, -ENOENT none, -EBADMSG damaged */
    bool written;    /* the verified local copy was put back */
} cs_repair_config_result;
/* Put the verified local copy of the config (found at open) back into
 * storage when storage's is missing or does not authenticate; never over
 * one that authenticates.  -ENOENT: no local copy on this machine. */
int cs_repo_repair_config(cs_repo *r, cs_repair_config_result *res);

/* ---- stats ---- */
typedef struct cs_repo_stats {
    uint64_t snapshots, packs, blobs, data_blobs, tree_blobs, stored_bytes, raw_bytes, index_files;
} cs_repo_stats;
int cs_repo_stats_get(cs_repo *r, cs_repo_stats *st);

/* ---- locks ---- */
int cs_repo_lock(cs_repo *r, bool exclusive);
void cs_repo_unlock(cs_repo *r);
/* Every lock object: who holds it, and whether it counts as stale (older
 * than 30 min without a refresh, or its process is gone on this host) or
 * cannot be read (not sealed with this repository's keys). */
typedef struct cs_lock_entry {
    cs_id id;
    char host[256];
    long long pid, time; /* time: last written (taken or refreshed), Unix s */
    bool exclusive, stale, unreadable, ours;
} cs_lock_entry;
int cs_repo_list_locks(cs_repo *r, cs_lock_entry **out, size_t *n);
/* Remove one lock object (-ENOENT if it is gone already). */
int cs_repo_remove_lock(cs_repo *r, const cs_id *id);
/* Remove stale and unreadable locks; returns how many. */
int cs_repo_remove_stale_locks(cs_repo *r);

#endif
