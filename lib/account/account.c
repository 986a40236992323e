/* SPDX-License-Identifier: MIT */
/* A user's account: keybag in storage, local cache, generation pin.
 * The contract is account.h; the keybag format is keybag.h.
 *
 * Cache directory <state_dir>/keybags/<user>/ holds:
 *   keybag      last keybag that unlocked (or that we wrote)
 *   generation  highest generation ever accepted, decimal (the rollback pin)
 *   pending     present when keybag is newer than storage's copy (upload failed)
 *   keybag-seal fleet workstations: the seal of keybag (fleet/keybag_seal.h),
 *               uploaded with it when it was pending
 * The directory is owned by the user and 0700.  A root process acting for
 * the user opens it with O_NOFOLLOW relative to the keybags/ directory and
 * checks its owner, so the user cannot redirect root's writes elsewhere with
 * a symlink; files inside are replaced by rename, never opened through a
 * link, and handed to the user with fchownat(AT_SYMLINK_NOFOLLOW).
 */
#include "account/account.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "basic/user_name.h"
#include "crypto/kdf.h"
#include "crypto/keybag.h"
#include "crypto/recovery.h"
#include "fleet/keybag_seal.h"
#include "storage/storage.h"
#include "storage/storage_s3.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/parse.h"

#define PIN_MAX_BYTES 32
#define CS_SHA256_BYTES crypto_hash_sha256_BYTES
#define STORAGE_KEY_MAX 128

typedef struct user_dir {
    int fd;
    uid_t uid;
    gid_t gid;
} user_dir;

/* What load_keybags() found in storage and in the cache. */
typedef struct sources {
    cs_keybag *storage_kb;
    cs_buf storage_raw;
    uint8_t storage_sha[CS_SHA256_BYTES]; /* of storage_raw, when storage_kb */
    int storage_err;
    cs_keybag *cache_kb;
    uint8_t cache_sha[CS_SHA256_BYTES];   /* of the cached bytes, when cache_kb */
    int cache_err;
    uint64_t pin;
    bool pending;
} sources;

static void sources_free(sources *s)
{
    cs_keybag_free(s->storage_kb);
    cs_keybag_free(s->cache_kb);
    cs_buf_free(&s->storage_raw);
}

/* A login name (basic/user_name.h): it becomes a path and a storage key. */
static int valid_user(const char *user)
{
    return cs_user_name_valid(user, CS_USER_NAME_LOGIN) ? 0 : -EINVAL;
}

int cs_account_cache_dir(const cs_config *cfg, const char *user, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/keybags/%s", cs_config_str(cfg, "paths", "state_dir"), user);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The uid/gid that must own user's cache directory. */
static int owner_of(const char *user, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (geteuid() != 0) { /* a non-root caller may act only for itself */
        *uid = geteuid();
        *gid = getegid();
        return 0;
    }
    if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res) {
        log_error("user %s is unknown to the system (getpwnam)", user);
        return -ENOENT;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return 0;
}

static int open_user_dir(const cs_config *cfg, const char *user, bool create, user_dir *d)
{
    char path[4096];
    _cleanup_close_ int kfd = -1;
    _cleanup_close_ int fd = -1;
    struct stat st;
    int r;

    d->fd = -1;
    if ((r = owner_of(user, &d->uid, &d->gid)) < 0)
        return r;
    if (snprintf(path, sizeof(path), "%s/keybags", cs_config_str(cfg, "paths", "state_dir")) >=
        (int)sizeof(path))
        return -ENAMETOOLONG;
    if (create && (r = cs_mkdir_p(path, 0755)) < 0)
        return r;
    kfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (kfd < 0)
        return -errno;
    fd = openat(kfd, user, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdirat(kfd, user, 0700) < 0 && errno != EEXIST)
            return -errno;
        fd = openat(kfd, user, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && geteuid() == 0 && (fchown(fd, d->uid, d->gid) < 0 || fchmod(fd, 0700) < 0))
            return -errno;
    }
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
        log_error("%s/%s is not a directory (a symlink?); refusing to use it: remove it", path, user);
        return -ENOTDIR;
    }
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_uid != d->uid || (st.st_mode & 022)) {
        log_error("%s/%s must be a directory owned by uid %u with mode 0700; refusing to use it",
                  path, user, (unsigned)d->uid);
        return -EPERM;
    }
    d->fd = CS_TAKE_FD(fd);
    return 0;
}

int cs_account_prepare_cache(const cs_config *cfg, const char *user)
{
    user_dir d = { .fd = -1 };
    int r = valid_user(user);

    if (r == 0)
        r = open_user_dir(cfg, user, true, &d);
    if (d.fd >= 0)
        close(d.fd);
    return r;
}

/* Replace name in the user's directory atomically with a file the user
 * owns: temp file (O_EXCL, no symlink), fchown and fchmod on the open
 * descriptor, fsync, rename.  Never chown by name: the user could have
 * swapped the name for a link to a file of root's by then. */
static int write_owned(const user_dir *d, const char *name, const void *data, size_t len)
{
    char tmp[64];
    _cleanup_close_ int fd = -1;
    int r = 0;

    snprintf(tmp, sizeof(tmp), ".%s.tmp.%08x", name, randombytes_random());
    fd = openat(d->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (geteuid() == 0 && fchown(fd, d->uid, d->gid) < 0)
        r = -errno;
    if (r == 0 && fchmod(fd, 0600) < 0)
        r = -errno;
    if (r == 0)
        r = cs_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(d->fd, tmp, d->fd, name) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(d->fd, tmp, 0);
        return r;
    }
    return fsync(d->fd) < 0 ? -errno : 0;
}

