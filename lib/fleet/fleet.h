/* SPDX-License-Identifier: MIT */
/* The fleet directory: who exists on every workstation of a fleet.
 *
 *   source file (JSON, kept by admins in git)  --admin publish-->
 *   signed directory (fleet/directory in storage: Ed25519 over the body)
 *   --cloudseal-helper directory-sync-->  compiled cache file (mmap, NSS)
 *
 * The format of each stage and the rules are in docs/directory.md.  Every
 * function returns 0 or a negative errno; those that can reject input also
 * fill a cs_fleet_err with a sentence that names the offending entry.
 */
#ifndef CS_FLEET_FLEET_H
#define CS_FLEET_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "basic/user_name.h"
#include "config/config.h"
#include "storage/storage.h"
#include "util/buf.h"

#define CS_FLEET_PK_BYTES 32          /* Ed25519 public key (fleet and account keys) */
#define CS_FLEET_SEED_BYTES 32        /* Ed25519 seed, what the secret key file holds */
#define CS_FLEET_ESCROW_PK_BYTES 32   /* X25519 (crypto_box) public key */
#define CS_FLEET_NAME_MAX CS_USER_NAME_MAX /* user and group names */
#define CS_FLEET_FIELD_MAX 1024       /* gecos, home, shell */
#define CS_FLEET_MAX_SIGNED (64u << 20)  /* upper bound of fleet/directory */
#define CS_FLEET_STORAGE_KEY "fleet/directory"

typedef struct cs_fleet_err {
    char msg[320];
} cs_fleet_err;

typedef struct cs_fleet_user {
    char *name;
    uint32_t uid, gid;
    char *gecos, *home, *shell;
    char **groups;               /* supplementary group names (also via group members) */
    size_t n_groups;
    bool has_key;
    uint8_t key[CS_FLEET_PK_BYTES]; /* pinned account public key */
    bool disabled;
    bool private_group;          /* no "gid" in JSON: a group of the user's name, gid = uid */
    uint64_t keybag_generation;  /* "keybag": the newest keybag admins know of (0: none); */
    uint8_t keybag_sha256[32];   /* older ones are refused at login (docs/keybag.md) */
    int64_t keybag_one_time;     /* source only: when admin enroll-user/recover-user made that
                                    keybag (its password is one-time); 0: the user's own */
} cs_fleet_user;

typedef struct cs_fleet_group {
    char *name;
    uint32_t gid;
    char **members;              /* user names */
    size_t n_members;
} cs_fleet_group;

typedef struct cs_directory {
    char *fleet;                 /* fleet name, informational */
    uint32_t id_min, id_max;     /* allocation range used by `admin add-user` */
    uint64_t serial;             /* source: last published; body: this one */
    int64_t issued, expires;     /* body only (unix seconds) */
    bool has_escrow;
    uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES];
    bool has_report;             /* "report_key": where health reports are sealed (docs/reports.md) */
    uint8_t report_pk[CS_FLEET_ESCROW_PK_BYTES];
    cs_fleet_user *users;
    size_t n_users;
    cs_fleet_group *groups;
    size_t n_groups;
} cs_directory;

/* "2026-12-28 02:13 UTC" for messages; out must hold 32 bytes. */
const char *cs_fleet_time_str(int64_t t, char out[32]);

/* ---- model (directory.c) ---- */
int cs_directory_new(cs_directory **out);
void cs_directory_free(cs_directory *d);
static inline void cs_directory_freep(cs_directory **d) { if (*d) cs_directory_free(*d); }
#define _cleanup_directory_ __attribute__((cleanup(cs_directory_freep)))
cs_fleet_user *cs_directory_find_user(const cs_directory *d, const char *name);
cs_fleet_group *cs_directory_find_group(const cs_directory *d, const char *name);
/* Appends a zeroed entry with name set; -EEXIST if the name is taken. */
int cs_directory_add_user(cs_directory *d, const char *name, cs_fleet_user **out);
int cs_directory_add_group(cs_directory *d, const char *name, cs_fleet_group **out);
int cs_directory_remove_user(cs_directory *d, const char *name);   /* also from groups */
int cs_directory_remove_group(cs_directory *d, const char *name);  /* also from users */
int cs_fleet_strv_add(char ***v, size_t *n, const char *s);        /* no duplicates */
/* The groups as workstations see them: the explicit groups, then one
 * private group per user with private_group (name = user name, gid = uid,
 * no members).  A shallow view: names point into d; free only *out. */
int cs_directory_all_groups(const cs_directory *d, cs_fleet_group **out, size_t *n);
int cs_fleet_strv_remove(char ***v, size_t *n, const char *s);
/* The deterministic id for name: id_min + hash(name) mod range, probing
 * upwards past ids already used by users or groups of d.  -ENOSPC if full. */
