/* SPDX-License-Identifier: MIT */
/* Directory sync: fetch fleet/directory, believe it only if every rule
 * holds, then compile and install the cache.  Run by
 * `cloudseal-helper directory-sync` from cloudseal-directory.timer.
 *
 * Rollback protection: the highest serial ever installed is pinned in the
 * state file ([fleet] state) and in the cache header; a directory with a
 * lower serial is refused, so whoever can write the bucket cannot bring back
 * a removed user or an old key.  Any failure leaves the installed cache as
 * it was: a broken publish never takes users away from a workstation.
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "basic/dircache.h"
#include "storage/storage_s3.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"

static int state_write(const char *path, const cs_fleet_sync_status *st)
{
    struct json_object *o = json_object_new_object();
    const char *s;
    int r;

    if (!o)
        return -ENOMEM;
    json_object_object_add(o, "serial", json_object_new_int64((int64_t)st->serial));
    json_object_object_add(o, "etag", json_object_new_string(st->etag));
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    r = s ? cs_write_file_atomic(path, s, strlen(s), 0644) : -ENOMEM;
    json_object_put(o);
    return r;
}

int cs_fleet_accept(const cs_config *cfg, const uint8_t *data, size_t len, uint64_t pinned_serial,
                    int64_t now, cs_directory **out, cs_fleet_err *err)
{
    _cleanup_directory_ cs_directory *d = NULL;
    cs_local_accounts *local = NULL;
    uint8_t pk[CS_FLEET_PK_BYTES];
    cs_fleet_policy policy;
    int r;

    r = cs_fleet_config_pubkey(cfg, pk);
    if (r < 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "no usable fleet public key (%s): install the one `cloudseal admin keygen` printed",
                 cs_config_str(cfg, "fleet", "public_key_file"));
        return -ENOKEY;
    }
    r = cs_fleet_open_signed(data, len, pk, &d, err);
    if (r < 0)
        return r;
    if (d->serial < pinned_serial) {
        snprintf(err->msg, sizeof(err->msg),
                 "directory serial %llu is lower than the installed %llu: refusing a rollback",
                 (unsigned long long)d->serial, (unsigned long long)pinned_serial);
        return -ESTALE;
    }
    if (d->expires <= now) {
        char when[32];

        snprintf(err->msg, sizeof(err->msg),
                 "the directory (serial %llu) expired on %s: an admin must run `cloudseal admin publish`",
                 (unsigned long long)d->serial, cs_fleet_time_str(d->expires, when));
        return -EKEYEXPIRED;
    }
    r = cs_local_accounts_load(cs_config_str(cfg, "fleet", "local_passwd"),
                               cs_config_str(cfg, "fleet", "local_group"), &local);
    if (r < 0) {
        return cs_format_errno(err->msg, sizeof(err->msg), r, "cannot read the local account files: %m");
    }
    policy.id_min = (uint32_t)cs_config_int(cfg, "fleet", "id_min");
    policy.id_max = (uint32_t)cs_config_int(cfg, "fleet", "id_max");
    policy.local = local;
    r = cs_directory_validate(d, &policy, err);
    cs_local_accounts_free(local);
    if (r < 0)
        return r;
    *out = CS_TAKE_PTR(d);
    return 0;
}

/* The cache's directory, world-readable like the cache (NSS runs as anyone). */
static int make_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;

    if (n == 0 || n >= sizeof(dir))
        return 0;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return cs_mkdir_p(dir, 0755);
}

/* A sync that keeps the installed cache: say why in the journal and in the
 * state, where `cloudseal admin show --installed` and `cloudseal status`
 * show it until a sync succeeds (sync_status.c). */
static int __attribute__((format(printf, 4, 5)))
sync_failed(const cs_config *cfg, int r, bool refused, const char *fmt, ...)
{
    char why[CS_FLEET_REASON_MAX];
    va_list ap;

    va_start(ap, fmt);
    cs_vformat_errno(why, sizeof(why), r, fmt, ap); /* "%m" is the reason r */
    va_end(ap);
    log_error("fleet directory%s: %s; keeping the installed cache", refused ? " refused" : "", why);
    cs_fleet_sync_record_failure(cfg, (int64_t)time(NULL), refused, why);
    return r;
}

int cs_fleet_sync(const cs_config *cfg, cs_storage *storage, bool force, cs_fleet_sync_result *res)
{
    const char *cache_path = cs_config_str(cfg, "fleet", "cache");
    const char *state_path = cs_config_str(cfg, "fleet", "state");
    _cleanup_buf_ cs_buf data = CS_BUF_INIT;
    _cleanup_buf_ cs_buf image = CS_BUF_INIT;
    _cleanup_directory_ cs_directory *d = NULL;
    cs_storage *own = NULL;
    cs_fleet_err err = { "" };
    char etag[80] = "";
    cs_fleet_sync_status st;
    bool usable;
    int r;

    memset(res, 0, sizeof(*res));
    r = cs_fleet_pin_read(cfg, &st);
    if (r < 0)
        return r; /* no provable pin: logged, and nothing may be recorded in that state */
    usable = r > 0;
    res->serial = st.serial;
    if (!storage) {
        r = cs_storage_open_config(cfg, NULL, &own);
        if (r < 0)
            return sync_failed(cfg, r, false, "cannot open the storage (%m)");
        storage = own;
    }
    /* the ETag short-cut only when a good cache is in place */
    r = cs_storage_get_if_changed(storage, CS_FLEET_STORAGE_KEY, (usable && !force && st.etag[0]) ? st.etag : NULL,
                                  (size_t)cs_config_int(cfg, "fleet", "max_size"), &data, etag);
    if (own)
        cs_storage_close(own);
    if (r == 1) {
        log_debug("fleet directory unchanged (serial %llu)", (unsigned long long)st.serial);
        cs_fleet_sync_clear_failure(cfg); /* storage holds what is installed */
        return 0;
    }
    if (r == -ENOENT)
        return sync_failed(cfg, r, false, "nothing published at %s yet; an admin must run "
                           "`cloudseal admin publish`", CS_FLEET_STORAGE_KEY);
    if (r < 0)
        return sync_failed(cfg, r, false, "cannot fetch %s (%m)", CS_FLEET_STORAGE_KEY);
    r = cs_fleet_accept(cfg, data.data, data.len, st.serial, (int64_t)time(NULL), &d, &err);
    if (r < 0)
        return sync_failed(cfg, r, true, "%s", err.msg);
    r = cs_fleet_compile_cache(d, (int64_t)time(NULL), &image);
    if (r == 0)
        r = make_parent(cache_path);
    if (r == 0)
        r = cs_fleet_install_cache(cache_path, &image);
    if (r < 0)
        return sync_failed(cfg, r, false, "cannot write %s (%m)", cache_path);
    st.serial = d->serial;
    memcpy(st.etag, etag, sizeof(st.etag));
    st.etag[sizeof(st.etag) - 1] = '\0';
    r = state_write(state_path, &st);
    if (r < 0)
        log_warning_errno(r, "fleet directory: cannot record the state in %s (%m)", state_path);
    res->changed = true;
    res->serial = d->serial;
    res->n_users = d->n_users;
    res->n_groups = d->n_groups;
    for (size_t i = 0; i < d->n_users; i++)
        res->n_groups += d->users[i].private_group; /* as NSS shows them */
    log_info("fleet directory serial %llu installed: %zu users, %zu groups",
             (unsigned long long)d->serial, res->n_users, res->n_groups);
    return 0;
}
