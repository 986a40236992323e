/* SPDX-License-Identifier: MIT */
/* The directory as JSON (json-c): the admins' source file and the signed body.
 *
 * Both share one schema (docs/directory.md); the body adds issued/expires.
 * Parsing is strict: unknown keys, wrong types, over-long strings and
 * out-of-range numbers are errors that name the entry, because a typo in a
 * hand-edited file must not silently drop a user's shell or key.
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "fleet/fleet_internal.h"
#include "util/fileio.h"
#include "util/macros.h"

#define SOURCE_FORMAT "cloudseal-directory-source"
#define BODY_FORMAT "cloudseal-directory"
#define FORMAT_VERSION 1
#define JSON_MAX_DEPTH 8

static void put_json(struct json_object *o) { json_object_put(o); }
#define _cleanup_json_ __attribute__((cleanup(json_cleanup)))
static inline void json_cleanup(struct json_object **o) { if (*o) put_json(*o); }

/* ---- reading ---- */

static int get_string(struct json_object *v, const char *what, const char *entry, size_t max,
                      char **out, cs_fleet_err *err)
{
    const char *s;
    size_t n;

    if (!json_object_is_type(v, json_type_string))
        return cs_fleet_fail(err, "%s: \"%s\" must be a string", entry, what);
    s = json_object_get_string(v);
    n = (size_t)json_object_get_string_len(v);
    if (n > max || strlen(s) != n)
        return cs_fleet_fail(err, "%s: \"%s\" is longer than %zu bytes or contains NUL", entry, what, max);
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

static int get_u64(struct json_object *v, const char *what, const char *entry, uint64_t min,
                   uint64_t max, uint64_t *out, cs_fleet_err *err)
{
    int64_t x;

    if (!json_object_is_type(v, json_type_int))
        return cs_fleet_fail(err, "%s: \"%s\" must be an integer", entry, what);
    errno = 0;
    x = json_object_get_int64(v);
    if (errno != 0 || x < 0 || (uint64_t)x < min || (uint64_t)x > max)
        return cs_fleet_fail(err, "%s: \"%s\" must be between %llu and %llu", entry, what,
                             (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)x;
    return 0;
}

static int get_u32(struct json_object *v, const char *what, const char *entry, uint32_t *out,
                   cs_fleet_err *err)
{
    uint64_t x;
    int r = get_u64(v, what, entry, 0, UINT32_MAX, &x, err);

    if (r == 0)
        *out = (uint32_t)x;
    return r;
}

static int get_key(struct json_object *v, const char *what, const char *entry, uint8_t out[32],
                   cs_fleet_err *err)
{
    if (!json_object_is_type(v, json_type_string) ||
        cs_fleet_decode_key(json_object_get_string(v), out) < 0)
        return cs_fleet_fail(err, "%s: \"%s\" must be a 32-byte key in base64", entry, what);
    return 0;
}

static int get_names(struct json_object *v, const char *what, const char *entry, char ***out,
                     size_t *n, cs_fleet_err *err)
{
    size_t len;

    if (!json_object_is_type(v, json_type_array))
        return cs_fleet_fail(err, "%s: \"%s\" must be a list of names", entry, what);
    len = json_object_array_length(v);
    *out = calloc(cs_fleet_capacity(len), sizeof(char *));
    if (!*out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int r = get_string(json_object_array_get_idx(v, i), what, entry, CS_FLEET_NAME_MAX,
                           &(*out)[i], err);

        if (r < 0)
            return r;
        (*n)++;
    }
    return 0;
}

/* "keybag": {"generation": 1..2^53, "sha256": 32 bytes}, nothing else;
 * the source may also say "one_time": when an admin command made it. */
static int get_keybag(struct json_object *o, const char *entry, enum cs_dir_json_mode mode, cs_fleet_user *u,
                      cs_fleet_err *err)
{
    uint64_t t;

    bool gen = false, sha = false;
    int r = 0;

    if (!json_object_is_type(o, json_type_object))
        return cs_fleet_fail(err, "%s: \"keybag\" must be an object", entry);
    json_object_object_foreach(o, kb_key, kb_val) {
        if (strcmp(kb_key, "generation") == 0)
            r = get_u64(kb_val, "keybag.generation", entry, 1, UINT64_C(1) << 53, &u->keybag_generation, err),
            gen = true;
        else if (strcmp(kb_key, "sha256") == 0)
            r = get_key(kb_val, "keybag.sha256", entry, u->keybag_sha256, err), sha = true;
        else if (strcmp(kb_key, "one_time") == 0 && mode == CS_DIR_SOURCE)
            r = get_u64(kb_val, "keybag.one_time", entry, 1, INT64_MAX, &t, err), u->keybag_one_time = (int64_t)t;
        else
            return cs_fleet_fail(err, "%s: unknown field \"keybag.%s\"", entry, kb_key);
        if (r < 0)
            return r;
    }
    if (!gen || !sha)
        return cs_fleet_fail(err, "%s: \"keybag\" needs \"generation\" and \"sha256\"", entry);
    return 0;
}

static int parse_user(struct json_object *o, size_t idx, enum cs_dir_json_mode mode, cs_fleet_user *u,
                      cs_fleet_err *err)
{
    char entry[64];
    bool seen_uid = false, seen_gid = false;
    int r = 0;

    snprintf(entry, sizeof(entry), "user #%zu", idx + 1);
    if (!json_object_is_type(o, json_type_object))
        return cs_fleet_fail(err, "%s must be an object", entry);
    /* the name first, so later messages can say whose field is wrong */
    struct json_object *name;
    if (!json_object_object_get_ex(o, "name", &name))
        return cs_fleet_fail(err, "%s has no \"name\"", entry);
    r = get_string(name, "name", entry, CS_FLEET_NAME_MAX, &u->name, err);
    if (r < 0)
        return r;
    snprintf(entry, sizeof(entry), "user '%s'", u->name);

    json_object_object_foreach(o, key, v) {
        if (strcmp(key, "name") == 0)
            continue;
        else if (strcmp(key, "uid") == 0)
            r = get_u32(v, key, entry, &u->uid, err), seen_uid = true;
        else if (strcmp(key, "gid") == 0)
            r = get_u32(v, key, entry, &u->gid, err), seen_gid = true;
        else if (strcmp(key, "gecos") == 0)
            r = get_string(v, key, entry, CS_FLEET_FIELD_MAX, &u->gecos, err);
        else if (strcmp(key, "home") == 0)
            r = get_string(v, key, entry, CS_FLEET_FIELD_MAX, &u->home, err);
        else if (strcmp(key, "shell") == 0)
            r = get_string(v, key, entry, CS_FLEET_FIELD_MAX, &u->shell, err);
        else if (strcmp(key, "groups") == 0)
            r = get_names(v, key, entry, &u->groups, &u->n_groups, err);
        else if (strcmp(key, "account_key") == 0)
            r = get_key(v, key, entry, u->key, err), u->has_key = true;
        else if (strcmp(key, "keybag") == 0)
            r = get_keybag(v, entry, mode, u, err);
        else if (strcmp(key, "disabled") == 0) {
            if (!json_object_is_type(v, json_type_boolean))
                return cs_fleet_fail(err, "%s: \"disabled\" must be true or false", entry);
            u->disabled = json_object_get_boolean(v);
        } else
            return cs_fleet_fail(err, "%s: unknown field \"%s\"", entry, key);
        if (r < 0)
            return r;
    }
    if (!seen_uid)
        return cs_fleet_fail(err, "%s needs a \"uid\"", entry);
    if (!seen_gid) { /* Debian's user private groups: a group of the same name and number */
        u->private_group = true;
        u->gid = u->uid;
    }
    if (!u->gecos && !(u->gecos = strdup("")))
        return -ENOMEM;
    if (!u->home && asprintf(&u->home, "/home/%s", u->name) < 0)
        return (u->home = NULL), -ENOMEM;
    if (!u->shell && !(u->shell = strdup("/bin/bash")))
        return -ENOMEM;
    return 0;
}

static int parse_group(struct json_object *o, size_t idx, cs_fleet_group *g, cs_fleet_err *err)
{
    char entry[64];
    struct json_object *name;
    bool seen_gid = false;
    int r;

    snprintf(entry, sizeof(entry), "group #%zu", idx + 1);
    if (!json_object_is_type(o, json_type_object))
        return cs_fleet_fail(err, "%s must be an object", entry);
    if (!json_object_object_get_ex(o, "name", &name))
        return cs_fleet_fail(err, "%s has no \"name\"", entry);
    r = get_string(name, "name", entry, CS_FLEET_NAME_MAX, &g->name, err);
    if (r < 0)
        return r;
    snprintf(entry, sizeof(entry), "group '%s'", g->name);
    json_object_object_foreach(o, key, v) {
        if (strcmp(key, "name") == 0)
            continue;
        else if (strcmp(key, "gid") == 0)
            r = get_u32(v, key, entry, &g->gid, err), seen_gid = true;
        else if (strcmp(key, "members") == 0)
            r = get_names(v, key, entry, &g->members, &g->n_members, err);
        else
            return cs_fleet_fail(err, "%s: unknown field \"%s\"", entry, key);
        if (r < 0)
            return r;
    }
    if (!seen_gid)
        return cs_fleet_fail(err, "%s needs \"gid\"", entry);
    return 0;
}

static int parse_list(struct json_object *v, const char *what, bool users, enum cs_dir_json_mode mode,
                      cs_directory *d, cs_fleet_err *err)
{
    size_t n;

    if (!json_object_is_type(v, json_type_array))
        return cs_fleet_fail(err, "\"%s\" must be a list", what);
    n = json_object_array_length(v);
    if (users) {
        d->users = calloc(cs_fleet_capacity(n), sizeof(*d->users));
        if (!d->users)
            return -ENOMEM;
    } else {
        d->groups = calloc(cs_fleet_capacity(n), sizeof(*d->groups));
        if (!d->groups)
            return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        int r;

        /* count first: a partly parsed entry is freed with the directory */
        if (users) {
            d->n_users++;
            r = parse_user(e, i, mode, &d->users[i], err);
        } else {
            d->n_groups++;
            r = parse_group(e, i, &d->groups[i], err);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_top(struct json_object *root, enum cs_dir_json_mode mode, cs_directory *d,
                     cs_fleet_err *err)
{
    const char *want = mode == CS_DIR_BODY ? BODY_FORMAT : SOURCE_FORMAT;
    bool seen_format = false, seen_issued = false, seen_expires = false, seen_serial = false;
    bool seen_users = false, seen_groups = false;
    int r = 0;

    if (!json_object_is_type(root, json_type_object))
        return cs_fleet_fail(err, "the directory must be a JSON object");
    json_object_object_foreach(root, key, v) {
        uint64_t x;

        if (strcmp(key, "format") == 0) {
            if (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), want) != 0)
                return cs_fleet_fail(err, "\"format\" must be \"%s\"", want);
            seen_format = true;
        } else if (strcmp(key, "version") == 0) {
            if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != FORMAT_VERSION)
                return cs_fleet_fail(err, "unsupported directory version (this program reads %d)",
                                     FORMAT_VERSION);
        } else if (strcmp(key, "fleet") == 0) {
            r = get_string(v, key, "directory", CS_FLEET_FIELD_MAX, &d->fleet, err);
        } else if (strcmp(key, "id_range") == 0) {
            if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
                return cs_fleet_fail(err, "\"id_range\" must be [first, last]");
            r = get_u32(json_object_array_get_idx(v, 0), "id_range", "directory", &d->id_min, err);
            if (r == 0)
                r = get_u32(json_object_array_get_idx(v, 1), "id_range", "directory", &d->id_max, err);
            if (r == 0 && (d->id_min == 0 || d->id_max < d->id_min))
                return cs_fleet_fail(err, "\"id_range\" must be [first, last] with 0 < first <= last");
        } else if (strcmp(key, "serial") == 0) {
            r = get_u64(v, key, "directory", 0, INT64_MAX, &d->serial, err);
            seen_serial = true;
        } else if (strcmp(key, "issued") == 0 && mode == CS_DIR_BODY) {
            r = get_u64(v, key, "directory", 0, INT64_MAX, &x, err);
            d->issued = (int64_t)x;
            seen_issued = true;
        } else if (strcmp(key, "expires") == 0 && mode == CS_DIR_BODY) {
            r = get_u64(v, key, "directory", 0, INT64_MAX, &x, err);
            d->expires = (int64_t)x;
            seen_expires = true;
        } else if (strcmp(key, "escrow_key") == 0) {
            r = get_key(v, key, "directory", d->escrow_pk, err);
            d->has_escrow = true;
        } else if (strcmp(key, "report_key") == 0) {
            r = get_key(v, key, "directory", d->report_pk, err);
            d->has_report = true;
        } else if (strcmp(key, "users") == 0) {
            r = parse_list(v, key, true, mode, d, err);
            seen_users = true;
        } else if (strcmp(key, "groups") == 0) {
            r = parse_list(v, key, false, mode, d, err);
            seen_groups = true;
        } else {
            return cs_fleet_fail(err, "unknown top-level field \"%s\"", key);
        }
        if (r < 0)
            return r;
    }
    if (!seen_format)
        return cs_fleet_fail(err, "missing \"format\": \"%s\"", want);
    if (!seen_users || !seen_groups)
        return cs_fleet_fail(err, "missing \"users\" or \"groups\" list");
    if (mode == CS_DIR_BODY && (!seen_serial || !seen_issued || !seen_expires))
        return cs_fleet_fail(err, "the signed directory lacks serial, issued or expires");
    return 0;
}

int cs_directory_from_json(const char *json, size_t len, enum cs_dir_json_mode mode,
                           cs_directory **out, cs_fleet_err *err)
{
    _cleanup_json_ struct json_object *root = NULL;
    struct json_tokener *tok;
    cs_directory *d = NULL;
    size_t end;
    int r;

    if (len > INT_MAX || memchr(json, '\0', len))
        return cs_fleet_fail(err, "the directory is not JSON text"), -EBADMSG;
    tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (!tok)
        return -ENOMEM;
    root = json_tokener_parse_ex(tok, json, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success) {
        cs_fleet_fail(err, "invalid JSON: %s",
                      json_tokener_error_desc(root ? json_tokener_success : json_tokener_get_error(tok)));
        if (!root && json_tokener_get_error(tok) == json_tokener_continue)
            cs_fleet_fail(err, "invalid JSON: truncated");
        json_tokener_free(tok);
        return -EBADMSG;
    }
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    for (; end < len; end++)
        if (!strchr(" \t\r\n", json[end]))
            return cs_fleet_fail(err, "invalid JSON: trailing data after the object"), -EBADMSG;

    r = cs_directory_new(&d);
    if (r < 0)
        return r;
    r = parse_top(root, mode, d, err);
    if (r < 0) {
        cs_directory_free(d);
        return r == -EINVAL ? -EBADMSG : r;
    }
    *out = d;
    return 0;
}

int cs_directory_load_source(const char *path, cs_directory **out, cs_fleet_err *err)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    int r = cs_read_file(path, CS_FLEET_MAX_SIGNED, &b);

    if (r < 0) {
        cs_fleet_fail(err, "cannot read %s: %s", path, strerror(-r));
        return r;
    }
    return cs_directory_from_json((const char *)b.data, b.len, CS_DIR_SOURCE, out, err);
}

/* ---- writing ---- */

static int add(struct json_object *o, const char *key, struct json_object *v)
{
    if (!v)
        return -ENOMEM;
    if (json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

static struct json_object *names_json(char **v, size_t n)
{
    struct json_object *a = json_object_new_array_ext((int)n);

    for (size_t i = 0; a && i < n; i++)
        if (json_object_array_add(a, json_object_new_string(v[i])) < 0) {
            json_object_put(a);
            return NULL;
        }
    return a;
}

static struct json_object *key_json(const uint8_t key[32])
{
    char b64[48];

    cs_fleet_encode_key(key, b64);
    return json_object_new_string(b64);
}

static struct json_object *keybag_json(const cs_fleet_user *u, enum cs_dir_json_mode mode)
{
    struct json_object *o = json_object_new_object();

    if (o && (add(o, "generation", json_object_new_int64((int64_t)u->keybag_generation)) < 0 ||
              add(o, "sha256", key_json(u->keybag_sha256)) < 0 ||
              (mode == CS_DIR_SOURCE && u->keybag_one_time &&
               add(o, "one_time", json_object_new_int64(u->keybag_one_time)) < 0))) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static struct json_object *user_json(const cs_fleet_user *u, enum cs_dir_json_mode mode)
{
    struct json_object *o = json_object_new_object();
    int r;

    if (!o)
        return NULL;
    r = add(o, "name", json_object_new_string(u->name));
    if (!r) r = add(o, "uid", json_object_new_int64(u->uid));
    if (!r && !u->private_group) r = add(o, "gid", json_object_new_int64(u->gid));
    if (!r) r = add(o, "gecos", json_object_new_string(u->gecos ? u->gecos : ""));
    if (!r && u->home) r = add(o, "home", json_object_new_string(u->home));
    if (!r && u->shell) r = add(o, "shell", json_object_new_string(u->shell));
    if (!r && u->n_groups) r = add(o, "groups", names_json(u->groups, u->n_groups));
    if (!r && u->has_key) r = add(o, "account_key", key_json(u->key));
    if (!r && u->disabled) r = add(o, "disabled", json_object_new_boolean(1));
    if (!r && u->keybag_generation) r = add(o, "keybag", keybag_json(u, mode));
    if (r < 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static struct json_object *group_json(const cs_fleet_group *g)
{
    struct json_object *o = json_object_new_object();
    int r;

    if (!o)
        return NULL;
    r = add(o, "name", json_object_new_string(g->name));
    if (!r) r = add(o, "gid", json_object_new_int64(g->gid));
    if (!r) r = add(o, "members", names_json(g->members, g->n_members));
    if (r < 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static struct json_object *directory_json(const cs_directory *d, enum cs_dir_json_mode mode)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    struct json_object *users, *groups, *range;
    int r;

    if (!o)
        return NULL;
    r = add(o, "format", json_object_new_string(mode == CS_DIR_BODY ? BODY_FORMAT : SOURCE_FORMAT));
    if (!r) r = add(o, "version", json_object_new_int(FORMAT_VERSION));
    if (!r) r = add(o, "fleet", json_object_new_string(d->fleet ? d->fleet : ""));
    if (!r) r = add(o, "serial", json_object_new_int64((int64_t)d->serial));
    if (!r && mode == CS_DIR_BODY) r = add(o, "issued", json_object_new_int64(d->issued));
    if (!r && mode == CS_DIR_BODY) r = add(o, "expires", json_object_new_int64(d->expires));
    if (!r && (range = json_object_new_array_ext(2))) {
        json_object_array_add(range, json_object_new_int64(d->id_min));
        json_object_array_add(range, json_object_new_int64(d->id_max));
        r = add(o, "id_range", range);
    }
    if (!r && d->has_escrow) r = add(o, "escrow_key", key_json(d->escrow_pk));
    if (!r && d->has_report) r = add(o, "report_key", key_json(d->report_pk));
    if (r < 0)
        return NULL;
    users = json_object_new_array_ext((int)d->n_users);
    if (add(o, "users", users) < 0)
        return NULL;
    for (size_t i = 0; i < d->n_users; i++) {
        struct json_object *u = user_json(&d->users[i], mode);

        if (!u || json_object_array_add(users, u) < 0)
            return json_object_put(u), NULL;
    }
    groups = json_object_new_array_ext((int)d->n_groups);
    if (add(o, "groups", groups) < 0)
        return NULL;
    for (size_t i = 0; i < d->n_groups; i++) {
        struct json_object *g = group_json(&d->groups[i]);

        if (!g || json_object_array_add(groups, g) < 0)
            return json_object_put(g), NULL;
    }
    return CS_TAKE_PTR(o);
}

int cs_directory_to_json(const cs_directory *d, enum cs_dir_json_mode mode, char **out, size_t *len)
{
    _cleanup_json_ struct json_object *o = directory_json(d, mode);
    int flags = mode == CS_DIR_BODY ? JSON_C_TO_STRING_PLAIN
                                    : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
    const char *s;
    size_t n;

    if (!o)
        return -ENOMEM;
    s = json_object_to_json_string_length(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (!s)
        return -ENOMEM;
    *out = malloc(n + 2);
    if (!*out)
        return -ENOMEM;
    memcpy(*out, s, n);
    if (mode == CS_DIR_SOURCE)
        (*out)[n++] = '\n'; /* a text file ends with a newline */
    (*out)[n] = '\0';
    if (len)
        *len = n;
    return 0;
}

int cs_directory_save_source(const char *path, const cs_directory *d)
{
    _cleanup_free_ char *json = NULL;
    size_t len;
    int r = cs_directory_to_json(d, CS_DIR_SOURCE, &json, &len);

    if (r < 0)
        return r;
    return cs_write_file_atomic(path, json, len, 0644);
}