int cs_directory_allocate_id(const cs_directory *d, const char *name, uint32_t *id);

/* ---- JSON (directory_json.c) ---- */
enum cs_dir_json_mode {
    CS_DIR_SOURCE, /* the admins' file: pretty, no issued/expires */
    CS_DIR_BODY,   /* the signed body: compact, serial/issued/expires required */
};
int cs_directory_from_json(const char *json, size_t len, enum cs_dir_json_mode mode,
                           cs_directory **out, cs_fleet_err *err);
int cs_directory_to_json(const cs_directory *d, enum cs_dir_json_mode mode, char **out, size_t *len);
int cs_directory_load_source(const char *path, cs_directory **out, cs_fleet_err *err);
int cs_directory_save_source(const char *path, const cs_directory *d);

/* ---- rules (validate.c) ---- */
typedef struct cs_local_accounts cs_local_accounts;
/* Names and ids of /etc/passwd and /etc/group (or the given files), read
 * directly: never through NSS, which would include the fleet itself. */
int cs_local_accounts_load(const char *passwd_path, const char *group_path, cs_local_accounts **out);
void cs_local_accounts_free(cs_local_accounts *l);

typedef struct cs_fleet_policy {
    uint32_t id_min, id_max;          /* every uid/gid inside, never 0 */
    const cs_local_accounts *local;   /* NULL: no collision check */
} cs_fleet_policy;
/* Names valid, ids in range and unique, references resolve, no collision
 * with a local account.  -EINVAL with err filled. */
int cs_directory_validate(const cs_directory *d, const cs_fleet_policy *p, cs_fleet_err *err);
/* ---- signing (signed.c) ---- */
/* Serialize d as a body (its serial/issued/expires as set) and sign it with
 * the 64-byte libsodium secret key; out receives the envelope JSON. */
int cs_fleet_sign(const cs_directory *d, const uint8_t *sk64, char **out, size_t *len);
/* Check the envelope's signature against pk, then parse the body.
 * -EBADMSG malformed, -EKEYREJECTED bad signature or wrong key. */
int cs_fleet_open_signed(const uint8_t *data, size_t len, const uint8_t pk[CS_FLEET_PK_BYTES],
                         cs_directory **out, cs_fleet_err *err);

/* ---- keys (keys.c) ---- */
/* Base64 (standard alphabet) or 64 hex digits -> 32 bytes. */
int cs_fleet_decode_key(const char *text, uint8_t out[32]);
void cs_fleet_encode_key(const uint8_t key[32], char out[48]);
/* A public key file: '#' comments and one base64 (or hex) line. */
int cs_fleet_read_pubkey(const char *path, uint8_t pk[CS_FLEET_PK_BYTES]);
/* [fleet] public_key, else the file [fleet] public_key_file. */
int cs_fleet_config_pubkey(const cs_config *cfg, uint8_t pk[CS_FLEET_PK_BYTES]);
/* Is this machine a fleet workstation (that key readable)?  Those file
 * keybag seals when a keybag changes (keybag_seal.h). */
bool cs_fleet_configured(const cs_config *cfg);
int cs_fleet_write_pubkey(const char *path, const uint8_t pk[32], const char *comment);
/* Secret key files: created 0600 with O_EXCL; the seed is read into secure
 * memory and the returned sk64 (cs_secure_alloc, 64 bytes) must be freed
 * with cs_secure_free. */
int cs_fleet_write_secret(const char *path, const uint8_t *seed32, const char *comment);
int cs_fleet_read_signing_key(const char *path, uint8_t **sk64);
/* The 32 bytes of a secret key file (the signing seed, or the escrow X25519
 * secret key) into secure memory; -EPERM when others may read the file. */
int cs_fleet_read_secret32(const char *path, uint8_t **out);
/* users/<user>/<name>: where a user files objects for admins
 * ("enrollment-request", "escrow"); -EINVAL for an invalid user name. */
int cs_fleet_user_object(const char *user, const char *name, char *out, size_t len);

/* ---- cache (cache_write.c) ---- */
/* Compile d into a cache image (lib/basic/dircache.h) and check it with the
 * reader.  compiled = the timestamp to record. */
int cs_fleet_compile_cache(const cs_directory *d, int64_t compiled, cs_buf *out);
/* Atomically replace path (temp file, fsync, rename, fsync dir), 0644. */
int cs_fleet_install_cache(const char *path, const cs_buf *image);

/* ---- sync (sync.c) ---- */
typedef struct cs_fleet_sync_result {
    bool changed;        /* a new cache was installed */
    uint64_t serial;     /* serial now in effect */
    size_t n_users, n_groups;
} cs_fleet_sync_result;
/* Fetch fleet/directory (conditional on the last ETag), verify, compile,
 * install.  Any failure leaves the installed cache untouched and logs why.
 * storage may be NULL: opened from [storage]. */
