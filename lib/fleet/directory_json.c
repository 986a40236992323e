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
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"

#define SOURCE_FORMAT "cloudseal-directory-source"
#define BODY_FORMAT "cloudseal-directory"
#define FORMAT_VERSION 1
#define JSON_MAX_DEPTH 8


/* ---- reading ---- */

/* A 32-byte key, in base64 or hex (cs_fleet_decode_key), at the field's
 * offset. */
static int get_key(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    if (!json_object_is_type(v, json_type_string) ||
        cs_fleet_decode_key(json_object_get_string(v), (uint8_t *)base + f->offset) < 0)
        return cs_json_fail(err, "field '%s' must be a 32-byte key in base64", f->name);
    return 0;
}

static int get_account_key(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    ((cs_fleet_user *)base)->has_key = true;
    return get_key(f, v, base, err);
}

static int get_escrow_key(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    ((cs_directory *)base)->has_escrow = true;
    return get_key(f, v, base, err);
}

static int get_report_key(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    ((cs_directory *)base)->has_report = true;
    return get_key(f, v, base, err);
}

/* A list of user or group names into *out, counted in *n as they come so
 * that a partly read list is freed with the directory. */
static int get_names(const char *what, json_object *v, char ***out, size_t *n, cs_json_error *err)
{
    const cs_json_field name = { .name = what, .type = CS_JSON_TYPE_STRING, .max = CS_FLEET_NAME_MAX };
    size_t len = json_object_array_length(v);

    if (!(*out = calloc(cs_fleet_capacity(len), sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int r = cs_json_dispatch_value(json_object_array_get_idx(v, i), &name, &(*out)[i], err);

        if (r < 0)
            return r;
        (*n)++;
    }
    return 0;
}

static int get_user_groups(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    cs_fleet_user *u = base;

    return get_names(f->name, v, &u->groups, &u->n_groups, err);
}

static int get_members(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    cs_fleet_group *g = base;

    return get_names(f->name, v, &g->members, &g->n_members, err);
}

/* "keybag": {"generation": 1..2^53, "sha256": 32 bytes}, nothing else;
 * the source may also say "one_time": when an admin command made it,
 * never signed into a body. */
#define KEYBAG_FIELDS                                                                                            \
    CS_JSON_U64("generation", cs_fleet_user, keybag_generation, 1, UINT64_C(1) << 53, CS_JSON_MANDATORY), \
        CS_JSON_CUSTOM("sha256", cs_fleet_user, keybag_sha256, get_key, CS_JSON_MANDATORY)
static const cs_json_field keybag_body_fields[] = { KEYBAG_FIELDS, {} };
static const cs_json_field keybag_source_fields[] = {
    KEYBAG_FIELDS,
    CS_JSON_I64("one_time", cs_fleet_user, keybag_one_time, 1, INT64_MAX, 0),
    {},
};
#undef KEYBAG_FIELDS

static int get_keybag(json_object *v, const cs_json_field *fields, void *base, cs_json_error *err)
{
    cs_json_error sub;
    int r = cs_json_dispatch(v, fields, CS_JSON_REFUSE_UNKNOWN, base, &sub);

    return r == -EBADMSG ? cs_json_fail(err, "keybag: %s", sub.msg) : r;
}

static int get_body_keybag(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return get_keybag(v, keybag_body_fields, base, err);
}

static int get_source_keybag(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return get_keybag(v, keybag_source_fields, base, err);
}

static const cs_json_field user_name_field[] = {
    CS_JSON_STRING("name", cs_fleet_user, name, CS_FLEET_NAME_MAX, CS_JSON_MANDATORY),
    {},
};

#define USER_FIELDS(keybag)                                                          \
    CS_JSON_STRING("name", cs_fleet_user, name, CS_FLEET_NAME_MAX, CS_JSON_MANDATORY),   \
        CS_JSON_U32("uid", cs_fleet_user, uid, 0, 0, CS_JSON_MANDATORY),                 \
        CS_JSON_U32("gid", cs_fleet_user, gid, 0, 0, 0),                                 \
        CS_JSON_STRING("gecos", cs_fleet_user, gecos, CS_FLEET_FIELD_MAX, 0),            \
        CS_JSON_STRING("home", cs_fleet_user, home, CS_FLEET_FIELD_MAX, 0),              \
        CS_JSON_STRING("shell", cs_fleet_user, shell, CS_FLEET_FIELD_MAX, 0),            \
        CS_JSON_ARRAY("groups", get_user_groups, 0),                                     \
        CS_JSON_CUSTOM("account_key", cs_fleet_user, key, get_account_key, 0),           \
        CS_JSON_BOOL("disabled", cs_fleet_user, disabled, 0), CS_JSON_OBJECT("keybag", keybag, 0), {}
static const cs_json_field user_body_fields[] = { USER_FIELDS(get_body_keybag) };
static const cs_json_field user_source_fields[] = { USER_FIELDS(get_source_keybag) };
#undef USER_FIELDS

static const cs_json_field group_name_field[] = {
    CS_JSON_STRING("name", cs_fleet_group, name, CS_FLEET_NAME_MAX, CS_JSON_MANDATORY),
    {},
};

static const cs_json_field group_fields[] = {
    CS_JSON_STRING("name", cs_fleet_group, name, CS_FLEET_NAME_MAX, CS_JSON_MANDATORY),
    CS_JSON_U32("gid", cs_fleet_group, gid, 0, 0, CS_JSON_MANDATORY),
    CS_JSON_ARRAY("members", get_members, 0),
    {},
};

/* One user or group: the name first, so that the error of any other
 * member can say whose it is ("user 'alice': field 'shell' ..."). */
static int read_entry(json_object *o, const char *kind, size_t idx, const cs_json_field *name,
                      const cs_json_field *fields, void *entry, char **entry_name, cs_json_error *err)
{
    cs_json_error sub;
    int r;

    if (!json_object_is_type(o, json_type_object))
        return cs_json_fail(err, "%s #%zu must be an object", kind, idx + 1);
    if ((r = cs_json_dispatch(o, name, 0, entry, &sub)) == -EBADMSG)
        return cs_json_fail(err, "%s #%zu: %s", kind, idx + 1, sub.msg);
    if (r == 0 && (r = cs_json_dispatch(o, fields, CS_JSON_REFUSE_UNKNOWN, entry, &sub)) == -EBADMSG)
        return cs_json_fail(err, "%s '%s': %s", kind, *entry_name, sub.msg);
    return r;
}

/* What a user's absent members mean. */
static int user_defaults(json_object *o, cs_fleet_user *u)
{
    if (!json_object_object_get_ex(o, "gid", NULL)) { /* Debian's user private groups */
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

static int get_users(json_object *v, const cs_json_field *fields, cs_directory *d, cs_json_error *err)
{
    size_t n = json_object_array_length(v);
    int r;

    if (!(d->users = calloc(cs_fleet_capacity(n), sizeof(*d->users))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        cs_fleet_user *u = &d->users[d->n_users++]; /* counted first: freed with the directory */

        if ((r = read_entry(e, "user", i, user_name_field, fields, u, &u->name, err)) < 0 ||
            (r = user_defaults(e, u)) < 0)
            return r;
    }
    return 0;
}

static int get_body_users(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return get_users(v, user_body_fields, base, err);
}

static int get_source_users(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return get_users(v, user_source_fields, base, err);
}

static int get_groups(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    cs_directory *d = base;
    size_t n = json_object_array_length(v);
    int r;

    if (!(d->groups = calloc(cs_fleet_capacity(n), sizeof(*d->groups))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        cs_fleet_group *g = &d->groups[d->n_groups++];

        if ((r = read_entry(json_object_array_get_idx(v, i), "group", i, group_name_field, group_fields, g,
                            &g->name, err)) < 0)
            return r;
    }
    return 0;
}

static int get_id_range(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    const cs_json_field id = { .name = f->name, .type = CS_JSON_TYPE_U32 };
    cs_directory *d = base;

    if (json_object_array_length(v) != 2 ||
        cs_json_dispatch_value(json_object_array_get_idx(v, 0), &id, &d->id_min, err) < 0 ||
        cs_json_dispatch_value(json_object_array_get_idx(v, 1), &id, &d->id_max, err) < 0 || d->id_min == 0 ||
        d->id_max < d->id_min)
        return cs_json_fail(err, "\"id_range\" must be [first, last] with 0 < first <= last");
    return 0;
}

static int check_version(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != FORMAT_VERSION)
        return cs_json_fail(err, "unsupported directory version (this program reads %d)", FORMAT_VERSION);
    return 0;
}

static int check_format(json_object *v, const char *want, cs_json_error *err)
{
    if (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), want) != 0)
        return cs_json_fail(err, "\"format\" must be \"%s\"", want);
    return 0;
}

static int check_body_format(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return check_format(v, BODY_FORMAT, err);
}

static int check_source_format(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return check_format(v, SOURCE_FORMAT, err);
}

/* In the order cloudseal writes them, so that the first error found is
 * the first in the file. */
#define HEAD_FIELDS(check_format)                                                                   \
    { .name = "format", .type = CS_JSON_TYPE_CUSTOM, .flags = CS_JSON_MANDATORY, .cb = check_format }, \
        { .name = "version", .type = CS_JSON_TYPE_CUSTOM, .cb = check_version },                    \
        CS_JSON_STRING("fleet", cs_directory, fleet, CS_FLEET_FIELD_MAX, 0)
#define TAIL_FIELDS(users)                                                                          \
    CS_JSON_ARRAY("id_range", get_id_range, 0),                                                     \
        CS_JSON_CUSTOM("escrow_key", cs_directory, escrow_pk, get_escrow_key, 0),                   \
        CS_JSON_CUSTOM("report_key", cs_directory, report_pk, get_report_key, 0),                   \
        CS_JSON_ARRAY("users", users, CS_JSON_MANDATORY), CS_JSON_ARRAY("groups", get_groups, CS_JSON_MANDATORY), {}

/* The admins' source: unknown members are refused, a typo in a
 * hand-edited file must not silently drop a user's shell or key. */
static const cs_json_field source_fields[] = {
    HEAD_FIELDS(check_source_format),
    CS_JSON_U64("serial", cs_directory, serial, 0, INT64_MAX, 0),
    TAIL_FIELDS(get_source_users),
};

/* The signed body adds when it was issued and until when it holds. */
static const cs_json_field body_fields[] = {
    HEAD_FIELDS(check_body_format),
    CS_JSON_U64("serial", cs_directory, serial, 0, INT64_MAX, CS_JSON_MANDATORY),
    CS_JSON_I64("issued", cs_directory, issued, 0, INT64_MAX, CS_JSON_MANDATORY),
    CS_JSON_I64("expires", cs_directory, expires, 0, INT64_MAX, CS_JSON_MANDATORY),
    TAIL_FIELDS(get_body_users),
};
#undef HEAD_FIELDS
#undef TAIL_FIELDS

static int parse_top(json_object *root, enum cs_dir_json_mode mode, cs_directory *d, cs_fleet_err *err)
{
    cs_json_error jerr;
    int r = cs_json_dispatch(root, mode == CS_DIR_BODY ? body_fields : source_fields, CS_JSON_REFUSE_UNKNOWN, d,
                             &jerr);

    if (r == -EBADMSG)
        cs_fleet_fail(err, "%s", jerr.msg);
    return r;
}

int cs_directory_from_json(const char *json, size_t len, enum cs_dir_json_mode mode,
                           cs_directory **out, cs_fleet_err *err)
{
    _cleanup_json_ struct json_object *root = NULL;
    cs_directory *d = NULL;
    const char *why = NULL;
    int r = cs_json_parse_ex(json, len, INT_MAX, JSON_MAX_DEPTH, &root, &why);

    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return cs_fleet_fail(err, "invalid JSON: %s", why), -EBADMSG;
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

    if (r < 0)
        return err ? cs_format_errno(err->msg, sizeof(err->msg), r, "cannot read %s: %m", path) : r;
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
