/* SPDX-License-Identifier: MIT */
/* Fleet backup health reports: see report.h and docs/reports.md.  One field
 * table drives the writer and the strict reader, and the writer checks its
 * own output with the reader, so the agent cannot file what admins refuse. */
#include "fleet/report.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "fleet/fleet_internal.h"
#include "util/macros.h"
#include "util/secmem.h"

#define FAIL(...) (cs_fleet_fail(err, __VA_ARGS__), -EBADMSG)
#define MAGIC "CSRPT\0\0\1"
#define MAGIC_LEN 8
#define SIG_LEN crypto_sign_BYTES
#define DOMAIN "cloudseal report v1" /* and its NUL */
#define PAD 256
#define INT_MAX53 (1ull << 53)
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const error_names[] = {
    [CS_REPORT_ERR_NONE] = "none",
    [CS_REPORT_ERR_UNREACHABLE] = "unreachable",
    [CS_REPORT_ERR_LOCKED] = "locked",
    [CS_REPORT_ERR_NO_REPOSITORY] = "no-repository",
    [CS_REPORT_ERR_NEEDS_CONSENT] = "needs-consent",
    [CS_REPORT_ERR_FAILED] = "failed",
    [CS_REPORT_ERR_OTHER] = "other",
};

static const char *const state_names[] = {
    [CS_REPORT_OK] = "ok",
    [CS_REPORT_INVALID] = "invalid",
    [CS_REPORT_FORGED] = "forged",
    [CS_REPORT_UNKNOWN_USER] = "unknown-user",
    [CS_REPORT_MISPLACED] = "misplaced",
    [CS_REPORT_FUTURE] = "future",
    [CS_REPORT_REPLAYED] = "replayed",
};

const char *cs_report_error_name(cs_report_error e)
{
    return (unsigned)e < N_OF(error_names) ? error_names[e] : "other";
}

cs_report_error cs_report_error_from_name(const char *s)
{
    for (size_t i = 0; i < N_OF(error_names); i++)
        if (strcmp(s, error_names[i]) == 0)
            return (cs_report_error)i;
    return CS_REPORT_ERR_OTHER;
}

const char *cs_report_state_name(cs_report_state s)
{
    return (unsigned)s < N_OF(state_names) ? state_names[s] : "invalid";
}

static bool all_chars(const char *s, size_t max, const char *extra, bool lower_hex_only)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = lower_hex_only ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
                                 : (c < 128 && (isalnum(c) || (c && strchr(extra, c))));
        if (!ok)
            return false;
    }
    return true;
}

bool cs_report_host_id_valid(const char *s)
{
    return strlen(s) == CS_REPORT_HOST_ID_HEX && all_chars(s, CS_REPORT_HOST_ID_HEX, "", true);
}

static bool user_ok(const char *s) { return cs_user_name_valid(s, CS_USER_NAME_FLEET); }
static bool host_ok(const char *s) { return all_chars(s, CS_REPORT_HOST_MAX, ".-", false); }
static bool version_ok(const char *s) { return all_chars(s, CS_REPORT_VERSION_MAX, ".-+~_:", false); }
static bool error_ok(const char *s) { return all_chars(s, 32, "-", false); }