int cs_fleet_sync(const cs_config *cfg, cs_storage *storage, bool force, cs_fleet_sync_result *res);
/* The same checks on an envelope already in memory (tests, `admin verify`). */
int cs_fleet_accept(const cs_config *cfg, const uint8_t *data, size_t len, uint64_t pinned_serial,
                    int64_t now, cs_directory **out, cs_fleet_err *err);

/* ---- what the last sync said (sync_status.c), kept in [fleet] state ---- */
#define CS_FLEET_REASON_MAX 256
typedef struct cs_fleet_sync_status {
    uint64_t serial;                  /* the pinned serial (0: none recorded) */
    int64_t failed_at;                /* when the last sync failed; 0: it did not */
    bool refused;                     /* ... because the directory broke a rule (else: fetch, write) */
    char reason[CS_FLEET_REASON_MAX]; /* why, printable ASCII */
    char etag[80];                    /* the ETag of the installed directory ("": none) */
} cs_fleet_sync_status;
/* Parse a state file's bytes: 0, -E2BIG over 4 KiB, -EBADMSG malformed
 * (out zeroed).  read: the same from [fleet] state, -ENOENT without one. */
int cs_fleet_sync_status_parse(const char *data, size_t len, cs_fleet_sync_status *out);
int cs_fleet_sync_status_read(const cs_config *cfg, cs_fleet_sync_status *out);
/* The rollback pin: the state's serial, raised to the installed cache's.  A
 * state that cannot be read (other than missing) pins the cache's serial
 * alone, with a warning; with no cache either, no serial can be proven and
 * the read's error is returned (logged).  1 when a usable cache is
 * installed, else 0; out->serial is the pin. */
int cs_fleet_pin_read(const cs_config *cfg, cs_fleet_sync_status *out);
/* Record a failed sync (logged, not returned, when the state cannot be
 * written), or drop the record (a sync found storage matching the cache). */
void cs_fleet_sync_record_failure(const cs_config *cfg, int64_t when, bool refused, const char *reason);
void cs_fleet_sync_clear_failure(const cs_config *cfg);
/* When st records a failure: 1 and "the last directory sync was refused (or
 * failed) at TIME: REASON; the installed directory (serial N) expires at T"
 * in buf; else 0. */
int cs_fleet_sync_warning(const cs_config *cfg, const cs_fleet_sync_status *st, char *buf, size_t len);
/* {"time", "reason", "refused"} for --json, or NULL (JSON null) when the
 * last sync did not fail. */
struct json_object;
struct json_object *cs_fleet_sync_failure_json(const cs_fleet_sync_status *st);

/* ---- login (pinned.c) ---- */
/* Does the installed cache pin exactly pk for the enabled user `user`?
 *   0             yes
 *   -ENOENT       user not in the directory (or no cache)
 *   -EPERM        user disabled
 *   -ENOKEY       no key pinned for the user (enrollment not approved)
 *   -EKEYEXPIRED  the cached directory has expired
 *   -EKEYREJECTED another key is pinned
 *   -EBADMSG      cache corrupt; other -errno */
int cs_fleet_check_pinned(const cs_config *cfg, const char *user, const uint8_t pk[CS_FLEET_PK_BYTES]);
/* The uid and gid the installed cache gives user (user_ids.c): 0, -ENOENT
 * when the user is not in it, or the cache's error. */
int cs_fleet_user_ids(const cs_config *cfg, const char *user, uint32_t *uid, uint32_t *gid);
/* What the installed directory says about user's keys, read before any
 * keybag is touched (the helper passes it to cs_account_unlock_expect):
 * errors as cs_fleet_check_pinned, without -EKEYREJECTED. */
typedef struct cs_fleet_pin {
    uint8_t key[CS_FLEET_PK_BYTES];  /* the pinned account public key */
    uint64_t keybag_generation;      /* the user's "keybag" (0: the directory names none) */
    uint8_t keybag_sha256[32];
} cs_fleet_pin;
int cs_fleet_pinned(const cs_config *cfg, const char *user, cs_fleet_pin *out);
/* The same for an unwrapped AMK: derives its account public key
 * (cs_amk_account_pubkey) and checks it.  What the helper calls after
 * cs_account_unlock succeeded, in authoritative mode. */
/* The fleet's escrow public key (X25519, for crypto_box_seal) from the
 * installed directory: 0, -ENOENT when the fleet has none (or no cache). */
int cs_fleet_escrow_key(const cs_config *cfg, uint8_t pk[CS_FLEET_ESCROW_PK_BYTES]);
struct cs_amk;
int cs_fleet_check_amk(const cs_config *cfg, const char *user, const struct cs_amk *amk);

#endif
