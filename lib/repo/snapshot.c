/* SPDX-License-Identifier: MIT */
/* Snapshots: sealed JSON objects (json-c), listing, lookup by id prefix or
 * "latest", and the forget policy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "repo/repo_int.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include <sodium.h>

#define SNAP_MAX_PATHS 4096
#define SNAP_MAX_STRING 65536 /* a path, a tag, the host or user name */
#define SNAP_MAX_BYTES (1u << 30)

void cs_snapshot_clear(cs_snapshot *s)
{
    free(s->host);
    free(s->user);
    for (size_t i = 0; i < s->npaths; i++)
        free(s->paths[i]);
    free(s->paths);
    for (size_t i = 0; i < s->ntags; i++)
        free(s->tags[i]);
    free(s->tags);
    memset(s, 0, sizeof(*s));
}

void cs_snapshots_free(cs_snapshot *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cs_snapshot_clear(&v[i]);
    free(v);
}

static json_object *str_array(char **v, size_t n)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static json_object *id_json(const cs_id *id)
{
    char hex[65];

    cs_id_hex(id, hex);
    return json_object_new_string(hex);
}

/* The JSON form, shared by the stored object and `snapshots --json`. */
json_object *cs_snapshot_to_json(const cs_snapshot *s, bool with_id);
json_object *cs_snapshot_to_json(const cs_snapshot *s, bool with_id)
{
    json_object *o = json_object_new_object(), *sum = json_object_new_object();
    char tbuf[64];
    struct tm tm;
    time_t t = (time_t)s->time_sec;

    gmtime_r(&t, &tm);
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(tbuf + strlen(tbuf), sizeof(tbuf) - strlen(tbuf), ".%09uZ", s->time_ns);
    if (with_id) {
        char hex[65];
        cs_id_hex(&s->id, hex);
        json_object_object_add(o, "id", json_object_new_string(hex));
        json_object_object_add(o, "short_id", json_object_new_string_len(hex, 8));
    }
    json_object_object_add(o, "time", json_object_new_string(tbuf));
    json_object_object_add(o, "time_sec", json_object_new_int64(s->time_sec));
    json_object_object_add(o, "time_ns", json_object_new_int64(s->time_ns));
    json_object_object_add(o, "host", json_object_new_string(s->host ? s->host : ""));
    json_object_object_add(o, "user", json_object_new_string(s->user ? s->user : ""));
    json_object_object_add(o, "uid", json_object_new_int64(s->uid));
    json_object_object_add(o, "paths", str_array(s->paths, s->npaths));
    json_object_object_add(o, "tags", str_array(s->tags, s->ntags));
    if (s->has_parent)
        json_object_object_add(o, "parent", id_json(&s->parent));
    json_object_object_add(o, "tree", id_json(&s->tree));
#define SUM(f) json_object_object_add(sum, #f, json_object_new_uint64(s->summary.f))
    SUM(files_new); SUM(files_changed); SUM(files_unchanged); SUM(dirs); SUM(others);
    SUM(bytes_processed); SUM(bytes_added); SUM(bytes_stored); SUM(blobs_added); SUM(errors);
    SUM(files_vanished); SUM(files_unstable); SUM(lost);
#undef SUM
    json_object_object_add(sum, "duration", json_object_new_double(s->summary.duration));
    json_object_object_add(o, "summary", sum);
    return o;
}