int cs_report_key(const char *user, const char *host_id, char *out, size_t len)
{
    int n;

    if (!user_ok(user) || !cs_report_host_id_valid(host_id))
        return -EINVAL;
    n = snprintf(out, len, CS_REPORT_PREFIX "%s/%s", user, host_id);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- the body: one table for both directions ---- */

enum kind { K_VERSION, K_STR, K_INT, K_ERROR };
static const struct field {
    const char *name;
    enum kind kind;
    size_t off, size;              /* K_STR: the char array; K_INT: an 8-byte integer */
    bool (*ok)(const char *s);     /* K_STR */
} fields[] = {
#define STR(n, check) { #n, K_STR, offsetof(cs_report, n), sizeof(((cs_report *)0)->n), check }
#define INT(n) { #n, K_INT, offsetof(cs_report, n), sizeof(((cs_report *)0)->n), NULL }
    { "version", K_VERSION, 0, 0, NULL },
    STR(user, user_ok),
    STR(host, host_ok),
    STR(host_id, cs_report_host_id_valid),
    INT(sequence),
    INT(time),
    STR(agent_version, version_ok),
    INT(last_backup),
    INT(last_sync),
    INT(snapshots),
    INT(repo_bytes),
    { "last_error", K_ERROR, offsetof(cs_report, last_error), 0, error_ok },
    INT(last_error_time),
#undef STR
#undef INT
};
_Static_assert(N_OF(fields) < 32, "seen is a 32-bit mask");

static uint64_t *int_at(const cs_report *r, const struct field *f)
{
    _Static_assert(sizeof(int64_t) == sizeof(uint64_t), "8-byte integers");
    return (uint64_t *)((char *)r + f->off);
}

/* Times and counts that contradict each other: a report says when it was
 * made, so nothing it reports can be later than that. */
static int consistent(const cs_report *r, cs_fleet_err *err)
{
    if (r->sequence == 0)
        return FAIL("\"sequence\" starts at 1");
    if (r->last_backup > r->time || r->last_sync > r->time || r->last_error_time > r->time)
        return FAIL("a time in the report is later than the report itself");
    if ((r->last_error == CS_REPORT_ERR_NONE) != (r->last_error_time == 0))
        return FAIL("\"last_error_time\" must be set exactly when \"last_error\" is not \"none\"");
    return 0;
}

static int parse_member(const struct field *f, json_object *v, cs_report *r, cs_fleet_err *err)
{
    const char *s;
    int64_t x;

    switch (f->kind) {
    case K_VERSION:
        x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        return x == 1 ? 0 : FAIL("unsupported report version (this cloudseal reads version 1)");
    case K_INT:
        x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        if (x < 0 || (uint64_t)x > INT_MAX53)
            return FAIL("\"%s\" is not an integer from 0 to 2^53", f->name);
        *int_at(r, f) = (uint64_t)x;
        return 0;
    case K_STR:
    case K_ERROR:
        s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        if (!s || strlen(s) != (size_t)json_object_get_string_len(v) || !f->ok(s))
            return FAIL("\"%s\" is missing, too long or has characters it may not have", f->name);
        if (f->kind == K_ERROR)
            r->last_error = cs_report_error_from_name(s);
        else
            memcpy((char *)r + f->off, s, strlen(s) + 1); /* f->ok bounded it below f->size */
        return 0;
    }
    return -EBADMSG;
}

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < N_OF(fields); i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

int cs_report_parse(const char *data, size_t len, cs_report *out, cs_fleet_err *err)
{
    cs_report r = { 0 };
    uint32_t seen = 0;
    json_object *o;
    int rc = cs_fleet_small_json(data, len, CS_REPORT_BODY_MAX, &o, err);

    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    json_object_object_foreach(o, name, v) {
        const struct field *f = find_field(name);
        if (!f) {
            rc = FAIL("unknown member \"%.40s\"", name);
            break;
        }
        rc = parse_member(f, v, &r, err);
        if (rc < 0)
            break;
        seen |= 1u << (f - fields);
    }
    json_object_put(o);
    if (rc == 0 && seen != (1u << N_OF(fields)) - 1)
        rc = FAIL("a member is missing (a report has all %zu)", N_OF(fields));
    if (rc == 0)
        rc = consistent(&r, err);
    if (rc == 0)
        *out = r;
    return rc;
}

int cs_report_to_json(const cs_report *r, char **json)
{
    json_object *o = json_object_new_object(), *v;
    cs_report back;
    const char *text;
    int rc = 0;

    *json = NULL;
    if (!o)
        return -ENOMEM;
    if (r->last_error == CS_REPORT_ERR_OTHER) {
        json_object_put(o);
        return -EINVAL; /* a reader's word, never filed */
    }
    for (size_t i = 0; i < N_OF(fields); i++) {
        const struct field *f = &fields[i];
        switch (f->kind) {
        case K_VERSION: v = json_object_new_int(1); break;
        case K_INT: v = json_object_new_int64((int64_t)*int_at(r, f)); break;
        case K_STR: v = json_object_new_string((const char *)r + f->off); break;
        default: v = json_object_new_string(cs_report_error_name(r->last_error)); break;
        }
        json_object_object_add(o, f->name, v);
    }
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (!text)
        rc = -ENOMEM;
    else if (cs_report_parse(text, strlen(text), &back, NULL) < 0)
        rc = -EINVAL; /* a member out of its bounds */
    else if (!(*json = strdup(text)))
        rc = -ENOMEM;
    json_object_put(o);
    return rc;
}

/* ---- sign, seal, open, verify ---- */

static int signed_message(const char *body, size_t len, uint8_t *msg)
{
    memcpy(msg, DOMAIN, sizeof(DOMAIN));
    memcpy(msg + sizeof(DOMAIN), body, len);
    return (int)(sizeof(DOMAIN) + len);
}

static int sign_body(const char *body, size_t len, const cs_amk *amk, uint8_t sig[SIG_LEN])
{
    uint8_t pk[CS_SIGN_PK_BYTES], msg[sizeof(DOMAIN) + CS_REPORT_BODY_MAX];
    uint8_t *sk = cs_secure_alloc(CS_SIGN_SK_BYTES);
    int r;

    if (!sk)
        return -ENOMEM;
    r = cs_amk_sign_keypair(amk, pk, sk);
    if (r == 0)
        crypto_sign_detached(sig, NULL, msg, (size_t)signed_message(body, len, msg), sk);
    cs_secure_free(sk);
    return r;
}

int cs_report_seal(const cs_report *r, const cs_amk *amk, const uint8_t report_pk[CS_FLEET_ESCROW_PK_BYTES],
                   cs_buf *out)
{
    _cleanup_free_ char *body = NULL;
    uint8_t plain[SIG_LEN + CS_REPORT_BODY_MAX + PAD] = { 0 };
    size_t len, plain_len;
    int rc = cs_report_to_json(r, &body);

    if (rc < 0)
        return rc;
    len = strlen(body);
    if (len > CS_REPORT_BODY_MAX)
        return -E2BIG;
    rc = sign_body(body, len, amk, plain);
    if (rc < 0)
        return rc;
    memcpy(plain + SIG_LEN, body, len);
    plain_len = (SIG_LEN + len + PAD - 1) / PAD * PAD;
    cs_buf_reset(out);
    rc = cs_buf_reserve(out, MAGIC_LEN + crypto_box_SEALBYTES + plain_len);
    if (rc < 0)
        return rc;
    memcpy(out->data, MAGIC, MAGIC_LEN);
    if (crypto_box_seal(out->data + MAGIC_LEN, plain, plain_len, report_pk) != 0)
        return -EINVAL; /* not a usable X25519 public key */
    out->len = MAGIC_LEN + crypto_box_SEALBYTES + plain_len;
    return 0;
}

int cs_report_open(const void *data, size_t len, const uint8_t report_sk[32], cs_report_opened *out,
                   cs_fleet_err *err)
{
    uint8_t plain[CS_REPORT_OBJECT_MAX], pk[crypto_box_PUBLICKEYBYTES];
    const uint8_t *p = data;
    size_t plain_len, body_len;

    memset(out, 0, sizeof(*out));
    if (len > CS_REPORT_OBJECT_MAX)
        return FAIL("larger than %d bytes", CS_REPORT_OBJECT_MAX);
    if (len < MAGIC_LEN + crypto_box_SEALBYTES + SIG_LEN + 2)
        return FAIL("truncated (%zu bytes)", len);
    if (memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return FAIL("not a cloudseal report (bad magic)");
    plain_len = len - MAGIC_LEN - crypto_box_SEALBYTES;
    crypto_scalarmult_base(pk, report_sk);
    if (crypto_box_seal_open(plain, p + MAGIC_LEN, len - MAGIC_LEN, pk, report_sk) != 0)
        return FAIL("does not open with this report key (sealed to another key, changed or truncated)");
    body_len = strnlen((const char *)plain + SIG_LEN, plain_len - SIG_LEN);
    for (size_t i = SIG_LEN + body_len; i < plain_len; i++)
        if (plain[i] != 0)
            return FAIL("bytes after the report's padding");
    if (body_len == 0 || body_len > CS_REPORT_BODY_MAX)
        return FAIL("the body is empty or larger than %d bytes", CS_REPORT_BODY_MAX);
    memcpy(out->sig, plain, SIG_LEN);
    memcpy(out->body, plain + SIG_LEN, body_len);
    out->body_len = body_len;
    return cs_report_parse(out->body, body_len, &out->r, err);
}

int cs_report_verify(const cs_report_opened *o, const uint8_t account_pk[CS_FLEET_PK_BYTES])
{
    uint8_t msg[sizeof(DOMAIN) + CS_REPORT_BODY_MAX];
    int n = signed_message(o->body, o->body_len, msg);

    return crypto_sign_verify_detached(o->sig, msg, (size_t)n, account_pk) == 0 ? 0 : -EKEYREJECTED;
}

cs_report_state cs_report_check(const void *data, size_t len, const uint8_t report_sk[32], const char *path_user,
                                const char *path_host_id, const cs_directory *d, int64_t now, cs_report *out,
                                cs_fleet_err *err)
{
    cs_report_opened o;
    const cs_fleet_user *u;
    char t[32];

    memset(out, 0, sizeof(*out));
    if (cs_report_open(data, len, report_sk, &o, err) < 0)
        return CS_REPORT_INVALID;
    *out = o.r;
    u = cs_directory_find_user(d, o.r.user);
    if (!u || u->disabled || !u->has_key)
        return cs_fleet_fail(err, "from '%s', who is not an enabled user with a pinned key in the directory",
                             o.r.user),
               CS_REPORT_UNKNOWN_USER;
    if (cs_report_verify(&o, u->key) < 0)
        return cs_fleet_fail(err, "signed by another key than the one pinned for '%s': forged", o.r.user),
               CS_REPORT_FORGED;
    if ((path_user && strcmp(path_user, o.r.user) != 0) || (path_host_id && strcmp(path_host_id, o.r.host_id) != 0))
        return cs_fleet_fail(err, "a report of '%s' on host %s found at another user's or host's place", o.r.user,
                             o.r.host_id),
               CS_REPORT_MISPLACED;
    if (o.r.time > now + CS_REPORT_FUTURE_SKEW)
        return cs_fleet_fail(err, "dated %s, in the future: check the clock of host '%s'",
                             cs_fleet_time_str(o.r.time, t), o.r.host),
               CS_REPORT_FUTURE;
    return CS_REPORT_OK;
}