static int read_pin(const user_dir *d, uint64_t *pin)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    char text[PIN_MAX_BYTES + 1];
    uint64_t v;
    int r = cs_read_file_at(d->fd, "generation", PIN_MAX_BYTES, &b);

    *pin = 0;
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    if (b.len && text[b.len - 1] == '\n') /* write_pin() ends the number with one */
        text[b.len - 1] = '\0';
    if (cs_parse_uint(text, 0, UINT64_MAX, &v) < 0) {
        log_warning("ignoring malformed generation pin in the keybag cache; the cached keybag's "
                    "generation is used as the floor");
        return 0;
    }
    *pin = v;
    return 0;
}

static int write_pin(const user_dir *d, uint64_t gen)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", gen);
    return write_owned(d, "generation", text, (size_t)n);
}

/* Cache the keybag bytes and raise the pin to its generation. */
static int save_cache(const user_dir *d, const void *raw, size_t len, uint64_t gen, uint64_t pin)
{
    int r = write_owned(d, "keybag", raw, len);

    if (r == 0 && gen > pin)
        r = write_pin(d, gen);
    return r;
}

static int set_pending(const user_dir *d, bool on)
{
    if (on)
        return write_owned(d, "pending", "1\n", 2);
    if (unlinkat(d->fd, "pending", 0) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int object_key(const char *user, const char *name, char key[STORAGE_KEY_MAX])
{
    int n = snprintf(key, STORAGE_KEY_MAX, "users/%s/%s", user, name);
    return n < 0 || n >= STORAGE_KEY_MAX ? -ENAMETOOLONG : 0;
}

static int storage_key(const char *user, char key[STORAGE_KEY_MAX])
{
    return object_key(user, "keybag", key);
}

/* Storage as configured (credentials, CA, S3 limits: storage_s3.h); on the
 * login path with one short try so that a login never waits on the cloud. */
static int open_storage(const cs_config *cfg, int flags, cs_storage **out)
{
    if (flags & CS_UNLOCK_LOGIN)
        return cs_storage_open_config_login(cfg, out);
    return cs_storage_open_config(cfg, NULL, out);
}

static bool integrity_error(int r)
{
    return r == -EBADMSG || r == -EPROTONOSUPPORT || r == -E2BIG;
}

/* Parse and check the bag belongs to user (the MAC binds the name, checked later). */
static int parse_for(const char *user, const void *data, size_t len, cs_keybag **out)
{
    cs_keybag *kb = NULL;
    int r = cs_keybag_parse(data, len, &kb);

    if (r < 0)
        return r;
    if (strcmp(cs_keybag_user(kb), user) != 0) {
        log_debug("keybag: made for user %s, not %s", cs_keybag_user(kb), user);
        cs_keybag_free(kb);
        return -EBADMSG;
    }
    *out = kb;
    return 0;
}

static void load_cache(const user_dir *d, const char *user, sources *s)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    uint64_t pin = 0;

    s->cache_err = -ENOENT;
    if (d->fd < 0)
        return;
    (void)read_pin(d, &pin);
    s->pending = faccessat(d->fd, "pending", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    s->cache_err = cs_read_file_at(d->fd, "keybag", CS_KEYBAG_MAX_BYTES, &b);
    if (s->cache_err == -EFBIG)
        s->cache_err = -E2BIG;
    if (s->cache_err == 0)
        s->cache_err = parse_for(user, b.data, b.len, &s->cache_kb);
    if (s->cache_err == 0)
        crypto_hash_sha256(s->cache_sha, b.data, b.len);
    if (s->cache_err < 0 && s->cache_err != -ENOENT)
        log_warning("the cached keybag of %s is unusable (%s)", user, strerror(-s->cache_err));
    if (s->cache_kb && cs_keybag_generation(s->cache_kb) > pin)
        pin = cs_keybag_generation(s->cache_kb);
    s->pin = pin;
}

static void load_storage(const cs_config *cfg, const char *user, int flags, sources *s)
{
    cs_storage *st = NULL;
    char key[STORAGE_KEY_MAX];

    s->storage_err = storage_key(user, key);
    if (s->storage_err == 0)
        s->storage_err = open_storage(cfg, flags, &st);
    if (s->storage_err == 0)
        s->storage_err = cs_storage_get(st, key, 0, 0, CS_KEYBAG_MAX_BYTES, &s->storage_raw);
    cs_storage_close(st);
    if (s->storage_err == -EMSGSIZE)
        s->storage_err = -E2BIG;
    if (s->storage_err == 0)
        s->storage_err = parse_for(user, s->storage_raw.data, s->storage_raw.len, &s->storage_kb);
    if (s->storage_err == 0)
        crypto_hash_sha256(s->storage_sha, s->storage_raw.data, s->storage_raw.len);
    if (s->storage_err < 0 && s->storage_err != -ENOENT)
        log_debug_errno(s->storage_err, "keybag of %s from storage", user);
}

static int load_sources(const cs_config *cfg, const char *user, int flags, const user_dir *d, sources *s)
{
    int r = valid_user(user);

    if (r < 0)
        return r;
    load_cache(d, user, s);
    if (flags & CS_UNLOCK_CACHE_ONLY)
        s->storage_err = -ENOENT;
    else
        load_storage(cfg, user, flags, s);
    return 0;
}

/* Pick the keybag to use.  *from_cache says which one.  Storage's copy wins
 * unless it is older than the pin (rollback: -ESTALE; except when the cache
 * holds a newer bag that is still waiting for upload), or unreachable. */
static int choose(const sources *s, int flags, const char *user, const cs_keybag **kb, bool *from_cache)
{
    uint64_t cache_gen = s->cache_kb ? cs_keybag_generation(s->cache_kb) : 0;

    *from_cache = false;
    if (s->storage_kb) {
        uint64_t gen = cs_keybag_generation(s->storage_kb);
        if (s->cache_kb && s->pending && cache_gen > gen) {
            *from_cache = true;
            *kb = s->cache_kb;
            return 0;
        }
        if (gen < s->pin) {
            log_error("the keybag of %s in storage has generation %" PRIu64 ", lower than %" PRIu64
                      " already seen here: refusing a rolled-back keybag", user, gen, s->pin);
            return -ESTALE;
        }
        *kb = s->storage_kb;
        return 0;
    }
    if (integrity_error(s->storage_err) && !(s->cache_kb && (flags & CS_UNLOCK_LOGIN))) {
        log_error("the keybag of %s in storage is %s", user,
                  s->storage_err == -EBADMSG ? "malformed or tampered with" :
                  s->storage_err == -E2BIG ? "asking for out-of-bounds KDF parameters or too large" :
                  "of an unsupported version");
        return s->storage_err;
    }
    if (s->cache_kb) {
        if (s->storage_err != -ENOENT || !(flags & CS_UNLOCK_CACHE_ONLY))
            log_notice("using the cached keybag of %s (storage: %s)", user, strerror(-s->storage_err));
        *from_cache = true;
        *kb = s->cache_kb;
        return 0;
    }
    if (s->cache_err != -ENOENT)
        return s->cache_err;
    return s->storage_err;
}

/* After a successful unlock: remember a newer storage copy locally. */
static void refresh_cache(const user_dir *d, const sources *s, const cs_keybag *kb, bool from_cache)
{
    uint64_t gen = cs_keybag_generation(kb);
    int r;

    if (from_cache || d->fd < 0)
        return;
    if (s->cache_kb && sodium_memcmp(s->cache_sha, s->storage_sha, CS_SHA256_BYTES) == 0 && gen <= s->pin)
        return; /* nothing new (a same-generation copy with other bytes is replaced: it was refused) */
    r = save_cache(d, s->storage_raw.data, s->storage_raw.len, gen, s->pin);
    if (r == 0 && s->pending)
        r = set_pending(d, false);
    if (r < 0)
        log_warning_errno(r, "cannot update the keybag cache");
}

/* Why kb may not be used, from its public fields alone (so that no KDF
 * runs for it): another account than want_id (-EKEYREJECTED), older than
 * this machine's pin, or older than the fleet directory's
 * floor or at the floor with other bytes (-ESTALE).  0: it may be tried. */
static int refusal(const sources *s, const cs_keybag *kb, const uint8_t sha[CS_SHA256_BYTES], const char *want_id,
                   const cs_account_expect *e)
{
    uint64_t gen = cs_keybag_generation(kb);

    if (want_id && strcmp(cs_keybag_account_id(kb), want_id) != 0)
        return -EKEYREJECTED;
    if (gen < s->pin) /* the cache's only when its files were changed by hand: save_cache writes it first */
        return -ESTALE;
    if (e && e->floor && (gen < e->floor || (gen == e->floor && e->has_floor_sha256 &&
                                             sodium_memcmp(sha, e->floor_sha256, CS_SHA256_BYTES) != 0)))
        return -ESTALE;
    return 0;
}

static void log_refusal(const cs_config *cfg, const char *user, const cs_keybag *kb, bool from_cache, int why,
                        const sources *s, const cs_account_expect *e)
{
    const char *where = from_cache ? "cached" : "stored";
    uint64_t gen = cs_keybag_generation(kb);
    char dir[4096];

    if (why == -EKEYREJECTED && e && e->has_account_key)
        log_error("the %s keybag of %s belongs to another account than the one the fleet directory pins: "
                  "someone may have planted it; ignored", where, user);
    else if (why == -EKEYREJECTED)
        log_error("the keybag of %s in storage belongs to another account than the one cached on this "
                  "machine: ignored (if you re-created your account elsewhere, remove %s and log in again)",
                  user, cs_account_cache_dir(cfg, user, dir, sizeof(dir)) == 0 ? dir : "the keybag cache");
    else if (gen < s->pin)
        log_error("the %s keybag of %s has generation %" PRIu64 ", lower than %" PRIu64
                  " already seen here: refusing a rolled-back keybag", where, user, gen, s->pin);
    else
        log_error("the %s keybag of %s has generation %" PRIu64 ", superseded by generation %" PRIu64
                  " the fleet directory names: refusing a replayed old keybag (an old password)",
                  where, user, gen, e ? e->floor : 0);
}

/* What opens the keybag: a password or recovery key, or a security key. */
typedef struct unlock_with {
    const cs_secret *secret;
    const cs_account_fido2 *fido2;
} unlock_with;

static int open_slot(const cs_keybag *kb, bool from_cache, int flags, const char *user, const unlock_with *how,
                     cs_amk **out)
{
    int r = how->fido2 ? cs_account_open_fido2(kb, how->fido2, out) :
            cs_keybag_unlock(kb, (flags & CS_UNLOCK_RECOVERY) ? CS_SLOT_RECOVERY : CS_SLOT_PASSWORD, how->secret, out);

    if (r == -EBADMSG)
        log_error("the %s keybag of %s was tampered with: its MAC does not verify",
                  from_cache ? "cached" : "stored", user);
    return r;
}

/* Storage's keybag unless it cannot be, or is not proven to be, the
 * user's; else the cached one, tried with the same secret (a bucket writer
 * may deny backups, never a login the cache allows).  *used: the one that
 * opened.  When both fail, a refusal of storage's copy wins over the
 * cache's wrong secret: it is what the journal must show. */
static int unlock_sources(const cs_config *cfg, const sources *s, int flags, const char *user, const unlock_with *how,
                          const cs_account_expect *e, cs_amk **out, const cs_keybag **used)
{
    char pinned_id[CS_ACCOUNT_ID_HEX + 1];
    const char *want_id = NULL;
    bool cache_first = s->cache_kb && s->pending && s->storage_kb &&
                       cs_keybag_generation(s->cache_kb) > cs_keybag_generation(s->storage_kb);
    int refused = 0, tried = 0, r;

    if (e && e->has_account_key) {
        cs_account_id_from_pubkey(e->account_key, pinned_id);
        want_id = pinned_id;
    }
    if (s->storage_kb && !cache_first) {
        /* trust on first use: without a pinned key, the cached account */
        const char *want = want_id ? want_id : s->cache_kb ? cs_keybag_account_id(s->cache_kb) : NULL;
        refused = refusal(s, s->storage_kb, s->storage_sha, want, e);
        if (refused) {
            log_refusal(cfg, user, s->storage_kb, false, refused, s, e);
        } else {
            tried = open_slot(s->storage_kb, false, flags, user, how, out);
            if (tried == 0)
                *used = s->storage_kb;
            if (tried == 0 || !s->cache_kb || sodium_memcmp(s->storage_sha, s->cache_sha, CS_SHA256_BYTES) == 0)
                return tried; /* the cached copy is the same bytes: it would say the same */
        }
    } else if (!s->storage_kb) {
        if (integrity_error(s->storage_err) && !(s->cache_kb && (flags & CS_UNLOCK_LOGIN))) {
            log_error("the keybag of %s in storage is %s", user,
                      s->storage_err == -EBADMSG ? "malformed or tampered with" :
                      s->storage_err == -E2BIG ? "asking for out-of-bounds KDF parameters or too large" :
                      "of an unsupported version");
            return s->storage_err;
        }
        if (!s->cache_kb)
            return s->cache_err != -ENOENT ? s->cache_err : s->storage_err;
        if (s->storage_err != -ENOENT || !(flags & CS_UNLOCK_CACHE_ONLY))
            log_notice("using the cached keybag of %s (storage: %s)", user, strerror(-s->storage_err));
    }
    if (!s->cache_kb)
        return refused;
    r = refusal(s, s->cache_kb, s->cache_sha, want_id, e);
    if (r < 0) {
        log_refusal(cfg, user, s->cache_kb, true, r, s, e);
        return refused ? refused : tried < 0 ? tried : r; /* a wrong password is still one */
    }
    r = open_slot(s->cache_kb, true, flags, user, how, out);
    if (r == 0)
        *used = s->cache_kb;
    return r == 0 || !refused ? r : refused;
}

static int unlock_expect(const cs_config *cfg, const char *user, const unlock_with *how, int flags,
                         const cs_account_expect *expect, cs_amk **out)
{
    user_dir d = { .fd = -1 };
    sources s = { .storage_raw = CS_BUF_INIT };
    const cs_keybag *kb = NULL;
    int r;

    /* the cache directory is optional here: unlocking works without it */
    if ((r = valid_user(user)) == 0 && open_user_dir(cfg, user, false, &d) < 0)
        d.fd = -1;
    if (r == 0)
        r = load_sources(cfg, user, flags, &d, &s);
    if (r == 0)
        r = unlock_sources(cfg, &s, flags, user, how, expect, out, &kb);
    /* root (the PAM helper) creates the user's cache directory on the first
     * successful unlock, so that the next login works offline; not before,
     * so that logins of users who never enrolled leave nothing behind */
    if (r == 0 && d.fd < 0 && geteuid() == 0 && open_user_dir(cfg, user, true, &d) < 0)
        d.fd = -1;
    /* only now, proven the user's: storage's copy may reach cache and pin */
    if (r == 0)
        refresh_cache(&d, &s, kb, kb == s.cache_kb);
    sources_free(&s);
    if (d.fd >= 0)
        close(d.fd);
    return r;
}

int cs_account_unlock_expect(const cs_config *cfg, const char *user, const cs_secret *secret, int flags,
                             const cs_account_expect *expect, cs_amk **out)
{
    unlock_with how = { .secret = secret };
    return unlock_expect(cfg, user, &how, flags, expect, out);
}

int cs_account_unlock_fido2(const cs_config *cfg, const char *user, const cs_account_fido2 *fido2, int flags,
                            const cs_account_expect *expect, cs_amk **out)
{
    unlock_with how = { .fido2 = fido2 };
    return unlock_expect(cfg, user, &how, flags & ~CS_UNLOCK_RECOVERY, expect, out);
}

int cs_account_unlock(const cs_config *cfg, const char *user, const cs_secret *secret,
                      int flags, cs_amk **out)
{
    return cs_account_unlock_expect(cfg, user, secret, flags, NULL, out);
}

int cs_account_load_keybag(const cs_config *cfg, const char *user, int flags,
                           cs_keybag **out, bool *from_cache)
{
    return cs_account_load_keybag_why(cfg, user, flags, out, from_cache, NULL);
}

int cs_account_load_keybag_why(const cs_config *cfg, const char *user, int flags,
                               cs_keybag **out, bool *from_cache, int *storage_err)
{
    user_dir d = { .fd = -1 };
    sources s = { .storage_raw = CS_BUF_INIT };
    const cs_keybag *kb = NULL;
    bool fc = false;
    int r = valid_user(user);

    if (r == 0 && open_user_dir(cfg, user, false, &d) < 0)
        d.fd = -1;
    if (r == 0)
        r = load_sources(cfg, user, flags, &d, &s);
    if (r == 0)
        r = choose(&s, flags, user, &kb, &fc);
    if (r == 0) {
        /* hand over the chosen one, free the other */
        if (kb == s.storage_kb)
            s.storage_kb = NULL;
        else
            s.cache_kb = NULL;
        *out = (cs_keybag *)kb;
        if (from_cache)
            *from_cache = fc;
    }
    if (storage_err)
        *storage_err = s.storage_err;
    sources_free(&s);
    if (d.fd >= 0)
        close(d.fd);
    return r;
}

static int upload_object(const cs_config *cfg, const char *user, const char *name, const char *data, size_t len,
                         int put_flags)
{
    cs_storage *st = NULL;
    char key[STORAGE_KEY_MAX];
    int r = object_key(user, name, key);

    if (r == 0)
        r = open_storage(cfg, 0, &st);
    if (r == 0)
        r = cs_storage_put(st, key, data, len, put_flags);
    cs_storage_close(st);
    return r;
}

static int upload(const cs_config *cfg, const char *user, const char *data, size_t len, int put_flags)
{
    return upload_object(cfg, user, "keybag", data, len, put_flags);
}

/* The keybag seal of a fleet user's new keybag (fleet/keybag_seal.h): what
 * `admin publish` carries into the signed directory so that older keybags
 * stop working fleet-wide.  Only fleet workstations (and the admin's
 * commands, always) file one.  When d is given, it also waits in the cache
 * directory until it is in storage (cs_account_sync_pending). */
static int seal_keybag(const cs_config *cfg, const char *user, const user_dir *d, const cs_amk *amk,
                       uint64_t gen, const char *text, size_t len, char **json)
{
    int r = cs_keybag_seal_for(user, amk, gen, text, len, json);

    if (r == 0 && d && (r = write_owned(d, "keybag-seal", *json, strlen(*json))) < 0)
        log_warning_errno(r, "cannot keep the keybag seal in the cache");
    return r;
}

static int file_seal(const cs_config *cfg, const char *user, const char *json)
{
    int r = upload_object(cfg, user, "keybag-seal", json, strlen(json), CS_PUT_REPLACE);

    if (r < 0)
        log_warning("could not file the keybag seal of %s (%s): until it is in storage, the fleet "
                    "directory does not retire %s's older keybags", user, strerror(-r), user);
    return r;
}

/* Serialize kb, write cache + pin, upload; when the upload fails keep it
 * pending (offline change) and return 0 with a warning. */
static int commit(const cs_config *cfg, const char *user, const user_dir *d, cs_keybag *kb,
                  const cs_amk *amk, uint64_t pin)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    _cleanup_free_ char *seal = NULL;
    int r = cs_keybag_serialize(kb, amk, &text, &len);

    if (r < 0)
        return r;
    r = save_cache(d, text, len, cs_keybag_generation(kb), pin);
    if (r < 0)
        return log_error_errno(r, "cannot write the keybag cache");
    if (cs_fleet_configured(cfg))
        (void)seal_keybag(cfg, user, d, amk, cs_keybag_generation(kb), text, len, &seal);
    r = upload(cfg, user, text, len, CS_PUT_REPLACE);
    if (r < 0) {
        log_warning("storage is unreachable (%s): the new keybag is kept locally and will be "
                    "uploaded later (cloudseal-helper sync or the next change)", strerror(-r));
        return set_pending(d, true);
    }
    /* a seal not filed waits for cs_account_sync_pending like a keybag */
    return set_pending(d, seal && file_seal(cfg, user, seal) < 0);
}

/* A change to the verified current keybag: edit(kb) then generation + 1,
 * cache, pin, upload (pending when offline). */
typedef int (*keybag_edit)(cs_keybag *kb, const cs_amk *amk, const void *arg);

static int change_keybag(const cs_config *cfg, const char *user, const cs_amk *amk,
                         keybag_edit edit, const void *arg)
{
    user_dir d = { .fd = -1 };
    sources s = { .storage_raw = CS_BUF_INIT };
    const cs_keybag *chosen = NULL;
    cs_keybag *kb = NULL;
    bool from_cache;
    int r = valid_user(user);

    if (r == 0)
        r = open_user_dir(cfg, user, true, &d);
    if (r == 0)
        r = load_sources(cfg, user, 0, &d, &s);
    if (r == 0)
        r = choose(&s, 0, user, &chosen, &from_cache);
    if (r == 0) {
        kb = (cs_keybag *)chosen;
        r = cs_keybag_verify(kb, amk);
    }
    /* storage's copy is rolled back or not amk's (planted): change the
     * cached one, which also puts the user's keybag back into storage */
    if ((r == -ESTALE || (r == -EBADMSG && kb == s.storage_kb)) && s.cache_kb &&
        cs_keybag_verify(s.cache_kb, amk) == 0) {
        log_warning("the keybag of %s in storage is not your current one: replacing it with yours", user);
        kb = s.cache_kb;
        r = 0;
    }
    if (r == 0)
        r = edit(kb, amk, arg);
    if (r == 0) {
        uint64_t gen = cs_keybag_generation(kb);
        cs_keybag_set_generation(kb, (gen > s.pin ? gen : s.pin) + 1);
        r = commit(cfg, user, &d, kb, amk, s.pin);
    }
    sources_free(&s);
    if (d.fd >= 0)
        close(d.fd);
    return r;
}

static int edit_password(cs_keybag *kb, const cs_amk *amk, const void *arg)
{
    const cs_config *cfg = ((const void *const *)arg)[0];
    const cs_secret *pw = ((const void *const *)arg)[1];
    bool recovering = ((const void *const *)arg)[2] != NULL;
    cs_kdf_params params;
    int r = cs_kdf_params_from_config(cfg, &params);

    /* policy both: a new password would silently drop the security keys
     * (their slots are bound to the old password); only recovery may */
    if (r == 0 && !recovering && cs_keybag_fido2_policy(kb) == CS_FIDO2_POLICY_BOTH) {
        log_error("your keys need your password and your security key: changing the password would remove "
                  "the keys; use 'cloudseal recover' (recovery key), then 'cloudseal key add-fido2' again");
        return -EBUSY;
    }

    return r < 0 ? r : cs_keybag_set_password(kb, amk, pw, &params);
}

int cs_account_set_password(const cs_config *cfg, const char *user, const cs_amk *amk,
                            const cs_secret *new_password)
{
    const void *args[3] = { cfg, new_password, NULL };
    return change_keybag(cfg, user, amk, edit_password, args);
}

int cs_account_recover_password(const cs_config *cfg, const char *user, const cs_amk *amk,
                                const cs_secret *new_password)
{
    const void *args[3] = { cfg, new_password, "recovering" };
    return change_keybag(cfg, user, amk, edit_password, args);
}

typedef struct add_fido2_arg {
    const cs_config *cfg;
    cs_keybag_fido2 *slot;
    const cs_secret *hmac_secret, *password;
} add_fido2_arg;

static int edit_add_fido2(cs_keybag *kb, const cs_amk *amk, const void *arg)
{
    const add_fido2_arg *a = arg;
    cs_kdf_params params;
    int r = cs_kdf_params_from_config(a->cfg, &params);

    return r < 0 ? r : cs_keybag_add_fido2(kb, amk, a->slot, a->hmac_secret, a->password, &params);
}

int cs_account_add_fido2(const cs_config *cfg, const char *user, const cs_amk *amk, cs_keybag_fido2 *slot,
                         const cs_secret *hmac_secret, const cs_secret *password)
{
    add_fido2_arg a = { cfg, slot, hmac_secret, password };
    return change_keybag(cfg, user, amk, edit_add_fido2, &a);
}

static int edit_remove_slot(cs_keybag *kb, const cs_amk *amk, const void *arg)
{
    (void)amk;
    return cs_keybag_remove_slot(kb, *(const uint32_t *)arg);
}

int cs_account_remove_slot(const cs_config *cfg, const char *user, const cs_amk *amk, uint32_t id)
{
    return change_keybag(cfg, user, amk, edit_remove_slot, &id);
}

static int edit_payload(cs_keybag *kb, const cs_amk *amk, const void *arg)
{
    return cs_keybag_payload_set(kb, amk, (json_object *)arg);
}

int cs_account_payload_set(const cs_config *cfg, const char *user, const cs_amk *amk,
                           json_object *payload)
{
    return change_keybag(cfg, user, amk, edit_payload, payload);
}

typedef struct payload_edit_arg {
    cs_payload_edit edit;
    const void *arg;
} payload_edit_arg;

static int edit_payload_in_place(cs_keybag *kb, const cs_amk *amk, const void *arg)
{
    const payload_edit_arg *a = arg;
    json_object *payload = NULL;
    int r = cs_keybag_payload_get(kb, amk, &payload);

    if (r == 0)
        r = a->edit(payload, amk, a->arg);
    if (r == 0)
        r = cs_keybag_payload_set(kb, amk, payload);
    json_object_put(payload);
    return r;
}

int cs_account_payload_edit(const cs_config *cfg, const char *user, const cs_amk *amk, cs_payload_edit edit,
                            const void *arg)
{
    payload_edit_arg a = { edit, arg };
    return change_keybag(cfg, user, amk, edit_payload_in_place, &a);
}

int cs_account_payload_get(const cs_config *cfg, const char *user, const cs_amk *amk, int flags,
                           json_object **out)
{
    cs_keybag *kb = NULL;
    int r = cs_account_load_keybag(cfg, user, flags, &kb, NULL);

    if (r == 0)
        r = cs_keybag_verify(kb, amk);
    if (r == 0)
        r = cs_keybag_payload_get(kb, amk, out);
    cs_keybag_free(kb);
    return r;
}

/* The seal commit() kept with a keybag it could not upload, if any. */
static int upload_cached_seal(const cs_config *cfg, const char *user, const user_dir *d)
{
    _cleanup_buf_ cs_buf seal = CS_BUF_INIT;
    int r = cs_read_file_at(d->fd, "keybag-seal", CS_KEYBAG_SEAL_MAX, &seal);

    if (r == -ENOENT)
        return 0;
    if (r == 0)
        r = upload_object(cfg, user, "keybag-seal", (const char *)seal.data, seal.len, CS_PUT_REPLACE);
    return r;
}

/* Is the seal in storage (raw) a valid one of amk's account at least as new as gen? */
static bool sealed_at_least(const char *user, const cs_amk *amk, const cs_buf *raw, uint64_t gen)
{
    uint8_t pk[CS_SIGN_PK_BYTES];
    cs_keybag_seal seal;

    return cs_amk_account_pubkey(amk, pk) == 0 &&
           cs_keybag_seal_parse(raw->data, raw->len, user, pk, &seal, NULL) == 0 && seal.generation >= gen;
}

/* The cached keybag of user (its bytes in raw, parsed in kb), proven to be
 * amk's: what reseal and repair may file in storage. */
static int load_cached_ours(const cs_config *cfg, const char *user, const cs_amk *amk, user_dir *d, cs_buf *raw,
                            cs_keybag **kb)
{
    int r = open_user_dir(cfg, user, false, d);

    if (r == 0)
        r = cs_read_file_at(d->fd, "keybag", CS_KEYBAG_MAX_BYTES, raw);
    if (r == 0)
        r = parse_for(user, raw->data, raw->len, kb);
    if (r == 0)
        r = cs_keybag_verify(*kb, amk);
    return r;
}

int cs_account_reseal(const cs_config *cfg, const char *user, const cs_amk *amk)
{
    user_dir d = { .fd = -1 };
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    _cleanup_buf_ cs_buf stored = CS_BUF_INIT;
    _cleanup_free_ char *seal = NULL;
    _cleanup_keybag_ cs_keybag *kb = NULL;
    cs_storage *st = NULL;
    char key[STORAGE_KEY_MAX];
    bool in_place = false;
    int r = valid_user(user);

    if (r == 0 && !cs_fleet_configured(cfg))
        return 0;
    if (r == 0)
        r = load_cached_ours(cfg, user, amk, &d, &raw, &kb);
    if (r == 0)
        r = object_key(user, "keybag-seal", key);
    if (r == 0)
        r = open_storage(cfg, CS_UNLOCK_LOGIN, &st);
    if (r == 0) {
        r = cs_storage_get(st, key, 0, 0, CS_KEYBAG_SEAL_MAX, &stored);
        /* in place, or a newer keybag's filed elsewhere */
        in_place = r == 0 && sealed_at_least(user, amk, &stored, cs_keybag_generation(kb));
        if (r == -ENOENT || r == -EMSGSIZE)
            r = 0; /* missing or junk: file one */
    }
    if (r == 0 && !in_place)
        r = seal_keybag(cfg, user, NULL, amk, cs_keybag_generation(kb), (const char *)raw.data, raw.len, &seal);
    if (r == 0 && !in_place)
        r = cs_storage_put(st, key, seal, strlen(seal), CS_PUT_REPLACE);
    cs_storage_close(st);
    if (d.fd >= 0)
        close(d.fd);
    return r < 0 ? r : !in_place;
}

int cs_account_repair_storage(const cs_config *cfg, const char *user, const cs_amk *amk, int *storage_state)
{
    user_dir d = { .fd = -1 };
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    _cleanup_free_ char *seal = NULL;
    _cleanup_keybag_ cs_keybag *kb = NULL;
    sources s = { .storage_raw = CS_BUF_INIT };
    uint64_t gen = 0;
    int r = valid_user(user), state = 0;

    if (r == 0)
        r = load_cached_ours(cfg, user, amk, &d, &raw, &kb); /* only a copy proven ours goes up */
    if (r == 0) {
        gen = cs_keybag_generation(kb);
        load_storage(cfg, user, 0, &s);
        if (s.storage_kb && cs_keybag_verify(s.storage_kb, amk) < 0)
            state = -EBADMSG; /* another account's, or its MAC fails */
        else if (s.storage_kb)
            state = cs_keybag_generation(s.storage_kb) < gen ? -ESTALE : 0;
        else if (s.storage_err == -ENOENT || integrity_error(s.storage_err))
            state = s.storage_err == -ENOENT ? -ENOENT : -EBADMSG;
        else
            r = s.storage_err; /* unreachable: nothing known */
    }
    /* as cached: generation and slots kept, the seal filed as commit() does */
    if (r == 0 && state < 0)
        r = upload(cfg, user, (const char *)raw.data, raw.len, CS_PUT_REPLACE);
    if (r == 0 && state < 0 && cs_fleet_configured(cfg) &&
        seal_keybag(cfg, user, &d, amk, gen, (const char *)raw.data, raw.len, &seal) == 0)
        r = set_pending(&d, file_seal(cfg, user, seal) < 0);
    else if (r == 0 && state < 0)
        r = set_pending(&d, false);
    if (storage_state)
        *storage_state = state;
    sources_free(&s);
    if (d.fd >= 0)
        close(d.fd);
    return r < 0 ? r : state < 0;
}

int cs_account_sync_pending(const cs_config *cfg, const char *user)
{
    user_dir d = { .fd = -1 };
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    sources s = { .storage_raw = CS_BUF_INIT };
    cs_keybag *cached = NULL;
    int r = valid_user(user);

    if (r == 0)
        r = open_user_dir(cfg, user, false, &d);
    if (r < 0)
        return r == -ENOENT ? 0 : r;
    if (faccessat(d.fd, "pending", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        goto out; /* nothing waiting */
    r = cs_read_file_at(d.fd, "keybag", CS_KEYBAG_MAX_BYTES, &raw);
    if (r == 0)
        r = parse_for(user, raw.data, raw.len, &cached);
    if (r == 0) {
        load_storage(cfg, user, 0, &s);
        if (s.storage_kb && cs_keybag_generation(s.storage_kb) > cs_keybag_generation(cached)) {
            log_warning("the keybag of %s was changed elsewhere since the offline change; "
                        "keeping storage's copy", user);
            (void)set_pending(&d, false);
            r = -ESTALE;
        } else if (s.storage_err < 0 && s.storage_err != -ENOENT && !integrity_error(s.storage_err)) {
            r = s.storage_err; /* still unreachable */
        } else {
            r = upload(cfg, user, (const char *)raw.data, raw.len, CS_PUT_REPLACE);
            if (r == 0)
                r = upload_cached_seal(cfg, user, &d);
            if (r == 0)
                r = set_pending(&d, false);
        }
    }
out:
    cs_keybag_free(cached);
    sources_free(&s);
    close(d.fd);
    return r;
}

int cs_account_id(const cs_config *cfg, const char *user, char id[CS_ACCOUNT_ID_MAX])
{
    cs_keybag *kb = NULL;
    int r = cs_account_load_keybag(cfg, user, CS_UNLOCK_CACHE_ONLY, &kb, NULL);

    if (r < 0 && r != -EACCES && r != -EPERM)
        r = cs_account_load_keybag(cfg, user, CS_UNLOCK_LOGIN, &kb, NULL);
    if (r < 0)
        return r;
    snprintf(id, CS_ACCOUNT_ID_MAX, "%s", cs_keybag_account_id(kb));
    cs_keybag_free(kb);
    return 0;
}

/* A new account: AMK, keybag with a password and a recovery slot, at
 * generation gen, serialized into *text.  one_time: the password was chosen
 * by an administrator and is marked expired (cs_keybag_expire_password). */
static int create_account(const cs_config *cfg, const char *user, const cs_secret *password, bool one_time,
                          uint64_t gen, char **text, size_t *len, cs_secret **recovery_code, cs_amk **amk_out)
{
    cs_keybag *kb = NULL;
    cs_amk *amk = NULL;
    cs_secret *code = NULL;
    uint8_t *rk = cs_secure_alloc(CS_RECOVERY_KEY_BYTES);
    cs_kdf_params params;
    int r = rk ? cs_kdf_params_from_config(cfg, &params) : -ENOMEM;

    if (r == 0)
        r = cs_amk_generate(&amk);
    if (r == 0)
        r = cs_keybag_new(user, amk, &kb);
    if (r == 0)
        r = cs_keybag_set_password(kb, amk, password, &params);
    if (r == 0 && one_time)
        r = cs_keybag_expire_password(kb, amk);
    if (r == 0) {
        cs_recovery_generate(rk);
        r = cs_keybag_set_recovery(kb, amk, rk);
    }
    if (r == 0)
        r = cs_secret_new(&code);
    if (r == 0) {
        cs_recovery_encode(rk, code->data);
        code->len = strlen(code->data);
        cs_keybag_set_generation(kb, gen);
        r = cs_keybag_serialize(kb, amk, text, len);
    }
    if (r == 0) {
        *recovery_code = CS_TAKE_PTR(code);
        *amk_out = CS_TAKE_PTR(amk);
    }
    cs_secret_free(code);
    cs_amk_free(amk);
    cs_keybag_free(kb);
    cs_secure_free(rk);
    return r;
}

int cs_account_enroll(const cs_config *cfg, const char *user, const cs_secret *password,
                      bool force, cs_secret **recovery_code, cs_amk **amk_out)
{
    user_dir d = { .fd = -1 };
    sources s = { .storage_raw = CS_BUF_INIT };
    cs_amk *amk = NULL;
    cs_secret *code = NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *seal = NULL;
    size_t len = 0;
    int r = valid_user(user);

    /* the cache directory first: fail before anything reaches storage */
    if (r == 0)
        r = open_user_dir(cfg, user, true, &d);
    if (r == 0)
        r = load_sources(cfg, user, 0, &d, &s);
    if (r == 0 && !force && (s.storage_kb || s.storage_err != -ENOENT || s.cache_kb))
        r = s.storage_kb || s.cache_kb || integrity_error(s.storage_err) ? -EEXIST : s.storage_err;
    /* above any generation seen here, so that re-enrolling is not a rollback */
    if (r == 0)
        r = create_account(cfg, user, password, false, s.pin + 1, &text, &len, &code, &amk);
    if (r == 0)
        r = upload(cfg, user, text, len, force ? CS_PUT_REPLACE : CS_PUT_IMMUTABLE);
    if (r == 0)
        r = save_cache(&d, text, len, 1 + s.pin, s.pin);
    if (r == 0)
        (void)set_pending(&d, false);
    if (r == 0 && cs_fleet_configured(cfg))
        (void)seal_keybag(cfg, user, &d, amk, 1 + s.pin, text, len, &seal);
    if (r == 0 && seal && file_seal(cfg, user, seal) < 0)
        (void)set_pending(&d, true); /* cs_account_sync_pending files it */
    if (r == 0) {
        *recovery_code = CS_TAKE_PTR(code);
        *amk_out = CS_TAKE_PTR(amk);
    }
    cs_secret_free(code);
    cs_amk_free(amk);
    sources_free(&s);
    if (d.fd >= 0)
        close(d.fd);
    return r;
}

/* An administrator's change of user's keybag (text, generation gen):
 * its seal filed (a failure is only a warning: the admin records the
 * floor in the directory source directly) and *made filled. */
static void admin_made(const cs_config *cfg, const char *user, const cs_amk *amk, uint64_t gen, const char *text,
                       size_t len, cs_keybag_made *made)
{
    _cleanup_free_ char *seal = NULL;

    if (made) {
        made->generation = gen;
        crypto_hash_sha256(made->sha256, (const uint8_t *)text, len);
    }
    if (seal_keybag(cfg, user, NULL, amk, gen, text, len, &seal) == 0)
        (void)file_seal(cfg, user, seal);
}

int cs_account_reset_password(const cs_config *cfg, const char *user, const cs_amk *amk,
                              const cs_secret *password, uint64_t floor, cs_keybag_made *made)
{
    sources s = { .storage_raw = CS_BUF_INIT };
    _cleanup_free_ char *text = NULL;
    cs_kdf_params params;
    size_t len = 0;
    int r = valid_user(user);

    if (r == 0) {
        load_storage(cfg, user, 0, &s);
        r = s.storage_kb ? 0 : s.storage_err < 0 ? s.storage_err : -ENOENT;
    }
    if (r == 0)
        r = cs_keybag_verify(s.storage_kb, amk);
    if (r == 0)
        r = cs_kdf_params_from_config(cfg, &params);
    if (r == 0)
        r = cs_keybag_set_password(s.storage_kb, amk, password, &params);
    if (r == 0)
        r = cs_keybag_expire_password(s.storage_kb, amk); /* the administrator knows it */
    if (r == 0) {
        /* above what the user's workstations pinned and the directory names
         * (storage may hold an older keybag): they take it as the newest */
        uint64_t gen = cs_keybag_generation(s.storage_kb);
        cs_keybag_set_generation(s.storage_kb, (gen > floor ? gen : floor) + 1);
        r = cs_keybag_serialize(s.storage_kb, amk, &text, &len);
    }
    if (r == 0)
        r = upload(cfg, user, text, len, CS_PUT_REPLACE);
    if (r == 0)
        admin_made(cfg, user, amk, cs_keybag_generation(s.storage_kb), text, len, made);
    sources_free(&s);
    return r;
}

int cs_account_enroll_for(const cs_config *cfg, const char *user, const cs_secret *password,
                          cs_secret **recovery_code, cs_amk **amk_out, cs_keybag_made *made)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = valid_user(user);

    if (r == 0)
        r = create_account(cfg, user, password, true, 1, &text, &len, recovery_code, amk_out);
    if (r == 0 && (r = upload(cfg, user, text, len, CS_PUT_IMMUTABLE)) < 0) { /* never over someone's keybag */
        cs_secret_free(*recovery_code);
        cs_amk_free(*amk_out);
        *recovery_code = NULL;
        *amk_out = NULL;
    }
    if (r == 0)
        admin_made(cfg, user, *amk_out, 1, text, len, made);
    return r;
}

int cs_account_password_expired(const cs_config *cfg, const char *user, const cs_amk *amk)
{
    json_object *payload = NULL;
    int r = cs_account_payload_get(cfg, user, amk, CS_UNLOCK_CACHE_ONLY, &payload);

    if (r == -ENOENT)
        r = cs_account_payload_get(cfg, user, amk, CS_UNLOCK_LOGIN, &payload);
    if (r < 0)
        return r;
    r = cs_keybag_payload_password_expired(payload) ? 1 : 0;
    json_object_put(payload);
    return r;
}