/* "paths" and "tags": arrays of bounded strings, at most SNAP_MAX_PATHS. */
static int get_strs(json_object *a, const char *name, char ***out, size_t *n, cs_json_error *err)
{
    static const cs_json_field string = { .type = CS_JSON_TYPE_STRING, .max = SNAP_MAX_STRING };
    size_t len = json_object_array_length(a);

    if (len > SNAP_MAX_PATHS)
        return cs_json_fail(err, "field '%s' has more than %d entries", name, SNAP_MAX_PATHS);
    if (!(*out = calloc(len ? len : 1, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        cs_json_field f = string;
        char *entry = NULL;
        int r;

        f.name = name;
        if ((r = cs_json_dispatch_value(json_object_array_get_idx(a, i), &f, &entry, err)) < 0)
            return r;
        (*out)[(*n)++] = entry;
    }
    return 0;
}

static int get_paths(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    cs_snapshot *s = base;

    return get_strs(v, f->name, &s->paths, &s->npaths, err);
}

static int get_tags(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    cs_snapshot *s = base;

    return get_strs(v, f->name, &s->tags, &s->ntags, err);
}

#define SUM(f) CS_JSON_U64(#f, cs_backup_summary, f, 0, 0, 0)
static const cs_json_field summary_fields[] = {
    SUM(files_new), SUM(files_changed), SUM(files_unchanged), SUM(dirs), SUM(others),
    SUM(bytes_processed), SUM(bytes_added), SUM(bytes_stored), SUM(blobs_added), SUM(errors),
    SUM(files_vanished), SUM(files_unstable), SUM(lost),
    CS_JSON_DOUBLE("duration", cs_backup_summary, duration, 0),
    {},
};
#undef SUM

static int get_summary(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return cs_json_dispatch(v, summary_fields, 0, &((cs_snapshot *)base)->summary, err);
}

/* Unknown members are ignored: "time", "id" and "short_id" are written for
 * `snapshots --json` and never read back. */
static const cs_json_field snapshot_fields[] = {
    CS_JSON_I64("time_sec", cs_snapshot, time_sec, 0, 0, CS_JSON_MANDATORY),
    CS_JSON_U32("time_ns", cs_snapshot, time_ns, 0, 999999999, 0),
    CS_JSON_U32("uid", cs_snapshot, uid, 0, 0, 0),
    CS_JSON_STRING("host", cs_snapshot, host, SNAP_MAX_STRING, 0),
    CS_JSON_STRING("user", cs_snapshot, user, SNAP_MAX_STRING, 0),
    CS_JSON_ARRAY("paths", get_paths, 0),
    CS_JSON_ARRAY("tags", get_tags, 0),
    CS_JSON_HEX("tree", cs_snapshot, tree.b, CS_JSON_MANDATORY),
    CS_JSON_HEX("parent", cs_snapshot, parent.b, 0),
    CS_JSON_OBJECT("summary", get_summary, 0),
    {},
};

int cs_snapshot_parse(const uint8_t *data, size_t len, cs_snapshot *s)
{
    _cleanup_json_ json_object *o = NULL;
    cs_json_error err = { "" };
    int r;

    memset(s, 0, sizeof(*s));
    r = cs_json_parse_object((const char *)data, len, SNAP_MAX_BYTES, CS_JSON_MAX_DEPTH, &o, NULL);
    if (r == -E2BIG)
        r = cs_json_fail(&err, "larger than %u bytes", SNAP_MAX_BYTES);
    else if (r == -EBADMSG)
        r = cs_json_fail(&err, "not a JSON object");
    if (r == 0)
        r = cs_json_dispatch(o, snapshot_fields, 0, s, &err);
    if (r == 0) {
        s->has_parent = json_object_object_get_ex(o, "parent", NULL);
        if ((!s->host && !(s->host = strdup(""))) || (!s->user && !(s->user = strdup(""))))
            r = -ENOMEM;
    }
    if (r < 0) {
        if (r == -EBADMSG)
            log_error("snapshot: %s", err.msg);
        cs_snapshot_clear(s);
    }
    return r;
}

int cs_snapshot_write(cs_repo *r, cs_snapshot *s);
int cs_snapshot_write(cs_repo *r, cs_snapshot *s)
{
    json_object *o = cs_snapshot_to_json(s, false);
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int rc;

    /* 256 random bits name no other object: a plain PUT.  If-None-Match
     * would guard against nothing here and cost, on S3, a HEAD (servers
     * that ignore it) or the probe of whether they do. */
    randombytes_buf(s->id.b, sizeof(s->id.b));
    rc = cs_repo_put_sealed(r, "snapshots", CS_OBJ_SNAPSHOT, &s->id, txt, strlen(txt), CS_PUT_REPLACE);
    json_object_put(o);
    return rc;
}

typedef struct load_ctx {
    const cs_id *ids;
    cs_snapshot *v;
    size_t k, bad;
} load_ctx;

static int load_one(void *ud, size_t i, int rc, const cs_buf *pt)
{
    load_ctx *c = ud;

    if (rc == 0)
        rc = cs_snapshot_parse(pt->data, pt->len, &c->v[c->k]);
    if (rc == -ENOENT)
        return 0;
    if (rc == -EBADMSG) {
        char hex[65];
        cs_id_hex(&c->ids[i], hex);
        log_error("snapshot snapshots/%s is damaged (it does not authenticate): nothing in it can be read; "
                  "'cloudseal repair snapshots' removes it", hex);
        c->bad++;
        return 0;
    }
    if (rc < 0)
        return rc; /* storage: not the snapshot's fault */
    c->v[c->k++].id = c->ids[i];
    return 0;
}

static int snap_cmp(const void *a, const void *b)
{
    const cs_snapshot *x = a, *y = b;

    if (x->time_sec != y->time_sec)
        return x->time_sec < y->time_sec ? -1 : 1;
    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns ? -1 : 1;
    return memcmp(x->id.b, y->id.b, CS_ID_LEN);
}

int cs_snapshot_list(cs_repo *r, cs_snapshot **out, size_t *n, size_t *damaged)
{
    cs_id *ids = NULL;
    size_t nids = 0;
    load_ctx c = { 0 };
    int rc = cs_repo_list_ids(r, "snapshots", &ids, &nids);

    if (rc < 0)
        return rc;
    cs_repo_cache_sync(r, "snapshots", ids, nids);
    c.ids = ids;
    c.v = calloc(nids ? nids : 1, sizeof(*c.v));
    if (!c.v) {
        free(ids);
        return -ENOMEM;
    }
    rc = cs_repo_get_sealed_each(r, "snapshots", CS_OBJ_SNAPSHOT, ids, nids, load_one, &c);
    free(ids);
    if (rc < 0) {
        cs_snapshots_free(c.v, c.k);
        return rc;
    }
    qsort(c.v, c.k, sizeof(*c.v), snap_cmp);
    *out = c.v;
    *n = c.k;
    if (damaged)
        *damaged = c.bad;
    return 0;
}

static void snap_copy_move(cs_snapshot *dst, cs_snapshot *src)
{
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

/* No readable snapshot matches spec: -EBADMSG when a damaged snapshot
 * object does (an integrity failure, not a typo), else -ENOENT. */
static int damaged_match(cs_repo *r, const char *spec)
{
    cs_id *ids = NULL;
    size_t n = 0;
    int rc = strcmp(spec, "latest") == 0 ? -ENOENT : cs_repo_list_ids(r, "snapshots", &ids, &n);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char hex[65];
        cs_id_hex(&ids[i], hex);
        if (strncasecmp(hex, spec, strlen(spec)) == 0)
            rc = -EBADMSG;
    }
    free(ids);
    return rc == 0 ? -ENOENT : rc;
}

int cs_snapshot_find(cs_repo *r, const char *spec, cs_snapshot *out)
{
    cs_snapshot *v = NULL;
    size_t n = 0, found = SIZE_MAX;
    int rc;

    if (!spec || (strcmp(spec, "latest") != 0 && strlen(spec) < 4))
        return -EINVAL;
    rc = cs_snapshot_list(r, &v, &n, NULL);
    if (rc < 0)
        return rc;
    if (strcmp(spec, "latest") == 0) {
        if (n)
            found = n - 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            char hex[65];
            cs_id_hex(&v[i].id, hex);
            if (strncasecmp(hex, spec, strlen(spec)) == 0) {
                if (found != SIZE_MAX) {
                    rc = -ENOTUNIQ;
                    break;
                }
                found = i;
            }
        }
    }
    if (rc == 0 && found == SIZE_MAX)
        rc = damaged_match(r, spec);
    if (rc == 0)
        snap_copy_move(out, &v[found]);
    cs_snapshots_free(v, n);
    return rc;
}

int cs_snapshot_delete(cs_repo *r, const cs_id *id)
{
    char key[1200];

    cs_repo_key(r, "snapshots", id, key, sizeof(key));
    if (r->cache_dir) {
        char hex[65], local[1400];
        cs_id_hex(id, hex);
        snprintf(local, sizeof(local), "%s/snapshots/%s", r->cache_dir, hex);
        unlink(local);
    }
    return cs_storage_del(r->st, key);
}

/* restic's semantics: walking from the newest, keep the newest snapshot of
 * each of the last N hours/days/...; --keep-last N keeps the N newest. */
void cs_forget_plan(const cs_snapshot *snaps, size_t n, const cs_forget_policy *p, bool *keep)
{
    const struct { int count; const char *fmt; } buckets[] = {
        { p->hourly, "%Y%m%d%H" }, { p->daily, "%Y%m%d" }, { p->weekly, "%G%V" },
        { p->monthly, "%Y%m" }, { p->yearly, "%Y" },
    };

    for (size_t i = 0; i < n; i++)
        keep[i] = false;
    for (size_t i = n, k = 0; i-- > 0 && k < (size_t)(p->last > 0 ? p->last : 0); k++)
        keep[i] = true;
    for (size_t b = 0; b < CS_ARRAY_SIZE(buckets); b++) {
        char last[32] = "";
        int left = buckets[b].count;
        for (size_t i = n; i-- > 0 && left > 0;) {
            char cur[32];
            struct tm tm;
            time_t t = (time_t)snaps[i].time_sec;
            localtime_r(&t, &tm);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            strftime(cur, sizeof(cur), buckets[b].fmt, &tm); /* formats from the table above */
#pragma GCC diagnostic pop
            if (strcmp(cur, last) != 0) {
                keep[i] = true;
                snprintf(last, sizeof(last), "%s", cur);
                left--;
            }
        }
    }
}

/* The same strings, in any order (paths and tags are sets). */
static bool same_set(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        size_t k = 0;
        while (k < nb && strcmp(a[i], b[k]) != 0)
            k++;
        if (k == nb)
            return false;
    }
    return true;
}

bool cs_snapshot_same_group(const cs_snapshot *a, const cs_snapshot *b, unsigned by)
{
    return (!(by & CS_GROUP_HOST) || strcmp(a->host ? a->host : "", b->host ? b->host : "") == 0) &&
           (!(by & CS_GROUP_PATHS) || same_set(a->paths, a->npaths, b->paths, b->npaths)) &&
           (!(by & CS_GROUP_TAGS) || same_set(a->tags, a->ntags, b->tags, b->ntags));
}

int cs_group_by_parse(const char *s, unsigned *out)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "host", CS_GROUP_HOST }, { "paths", CS_GROUP_PATHS }, { "tags", CS_GROUP_TAGS },
    };
    size_t len;

    *out = 0;
    for (; *s; s += len + (s[len] == ',')) {
        size_t i = 0;
        len = strcspn(s, ",");
        while (i < CS_ARRAY_SIZE(names) && !(strlen(names[i].name) == len && strncmp(s, names[i].name, len) == 0))
            i++;
        if (i == CS_ARRAY_SIZE(names))
            return -EINVAL;
        *out |= names[i].bit;
    }
    return 0;
}
