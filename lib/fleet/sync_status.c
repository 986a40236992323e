/* SPDX-License-Identifier: MIT */
/* What the last directory sync said, for people: a refused sync keeps the
 * installed cache, which is right (a broken publish must not take users
 * away), but silent until the cache expires and fleet logins stop.  So the
 * failure is recorded in [fleet] state next to the pinned serial and ETag
 * (directory_sync.c writes those and, on success, drops the failure), and
 * `cloudseal admin show --installed` and `cloudseal status` say it.
 *
 * The state file is root's and world-readable (like the cache); it is still
 * parsed as hostile input: bounded, typed, the reason printable ASCII. */
#include "fleet/fleet.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "basic/dircache.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"

#define STATE_MAX 4096

/* printable ASCII only: the reason may quote names from a hostile directory */
static void copy_reason(char out[CS_FLEET_REASON_MAX], const char *in)
{
    size_t i = 0;

    for (; in && in[i] && i < CS_FLEET_REASON_MAX - 1; i++)
        out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
    out[i] = '\0';
}

int cs_fleet_sync_status_parse(const char *data, size_t len, cs_fleet_sync_status *out)
{
    struct json_object *root = NULL, *v;
    int r;

    memset(out, 0, sizeof(*out));
    r = cs_json_parse_object(data, len, STATE_MAX, 4, &root, NULL);
    if (r < 0)
        return r;
    r = -EBADMSG;
    if (json_object_object_get_ex(root, "serial", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
            goto out;
        out->serial = (uint64_t)json_object_get_int64(v);
    }
    if (json_object_object_get_ex(root, "etag", &v)) {
        if (!json_object_is_type(v, json_type_string) ||
            (size_t)json_object_get_string_len(v) >= sizeof(out->etag))
            goto out;
        memcpy(out->etag, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    }
    if (json_object_object_get_ex(root, "failed_at", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0)
            goto out;
        out->failed_at = json_object_get_int64(v);
        if (!json_object_object_get_ex(root, "failure", &v) || !json_object_is_type(v, json_type_string))
            goto out;
        copy_reason(out->reason, json_object_get_string(v));
        if (json_object_object_get_ex(root, "refused", &v)) {
            if (!json_object_is_type(v, json_type_boolean))
                goto out;
            out->refused = json_object_get_boolean(v);
        }
    }
    r = 0;
out:
    if (r < 0)
        memset(out, 0, sizeof(*out));
    json_object_put(root);
    return r;
}

int cs_fleet_sync_status_read(const cs_config *cfg, cs_fleet_sync_status *out)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    int r = cs_read_file(cs_config_str(cfg, "fleet", "state"), STATE_MAX, &b);

    memset(out, 0, sizeof(*out));
    if (r == -EFBIG)
        return -E2BIG;
    return r < 0 ? r : cs_fleet_sync_status_parse((const char *)b.data, b.len, out);
}

/* The serial of the installed cache, which was compiled from a directory
 * whose signature and rules were checked: 1 and *serial, or 0 without a
 * usable cache. */
static int installed_serial(const cs_config *cfg, uint64_t *serial)
{
    cs_dircache dc;

    *serial = 0;
    if (cs_dircache_map(cs_config_str(cfg, "fleet", "cache"), &dc, NULL) < 0)
        return 0;
    *serial = dc.h->serial;
    cs_dircache_unmap(&dc);
    return 1;
}

/* Never lower the pin because the state cannot be read: a corrupted,
 * truncated or unreadable state would otherwise let storage bring back an
 * older directory (a removed user, an old key).  Only a missing state means
 * "never synced". */
int cs_fleet_pin_read(const cs_config *cfg, cs_fleet_sync_status *out)
{
    const char *path = cs_config_str(cfg, "fleet", "state");
    uint64_t cached;
    int usable = installed_serial(cfg, &cached);
    int r = cs_fleet_sync_status_read(cfg, out);

    if (r < 0 && r != -ENOENT) {
        if (!usable)
            return log_error_errno(r, "fleet directory: the sync state %s cannot be read (%m) and no "
                                   "directory cache is installed, so the rollback pin is unknown: restore "
                                   "the file, or remove it once `cloudseal admin verify` on the "
                                   "published directory shows the serial you expect", path);
        log_warning_errno(r, "fleet directory: the sync state %s cannot be read (%m); pinning the "
                          "installed cache's serial %llu instead. The next successful "
                          "`cloudseal-helper directory-sync` rewrites it; if it keeps happening, "
                          "check the disk holding it", path, (unsigned long long)cached);
    }
    if (usable && cached > out->serial)
        out->serial = cached;
    return usable;
}

/* Rewrite the state with the failure set (reason) or dropped (NULL),
 * keeping every other member as directory_sync.c wrote it. */
static int state_update(const cs_config *cfg, int64_t when, bool refused, const char *reason)
{
    const char *path = cs_config_str(cfg, "fleet", "state");
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    struct json_object *root = NULL;
    char clean[CS_FLEET_REASON_MAX];
    const char *s;
    int r = cs_read_file(path, STATE_MAX, &b);

    /* a state we cannot read is left alone: rewriting it without its
     * serial would drop the rollback pin (cs_fleet_pin_read) */
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0) {
        r = cs_json_parse_object((const char *)b.data, b.len, STATE_MAX, 4, &root, NULL);
        if (r < 0)
            return r;
    }
    if (!reason && (!root || !json_object_object_get_ex(root, "failed_at", NULL))) {
        json_object_put(root);
        return 0; /* nothing to drop */
    }
    if (!root && !(root = json_object_new_object()))
        return -ENOMEM;
    json_object_object_del(root, "failed_at");
    json_object_object_del(root, "failure");
    json_object_object_del(root, "refused");
    if (reason) {
        copy_reason(clean, reason);
        json_object_object_add(root, "failed_at", json_object_new_int64(when));
        json_object_object_add(root, "failure", json_object_new_string(clean));
        json_object_object_add(root, "refused", json_object_new_boolean(refused));
    }
    s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    r = s ? cs_write_file_atomic(path, s, strlen(s), 0644) : -ENOMEM;
    json_object_put(root);
    return r;
}

