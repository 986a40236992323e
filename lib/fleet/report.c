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
#include "util/json.h"
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

/* What the table reads into and writes from: the report, and the two
 * members that are not kept as they are in the JSON. */
typedef struct report_body {
    cs_report r;
    int64_t version;
    char error[33];
} report_body;

#define M CS_JSON_MANDATORY
static const cs_json_field fields[] = {
    CS_JSON_I64("version", report_body, version, 1, 1, M),
    CS_JSON_STRBUF("user", report_body, r.user, M),
    CS_JSON_STRBUF("host", report_body, r.host, M),
    CS_JSON_STRBUF("host_id", report_body, r.host_id, M),
    CS_JSON_U64("sequence", report_body, r.sequence, 1, INT_MAX53, M),
    CS_JSON_I64("time", report_body, r.time, 0, INT_MAX53, M),
    CS_JSON_STRBUF("agent_version", report_body, r.agent_version, M),
    CS_JSON_I64("last_backup", report_body, r.last_backup, 0, INT_MAX53, M),
    CS_JSON_I64("last_sync", report_body, r.last_sync, 0, INT_MAX53, M),
    CS_JSON_U64("snapshots", report_body, r.snapshots, 0, INT_MAX53, M),
    CS_JSON_U64("repo_bytes", report_body, r.repo_bytes, 0, INT_MAX53, M),
    CS_JSON_STRBUF("last_error", report_body, error, M),
    CS_JSON_I64("last_error_time", report_body, r.last_error_time, 0, INT_MAX53, M),
    {},
};
#undef M

/* The characters each string may have (the table bounds their lengths),
 * and times and counts that contradict each other: a report says when it
 * was made, so nothing it reports can be later than that. */
static int check_body(report_body *b, cs_fleet_err *err)
{
    if (!user_ok(b->r.user) || !host_ok(b->r.host) || !cs_report_host_id_valid(b->r.host_id) ||
        !version_ok(b->r.agent_version) || !error_ok(b->error))
        return FAIL("a name, host, id, version or error class has characters it may not have");
    b->r.last_error = cs_report_error_from_name(b->error);
    if (b->r.last_backup > b->r.time || b->r.last_sync > b->r.time || b->r.last_error_time > b->r.time)
        return FAIL("a time in the report is later than the report itself");
    if ((b->r.last_error == CS_REPORT_ERR_NONE) != (b->r.last_error_time == 0))
        return FAIL("\"last_error_time\" must be set exactly when \"last_error\" is not \"none\"");
    return 0;
}

int cs_report_parse(const char *data, size_t len, cs_report *out, cs_fleet_err *err)
{
    _cleanup_json_ json_object *o = NULL;
    cs_json_error jerr = { "" };
    report_body b = { 0 };
    const char *why = "not JSON";
    int r;

    memset(out, 0, sizeof(*out));
    r = cs_json_parse_object(data, len, CS_REPORT_BODY_MAX, 2, &o, &why);
    if (r < 0)
        return r == -ENOMEM ? r : FAIL("the report body: %s", why ? why : "not a JSON object");
    r = cs_json_dispatch(o, fields, CS_JSON_REFUSE_UNKNOWN, &b, &jerr);
    if (r < 0)
        return r == -ENOMEM ? r : FAIL("the report body: %s", jerr.msg);
    r = check_body(&b, err);
    if (r == 0)
        *out = b.r;
    return r;
}

int cs_report_to_json(const cs_report *r, char **json)
{
    _cleanup_json_ json_object *o = json_object_new_object();
    report_body b = { .r = *r, .version = 1 };
    cs_report back;
    const char *text;

    *json = NULL;
    if (!o)
        return -ENOMEM;
    if (r->last_error == CS_REPORT_ERR_OTHER)
        return -EINVAL; /* a reader's word, never filed */
    snprintf(b.error, sizeof(b.error), "%s", cs_report_error_name(r->last_error));
    for (const cs_json_field *f = fields; f->name; f++) {
        const char *p = (const char *)&b + f->offset;
        json_object *v = f->type == CS_JSON_TYPE_STRBUF ? json_object_new_string(p)
                         : f->type == CS_JSON_TYPE_U64  ? json_object_new_int64((int64_t)*(const uint64_t *)p)
                                                        : json_object_new_int64(*(const int64_t *)p);
        if (!v || json_object_object_add(o, f->name, v) < 0)
            return -ENOMEM;
    }
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (!text)
        return -ENOMEM;
    if (cs_report_parse(text, strlen(text), &back, NULL) < 0)
        return -EINVAL; /* a member out of its bounds: the reader's check serves the writer */
    *json = strdup(text);
    return *json ? 0 : -ENOMEM;
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