void cs_fleet_sync_record_failure(const cs_config *cfg, int64_t when, bool refused, const char *reason)
{
    int r = state_update(cfg, when, refused, reason ? reason : "unknown");

    if (r < 0)
        log_warning_errno(r, "fleet directory: cannot record the failure in %s (%m)",
                          cs_config_str(cfg, "fleet", "state"));
}

void cs_fleet_sync_clear_failure(const cs_config *cfg)
{
    (void)state_update(cfg, 0, false, NULL);
}

int cs_fleet_sync_warning(const cs_config *cfg, const cs_fleet_sync_status *st, char *buf, size_t len)
{
    char when[32], expires[32];
    cs_dircache dc;

    if (!st->failed_at)
        return 0;
    cs_fleet_time_str(st->failed_at, when);
    if (cs_dircache_map(cs_config_str(cfg, "fleet", "cache"), &dc, NULL) < 0) {
        snprintf(buf, len, "the last directory sync %s at %s: %s; no directory is installed, "
                 "so fleet users cannot log in", st->refused ? "was refused" : "failed", when, st->reason);
        return 1;
    }
    snprintf(buf, len, "the last directory sync %s at %s: %s; the installed directory "
             "(serial %llu) expires at %s", st->refused ? "was refused" : "failed", when, st->reason,
             (unsigned long long)dc.h->serial,
             cs_fleet_time_str(dc.h->expires, expires));
    cs_dircache_unmap(&dc);
    return 1;
}

struct json_object *cs_fleet_sync_failure_json(const cs_fleet_sync_status *st)
{
    struct json_object *f;

    if (!st->failed_at || !(f = json_object_new_object()))
        return NULL;
    json_object_object_add(f, "time", json_object_new_int64(st->failed_at));
    json_object_object_add(f, "reason", json_object_new_string(st->reason));
    json_object_object_add(f, "refused", json_object_new_boolean(st->refused));
    return f;
}
