/* SPDX-License-Identifier: MIT */
/* Keybag v1: parsing (hostile input), slot wrapping, payload, MAC.
 * The format is described in keybag.h and docs/keybag.md. */
#include "crypto/keybag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "util/buf.h"
#include "util/bytes.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES      /* 16 */
#define SLOT_CT_BYTES (CS_KEY_BYTES + TAG_BYTES)
#define MAC_BYTES crypto_auth_BYTES                              /* 32 */
#define JSON_MAX_DEPTH 8

_Static_assert(MAC_BYTES == 32 && crypto_auth_KEYBYTES == CS_KEY_BYTES, "mac sizes");

struct slot {
    cs_slot_type type;
    uint32_t id;
    cs_kdf_params kdf;              /* password and fido2 "both" slots */
    uint8_t salt[CS_KDF_SALT_BYTES]; /* password and fido2 "both" slots */
    cs_keybag_fido2 fido2;          /* fido2 slots: the public fields (fido2.id unused) */
    bool has_kdf;                   /* parsing: a fido2 slot had a "kdf" member */
    uint8_t nonce[NONCE_BYTES];
    uint8_t ct[SLOT_CT_BYTES];
};

struct cs_keybag {
    uint32_t version;
    char user[CS_KEYBAG_USER_MAX + 1];
    char account_id[CS_ACCOUNT_ID_HEX + 1];
    uint64_t generation;
    size_t nslots;
    struct slot slots[CS_KEYBAG_MAX_SLOTS];
    uint8_t payload_nonce[NONCE_BYTES];
    uint8_t *payload_ct;
    size_t payload_ct_len;
    uint8_t mac[MAC_BYTES];
};

/* ---- canonical binary encoding (associated data and MAC input) ---- */

/* Big-endian (util/bytes.h); every variable field length-prefixed, so that
 * no two field sequences encode alike. */
static int put_str(cs_buf *b, const char *s)
{
    return cs_put_lp_be32(b, s, strlen(s));
}

static const char *slot_type_name(cs_slot_type t)
{
    return t == CS_SLOT_PASSWORD ? "password" : t == CS_SLOT_FIDO2 ? "fido2" : "recovery";
}

static const char *policy_name(cs_fido2_policy p)
{
    return p == CS_FIDO2_POLICY_BOTH ? "both" : "any";
}

/* Slots whose unlock runs the KDF: each counts against CS_KEYBAG_MAX_KDF_SLOTS. */
static bool runs_kdf(const struct slot *s)
{
    return s->type == CS_SLOT_PASSWORD || (s->type == CS_SLOT_FIDO2 && s->fido2.policy == CS_FIDO2_POLICY_BOTH);
}

static int put_kdf(cs_buf *b, const struct slot *s)
{
    int r = put_str(b, CS_KDF_ALG_NAME);

    if (r == 0) r = cs_put_be64(b, s->kdf.ops);
    if (r == 0) r = cs_put_be64(b, s->kdf.mem_bytes);
    if (r == 0) r = cs_put_lp_be32(b, s->salt, sizeof(s->salt));
    return r;
}

/* Every field of a fido2 slot, so that none can be changed unnoticed. */
static int put_fido2(cs_buf *b, const struct slot *s)
{
    const cs_keybag_fido2 *f = &s->fido2;
    int r = put_str(b, f->name);

    if (r == 0) r = cs_put_be64(b, (uint64_t)f->created);
    if (r == 0) r = put_str(b, policy_name(f->policy));
    if (r == 0) r = cs_put_lp_be32(b, f->cred_id, f->cred_id_len);
    if (r == 0) r = cs_put_lp_be32(b, f->salt, sizeof(f->salt));
    if (r == 0) r = cs_put_be32(b, f->flags);
    if (r == 0 && f->policy == CS_FIDO2_POLICY_BOTH)
        r = put_kdf(b, s);
    return r;
}

static int slot_header(const cs_keybag *kb, const struct slot *s, cs_buf *b)
{
    static const char domain[] = "cloudseal-keybag-slot-v1";
    int r = cs_put_lp_be32(b, domain, sizeof(domain) - 1);

    if (r == 0) r = cs_put_be32(b, kb->version);
    if (r == 0) r = put_str(b, kb->account_id);
    if (r == 0) r = put_str(b, slot_type_name(s->type));
    if (r == 0) r = cs_put_be32(b, s->id);
    if (r == 0 && s->type == CS_SLOT_PASSWORD)
        r = put_kdf(b, s);
    if (r == 0 && s->type == CS_SLOT_FIDO2)
        r = put_fido2(b, s);
    return r;
}

static int payload_ad(const cs_keybag *kb, cs_buf *b)
{
    static const char domain[] = "cloudseal-keybag-payload-v1";
    int r = cs_put_lp_be32(b, domain, sizeof(domain) - 1);

    if (r == 0) r = cs_put_be32(b, kb->version);
    if (r == 0) r = put_str(b, kb->account_id);
    return r;
}

static int mac_input(const cs_keybag *kb, cs_buf *b)
{
    static const char domain[] = "cloudseal-keybag-mac-v1";
    int r = cs_put_lp_be32(b, domain, sizeof(domain) - 1);

    if (r == 0) r = cs_put_be32(b, kb->version);
    if (r == 0) r = put_str(b, kb->user);
    if (r == 0) r = put_str(b, kb->account_id);
    if (r == 0) r = cs_put_be64(b, kb->generation);
    if (r == 0) r = cs_put_be32(b, (uint32_t)kb->nslots);
    for (size_t i = 0; r == 0 && i < kb->nslots; i++) {
        _cleanup_buf_ cs_buf h = CS_BUF_INIT;
        const struct slot *s = &kb->slots[i];

        r = slot_header(kb, s, &h);
        if (r == 0) r = cs_put_lp_be32(b, h.data, h.len);
        if (r == 0) r = cs_put_lp_be32(b, s->nonce, sizeof(s->nonce));
        if (r == 0) r = cs_put_lp_be32(b, s->ct, sizeof(s->ct));
    }
    if (r == 0) r = cs_put_lp_be32(b, kb->payload_nonce, sizeof(kb->payload_nonce));
    if (r == 0) r = cs_put_lp_be32(b, kb->payload_ct, kb->payload_ct_len);
    return r;
}

static int compute_mac(const cs_keybag *kb, const cs_amk *amk, uint8_t mac[MAC_BYTES])
{
    _cleanup_buf_ cs_buf in = CS_BUF_INIT;
    uint8_t *key = cs_secure_alloc(CS_KEY_BYTES);
    int r;

    if (!key)
        return -ENOMEM;
    r = mac_input(kb, &in);
    if (r == 0)
        r = cs_amk_derive(amk, CS_SUBKEY_KEYBAG_MAC, key);
    if (r == 0)
        crypto_auth(mac, in.data, in.len, key);
    cs_secure_free(key);
    return r;
}

/* ---- account id ---- */

int cs_account_id_from_pubkey(const uint8_t pk[CS_SIGN_PK_BYTES], char out[CS_ACCOUNT_ID_HEX + 1])
{
    static const char domain[] = "cloudseal-account-id-v1";
    uint8_t h[32];
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)domain, sizeof(domain) - 1);
    crypto_generichash_update(&st, pk, CS_SIGN_PK_BYTES);
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2hex(out, CS_ACCOUNT_ID_HEX + 1, h, sizeof(h));
    return 0;
}

int cs_account_id_from_amk(const cs_amk *amk, char out[CS_ACCOUNT_ID_HEX + 1])
{
    uint8_t pk[CS_SIGN_PK_BYTES];
    int r = cs_amk_account_pubkey(amk, pk);

    return r < 0 ? r : cs_account_id_from_pubkey(pk, out);
}

/* ---- parsing ---- */

#define FAIL(code, ...) do { log_debug("keybag: " __VA_ARGS__); return (code); } while (0)

/* Refuse any member not in allowed (NULL-terminated): fields outside the
 * MAC must not exist at all. */
static int only_keys(json_object *o, const char *const *allowed)
{
    json_object_object_foreach(o, k, v) {
        bool ok = false;
        (void)v;
        for (size_t i = 0; allowed[i]; i++)
            ok = ok || strcmp(k, allowed[i]) == 0;
        if (!ok)
            FAIL(-EBADMSG, "unknown field \"%s\"", k);
    }
    return 0;
}

static int get_typed(json_object *o, const char *key, json_type t, json_object **out)
{
    if (!json_object_object_get_ex(o, key, out) || !json_object_is_type(*out, t))
        FAIL(-EBADMSG, "field \"%s\" missing or of the wrong type", key);
    return 0;
}

/* A string member without embedded NUL bytes (so C comparisons see all of it). */
static int get_str(json_object *o, const char *key, const char **out)
{
    json_object *v;
    int r = get_typed(o, key, json_type_string, &v);

    if (r < 0)
        return r;
    *out = json_object_get_string(v);
    if (strlen(*out) != (size_t)json_object_get_string_len(v))
        FAIL(-EBADMSG, "field \"%s\" contains a NUL byte", key);
    return 0;
}

static int get_uint(json_object *o, const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
    json_object *v;
    int64_t x;
    int r = get_typed(o, key, json_type_int, &v);

    if (r < 0)
        return r;
    x = json_object_get_int64(v);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
        FAIL(-EBADMSG, "field \"%s\" out of range", key);
    *out = (uint64_t)x;
    return 0;
}

/* Decode standard padded base64 of exactly len bytes (canonical form only). */
static int get_b64(json_object *o, const char *key, uint8_t *out, size_t len)
{
    json_object *v;
    const char *s, *end = NULL;
    size_t n, bin_len = 0;
    int r = get_typed(o, key, json_type_string, &v);

    if (r < 0)
        return r;
    s = json_object_get_string(v);
    n = (size_t)json_object_get_string_len(v);
    if (n != sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) - 1 ||
        sodium_base642bin(out, len, s, n, NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != len || end != s + n)
        FAIL(-EBADMSG, "field \"%s\" is not base64 of %zu bytes", key, len);
    return 0;
}

static int parse_kdf(json_object *o, struct slot *s)
{
    static const char *const keys[] = { "algorithm", "ops", "memory", "salt", NULL };
    const char *alg;
    int r = only_keys(o, keys);

    if (r == 0) r = get_str(o, "algorithm", &alg);
    if (r < 0)
        return r;
    if (strcmp(alg, CS_KDF_ALG_NAME) != 0)
        FAIL(-EBADMSG, "unknown KDF algorithm");
    /* read wide, then apply the real bounds: out of bounds is -E2BIG */
    if ((r = get_uint(o, "ops", 0, UINT32_MAX, &s->kdf.ops)) < 0 ||
        (r = get_uint(o, "memory", 0, INT64_MAX, &s->kdf.mem_bytes)) < 0)
        return r;
    if (cs_kdf_check(&s->kdf) < 0)
        FAIL(-E2BIG, "KDF parameters out of bounds (ops %llu, memory %llu)",
             (unsigned long long)s->kdf.ops, (unsigned long long)s->kdf.mem_bytes);
    return get_b64(o, "salt", s->salt, sizeof(s->salt));
}

/* ---- fido2 slots (cs_json_dispatch tables; base is the struct slot) ---- */

static bool valid_name(const char *n)
{
    size_t len = strlen(n);

    if (len < 1 || len > CS_KEYBAG_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (n[i] < 0x20 || n[i] > 0x7e)
            return false;
    return true;
}

static int json_type_member(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    (void)base;
    (void)v; /* parse_slot read it already */
    (void)f;
    (void)err;
    return 0;
}

static int json_name(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    struct slot *s = base;
    const char *n;

    if (!json_object_is_type(v, json_type_string))
        return cs_json_fail(err, "field '%s' is not a string", f->name);
    n = json_object_get_string(v);
    if (strlen(n) != (size_t)json_object_get_string_len(v) || !valid_name(n))
        return cs_json_fail(err, "field '%s' is not 1..%d printable ASCII characters", f->name,
                            CS_KEYBAG_NAME_MAX);
    strcpy(s->fido2.name, n);
    return 0;
}

static int json_policy(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    struct slot *s = base;
    const char *p = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";

    if (strcmp(p, "any") == 0 && json_object_get_string_len(v) == 3)
        s->fido2.policy = CS_FIDO2_POLICY_ANY;
    else if (strcmp(p, "both") == 0 && json_object_get_string_len(v) == 4)
        s->fido2.policy = CS_FIDO2_POLICY_BOTH;
    else
        return cs_json_fail(err, "field '%s' is not \"any\" or \"both\"", f->name);
    return 0;
}

/* Canonical padded base64 of 1..CS_FIDO2_CRED_ID_MAX bytes. */
static int json_credential(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    cs_keybag_fido2 *k = &((struct slot *)base)->fido2;
    const char *str, *end = NULL;
    size_t n, got = 0;

    if (!json_object_is_type(v, json_type_string))
        return cs_json_fail(err, "field '%s' is not a string", f->name);
    str = json_object_get_string(v);
    n = (size_t)json_object_get_string_len(v);
    if (n < 4 || n >= sodium_base64_ENCODED_LEN(CS_FIDO2_CRED_ID_MAX, sodium_base64_VARIANT_ORIGINAL) ||
        sodium_base642bin(k->cred_id, sizeof(k->cred_id), str, n, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != str + n || got < 1 || n != sodium_base64_ENCODED_LEN(got, sodium_base64_VARIANT_ORIGINAL) - 1)
        return cs_json_fail(err, "field '%s' is not base64 of 1..%d bytes", f->name, CS_FIDO2_CRED_ID_MAX);
    k->cred_id_len = got;
    return 0;
}

struct fido2_options {
    bool up, pin;
};

static int json_options(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    static const cs_json_field fields[] = {
        CS_JSON_BOOL("up", struct fido2_options, up, CS_JSON_MANDATORY),
        CS_JSON_BOOL("pin", struct fido2_options, pin, CS_JSON_MANDATORY),
        {}
    };
    struct fido2_options o = { 0 };
    int r = cs_json_dispatch(v, fields, CS_JSON_REFUSE_UNKNOWN, &o, err);

    (void)f;
    if (r == 0)
        ((struct slot *)base)->fido2.flags = (o.up ? CS_FIDO2_UP : 0) | (o.pin ? CS_FIDO2_PIN : 0);
    return r;
}

static int parse_kdf(json_object *o, struct slot *s);

static int json_kdf(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    struct slot *s = base;

    (void)f;
    (void)err;
    s->has_kdf = true;
    return parse_kdf(v, s); /* -E2BIG beyond this workstation's limit, as a password slot's */
}

static int parse_fido2(json_object *o, struct slot *s)
{
    static const cs_json_field fields[] = {
        CS_JSON_CUSTOM("type", struct slot, type, json_type_member, CS_JSON_MANDATORY),
        CS_JSON_U32("id", struct slot, id, 0, 65535, CS_JSON_MANDATORY),
        CS_JSON_CUSTOM("name", struct slot, fido2.name, json_name, CS_JSON_MANDATORY),
        CS_JSON_I64("created", struct slot, fido2.created, 0, CS_KEYBAG_CREATED_MAX, CS_JSON_MANDATORY),
        CS_JSON_CUSTOM("policy", struct slot, fido2.policy, json_policy, CS_JSON_MANDATORY),
        CS_JSON_CUSTOM("credential", struct slot, fido2.cred_id, json_credential, CS_JSON_MANDATORY),
        CS_JSON_B64("salt", struct slot, fido2.salt, CS_JSON_MANDATORY),
        CS_JSON_OBJECT("options", json_options, CS_JSON_MANDATORY),
        CS_JSON_OBJECT("kdf", json_kdf, 0),
        CS_JSON_B64("nonce", struct slot, nonce, CS_JSON_MANDATORY),
        CS_JSON_B64("ciphertext", struct slot, ct, CS_JSON_MANDATORY),
        {}
    };
    cs_json_error err = { 0 };
    int r = cs_json_dispatch(o, fields, CS_JSON_REFUSE_UNKNOWN, s, &err);

    if (r < 0)
        FAIL(r, "fido2 slot: %s", err.msg[0] ? err.msg : strerror(-r));
    if (s->has_kdf != (s->fido2.policy == CS_FIDO2_POLICY_BOTH))
        FAIL(-EBADMSG, "fido2 slot: a \"kdf\" belongs to policy \"both\" and only there");
    return 0;
}

static int parse_slot(json_object *o, struct slot *s)
{
    static const char *const pw_keys[] = { "type", "id", "kdf", "nonce", "ciphertext", NULL };
    static const char *const rk_keys[] = { "type", "id", "nonce", "ciphertext", NULL };
    json_object *kdf;
    uint64_t id;
    const char *t;
    int r;

    if (!json_object_is_type(o, json_type_object))
        FAIL(-EBADMSG, "slot is not an object");
    if ((r = get_str(o, "type", &t)) < 0)
        return r;
    if (strcmp(t, "password") == 0)
        s->type = CS_SLOT_PASSWORD;
    else if (strcmp(t, "recovery") == 0)
        s->type = CS_SLOT_RECOVERY;
    else if (strcmp(t, "fido2") == 0) {
        s->type = CS_SLOT_FIDO2;
        return parse_fido2(o, s);
    } else
        FAIL(-EBADMSG, "unknown slot type");
    if ((r = only_keys(o, s->type == CS_SLOT_PASSWORD ? pw_keys : rk_keys)) < 0 ||
        (r = get_uint(o, "id", 0, 65535, &id)) < 0)
        return r;
    s->id = (uint32_t)id;
    if (s->type == CS_SLOT_PASSWORD) {
        if ((r = get_typed(o, "kdf", json_type_object, &kdf)) < 0 || (r = parse_kdf(kdf, s)) < 0)
            return r;
    }
    if ((r = get_b64(o, "nonce", s->nonce, sizeof(s->nonce))) < 0)
        return r;
    return get_b64(o, "ciphertext", s->ct, sizeof(s->ct));
}

static int parse_payload(json_object *o, cs_keybag *kb)
{
    static const char *const keys[] = { "nonce", "ciphertext", NULL };
    json_object *ct;
    const char *s;
    size_t n, max = CS_KEYBAG_PAYLOAD_MAX + TAG_BYTES, bin_len = 0;
    const char *end = NULL;
    int r = only_keys(o, keys);

    if (r == 0) r = get_b64(o, "nonce", kb->payload_nonce, sizeof(kb->payload_nonce));
    if (r == 0) r = get_typed(o, "ciphertext", json_type_string, &ct);
    if (r < 0)
        return r;
    s = json_object_get_string(ct);
    n = (size_t)json_object_get_string_len(ct);
    if (n > sodium_base64_ENCODED_LEN(max, sodium_base64_VARIANT_ORIGINAL))
        FAIL(-EBADMSG, "payload too large");
    kb->payload_ct = malloc(max);
    if (!kb->payload_ct)
        return -ENOMEM;
    if (sodium_base642bin(kb->payload_ct, max, s, n, NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + n || bin_len < TAG_BYTES ||
        n != sodium_base64_ENCODED_LEN(bin_len, sodium_base64_VARIANT_ORIGINAL) - 1)
        FAIL(-EBADMSG, "payload ciphertext is not base64");
    kb->payload_ct_len = bin_len;
    return 0;
}

/* The account's login name (basic/user_name.h), no NUL inside. */
static bool valid_user(const char *s, size_t len)
{
    return strlen(s) == len && cs_user_name_valid(s, CS_USER_NAME_LOGIN);
}

static bool valid_hex_id(const char *s, size_t len)
{
    if (len != CS_ACCOUNT_ID_HEX || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The rules across slots (also before adding one): each KDF slot may cost a
 * full bounded KDF run at login; one fido2 policy per bag; policy both
 * means the password alone does not open the bag. */
static int check_slot_mix(const cs_keybag *kb)
{
    size_t kdf = 0, fido2 = 0, password = cs_keybag_count_slots(kb, CS_SLOT_PASSWORD);
    unsigned policies = 0;

    for (size_t i = 0; i < kb->nslots; i++) {
        kdf += runs_kdf(&kb->slots[i]);
        if (kb->slots[i].type == CS_SLOT_FIDO2) {
            fido2++;
            policies |= 1u << kb->slots[i].fido2.policy;
        }
    }
    if (password > CS_KEYBAG_MAX_PASSWORD_SLOTS || kdf > CS_KEYBAG_MAX_KDF_SLOTS)
        FAIL(-EBADMSG, "more than %d slots that run the KDF", CS_KEYBAG_MAX_KDF_SLOTS);
    if (fido2 > CS_KEYBAG_MAX_FIDO2_SLOTS)
        FAIL(-EBADMSG, "more than %d fido2 slots", CS_KEYBAG_MAX_FIDO2_SLOTS);
    if (policies == ((1u << CS_FIDO2_POLICY_ANY) | (1u << CS_FIDO2_POLICY_BOTH)))
        FAIL(-EBADMSG, "fido2 slots of both policies");
    if (password > 0 && (policies & (1u << CS_FIDO2_POLICY_BOTH)))
        FAIL(-EBADMSG, "a password slot next to policy \"both\"");
    return 0;
}

static int parse_root(json_object *root, cs_keybag *kb)
{
    static const char *const keys[] = { "version", "user", "account_id", "generation", "slots",
                                        "payload", "mac", NULL };
    json_object *v, *slots, *payload;
    uint64_t version;
    int r;

    if (!json_object_is_type(root, json_type_object))
        FAIL(-EBADMSG, "not a JSON object");
    /* the version first: a future format may have other fields */
    if ((r = get_uint(root, "version", 0, INT64_MAX, &version)) < 0)
        return r;
    if (version != CS_KEYBAG_VERSION)
        FAIL(-EPROTONOSUPPORT, "unsupported version %llu", (unsigned long long)version);
    kb->version = CS_KEYBAG_VERSION;
    if ((r = only_keys(root, keys)) < 0)
        return r;

    if ((r = get_typed(root, "user", json_type_string, &v)) < 0)
        return r;
    if (!valid_user(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
        FAIL(-EBADMSG, "invalid user");
    strcpy(kb->user, json_object_get_string(v));

    if ((r = get_typed(root, "account_id", json_type_string, &v)) < 0)
        return r;
    if (!valid_hex_id(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
        FAIL(-EBADMSG, "invalid account_id");
    strcpy(kb->account_id, json_object_get_string(v));

    if ((r = get_uint(root, "generation", 1, 1ULL << 53, &kb->generation)) < 0)
        return r;

    if ((r = get_typed(root, "slots", json_type_array, &slots)) < 0)
        return r;
    kb->nslots = json_object_array_length(slots);
    if (kb->nslots < 1 || kb->nslots > CS_KEYBAG_MAX_SLOTS)
        FAIL(-EBADMSG, "%zu slots (1..%d allowed)", kb->nslots, CS_KEYBAG_MAX_SLOTS);
    for (size_t i = 0; i < kb->nslots; i++) {
        if ((r = parse_slot(json_object_array_get_idx(slots, i), &kb->slots[i])) < 0)
            return r;
        for (size_t j = 0; j < i; j++)
            if (kb->slots[j].id == kb->slots[i].id)
                FAIL(-EBADMSG, "duplicate slot id %u", kb->slots[i].id);
    }
    if ((r = check_slot_mix(kb)) < 0)
        return r;

    if ((r = get_typed(root, "payload", json_type_object, &payload)) < 0 ||
        (r = parse_payload(payload, kb)) < 0)
        return r;
    return get_b64(root, "mac", kb->mac, sizeof(kb->mac));
}

int cs_keybag_parse(const void *data, size_t len, cs_keybag **out)
{
    json_object *root = NULL;
    cs_keybag *kb;
    int r = cs_json_parse_ex(data, len, CS_KEYBAG_MAX_BYTES, JSON_MAX_DEPTH, &root, NULL);

    if (r < 0) {
        log_debug("keybag: %s", r == -E2BIG ? "larger than 64 KiB" : "not valid JSON");
        return r;
    }
    kb = calloc(1, sizeof(*kb));
    if (!kb) {
        json_object_put(root);
        return -ENOMEM;
    }
    r = parse_root(root, kb);
    json_object_put(root);
    if (r < 0) {
        cs_keybag_free(kb);
        return r;
    }
    *out = kb;
    return 0;
}

void cs_keybag_free(cs_keybag *kb)
{
    if (!kb)
        return;
    free(kb->payload_ct);
    free(kb);
}

/* ---- slots ---- */

static int slot_kek(const struct slot *s, cs_slot_type type, const cs_secret *secret, uint8_t *kek)
{
    static const char domain[] = "cloudseal-recovery-kek-v1";
    uint8_t *rk;
    int r;

    if (type == CS_SLOT_PASSWORD)
        return cs_kdf_derive(&s->kdf, s->salt, secret->data, secret->len, kek, CS_KEY_BYTES);
    rk = cs_secure_alloc(CS_RECOVERY_KEY_BYTES);
    if (!rk)
        return -ENOMEM;
    r = cs_recovery_parse(secret->data, secret->len, rk);
    if (r == 0)
        crypto_generichash(kek, CS_KEY_BYTES, (const uint8_t *)domain, sizeof(domain) - 1,
                           rk, CS_RECOVERY_KEY_BYTES);
    cs_secure_free(rk);
    return r;
}

/* Decrypt one slot into amk_bytes: 0, or -EACCES when it does not open. */
static int slot_open(const cs_keybag *kb, const struct slot *s, const uint8_t *kek, uint8_t *amk_bytes)
{
    _cleanup_buf_ cs_buf ad = CS_BUF_INIT;
    unsigned long long n = 0;
    int r = slot_header(kb, s, &ad);

    if (r < 0)
        return r;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(amk_bytes, &n, NULL, s->ct, sizeof(s->ct),
                                                   ad.data, ad.len, s->nonce, kek) != 0 ||
        n != CS_KEY_BYTES)
        return -EACCES;
    return 0;
}

static int slot_seal(const cs_keybag *kb, struct slot *s, const uint8_t *kek, const cs_amk *amk)
{
    _cleanup_buf_ cs_buf ad = CS_BUF_INIT;
    int r;

    randombytes_buf(s->nonce, sizeof(s->nonce));
    r = slot_header(kb, s, &ad);
    if (r < 0)
        return r;
    crypto_aead_xchacha20poly1305_ietf_encrypt(s->ct, NULL, amk->key, CS_KEY_BYTES, ad.data, ad.len,
                                               NULL, s->nonce, kek);
    return 0;
}

int cs_keybag_verify(const cs_keybag *kb, const cs_amk *amk)
{
    char id[CS_ACCOUNT_ID_HEX + 1];
    uint8_t mac[MAC_BYTES];
    int r = cs_account_id_from_amk(amk, id);

    if (r < 0)
        return r;
    if (strcmp(id, kb->account_id) != 0)
        FAIL(-EBADMSG, "key does not match account_id");
    r = compute_mac(kb, amk, mac);
    if (r < 0)
        return r;
    if (cs_memeq_ct(mac, kb->mac, MAC_BYTES) != 0)
        FAIL(-EBADMSG, "MAC does not verify");
    return 0;
}

/* The AMK a slot gave (bytes): it must reproduce account_id and the MAC. */
static int amk_verified(const cs_keybag *kb, const uint8_t *bytes, cs_amk **out)
{
    cs_amk *amk = NULL;
    int r = cs_amk_from_bytes(bytes, CS_KEY_BYTES, &amk);

    if (r == 0)
        r = cs_keybag_verify(kb, amk);
    if (r == 0)
        *out = CS_TAKE_PTR(amk);
    cs_amk_free(amk);
    return r;
}

int cs_keybag_unlock(const cs_keybag *kb, cs_slot_type type, const cs_secret *secret, cs_amk **out)
{
    uint8_t *kek = cs_secure_alloc(CS_KEY_BYTES);
    uint8_t *bytes = cs_secure_alloc(CS_KEY_BYTES);
    int r = -EACCES;

    if (type != CS_SLOT_PASSWORD && type != CS_SLOT_RECOVERY) {
        r = -EINVAL; /* a fido2 slot needs the key: cs_keybag_unlock_fido2 */
        goto out;
    }
    if (!kek || !bytes) {
        r = -ENOMEM;
        goto out;
    }
    /* every slot that would be tried within this workstation's limit (the
     * limit may have been set after parsing) before the first derivation:
     * two slots at the limit cost two derivations, never more */
    for (size_t i = 0; i < kb->nslots && type == CS_SLOT_PASSWORD; i++)
        if (kb->slots[i].type == type && cs_kdf_check(&kb->slots[i].kdf) < 0) {
            r = -E2BIG;
            goto out;
        }
    for (size_t i = 0; i < kb->nslots && r == -EACCES; i++) {
        const struct slot *s = &kb->slots[i];

        if (s->type != type)
            continue;
        r = slot_kek(s, type, secret, kek);
        if (r == 0)
            r = slot_open(kb, s, kek, bytes);
    }
    if (r == 0)
        r = amk_verified(kb, bytes, out);
out:
    cs_secure_free(kek);
    cs_secure_free(bytes);
    return r;
}

/* ---- fido2 slots ---- */

static const struct slot *find_slot(const cs_keybag *kb, uint32_t id)
{
    for (size_t i = 0; i < kb->nslots; i++)
        if (kb->slots[i].id == id)
            return &kb->slots[i];
    return NULL;
}

/* KEK of a fido2 slot: keyed BLAKE2b-256 under the hmac-secret output, over
 * a label of the policy (and, for both, the Argon2id output of the password). */
static int fido2_kek(const struct slot *s, const cs_secret *hmac_secret, const cs_secret *password, uint8_t *kek)
{
    static const char any_label[] = "cloudseal-fido2-kek-v1";
    static const char both_label[] = "cloudseal-fido2-both-kek-v1";
    bool both = s->fido2.policy == CS_FIDO2_POLICY_BOTH;
    crypto_generichash_state *st = cs_secure_alloc(sizeof(*st));
    uint8_t *pw_key = cs_secure_alloc(CS_KEY_BYTES);
    int r = !st || !pw_key ? -ENOMEM : 0;

    if (r == 0 && (!hmac_secret || hmac_secret->len != CS_FIDO2_SECRET_BYTES || (both && !password)))
        r = -EINVAL;
    if (r == 0 && both)
        r = cs_kdf_derive(&s->kdf, s->salt, password->data, password->len, pw_key, CS_KEY_BYTES);
    if (r == 0) {
        crypto_generichash_init(st, (const uint8_t *)hmac_secret->data, CS_FIDO2_SECRET_BYTES, CS_KEY_BYTES);
        if (both) {
            crypto_generichash_update(st, (const uint8_t *)both_label, sizeof(both_label) - 1);
            crypto_generichash_update(st, pw_key, CS_KEY_BYTES);
        } else {
            crypto_generichash_update(st, (const uint8_t *)any_label, sizeof(any_label) - 1);
        }
        crypto_generichash_final(st, kek, CS_KEY_BYTES);
    }
    cs_secure_free(st);
    cs_secure_free(pw_key);
    return r;
}

int cs_keybag_unlock_fido2(const cs_keybag *kb, uint32_t id, const cs_secret *hmac_secret,
                           const cs_secret *password, cs_amk **out)
{
    const struct slot *s = find_slot(kb, id);
    uint8_t *kek = cs_secure_alloc(CS_KEY_BYTES);
    uint8_t *bytes = cs_secure_alloc(CS_KEY_BYTES);
    int r = !kek || !bytes ? -ENOMEM : !s || s->type != CS_SLOT_FIDO2 ? -ENOENT : 0;

    /* the limit may have been lowered since parsing: nothing allocated beyond it */
    if (r == 0 && s->fido2.policy == CS_FIDO2_POLICY_BOTH && cs_kdf_check(&s->kdf) < 0)
        r = -E2BIG;
    if (r == 0)
        r = fido2_kek(s, hmac_secret, password, kek);
    if (r == 0)
        r = slot_open(kb, s, kek, bytes);
    if (r == 0)
        r = amk_verified(kb, bytes, out);
    cs_secure_free(kek);
    cs_secure_free(bytes);
    return r;
}

int cs_keybag_fido2_rp_id(const cs_keybag *kb, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%s", CS_FIDO2_RP_PREFIX, kb->account_id);

    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

cs_fido2_policy cs_keybag_fido2_policy(const cs_keybag *kb)
{
    for (size_t i = 0; i < kb->nslots; i++)
        if (kb->slots[i].type == CS_SLOT_FIDO2)
            return kb->slots[i].fido2.policy; /* one per bag (check_slot_mix) */
    return CS_FIDO2_POLICY_NONE;
}

size_t cs_keybag_fido2_slots(const cs_keybag *kb, cs_keybag_fido2 *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < kb->nslots; i++) {
        if (kb->slots[i].type != CS_SLOT_FIDO2)
            continue;
        if (n < max) {
            out[n] = kb->slots[i].fido2;
            out[n].id = kb->slots[i].id;
        }
        n++;
    }
    return n;
}

/* Remove slots of type (fido2: of that policy; 0 for any other type);
 * returns the id to reuse (first removed) or a new one. */
static uint32_t drop_slots(cs_keybag *kb, cs_slot_type type, cs_fido2_policy policy)
{
    uint32_t id = UINT32_MAX, max_id = 0;
    size_t o = 0;

    for (size_t i = 0; i < kb->nslots; i++) {
        if (kb->slots[i].id >= max_id)
            max_id = kb->slots[i].id + 1;
        if (kb->slots[i].type == type && kb->slots[i].fido2.policy == policy) {
            if (id == UINT32_MAX)
                id = kb->slots[i].id;
            continue;
        }
        kb->slots[o++] = kb->slots[i];
    }
    kb->nslots = o;
    return id != UINT32_MAX ? id : max_id ? max_id : 1;
}

static int add_slot(cs_keybag *kb, const cs_amk *amk, struct slot *s, const uint8_t *kek)
{
    int r;

    if (kb->nslots >= CS_KEYBAG_MAX_SLOTS)
        return -ENOSPC;
    r = slot_seal(kb, s, kek, amk);
    if (r == 0)
        kb->slots[kb->nslots++] = *s;
    return r;
}

#define PASSWORD_EXPIRED "password_expired"

bool cs_keybag_payload_password_expired(json_object *payload)
{
    json_object *v;

    return json_object_object_get_ex(payload, PASSWORD_EXPIRED, &v) && json_object_is_type(v, json_type_boolean) &&
           json_object_get_boolean(v);
}

static int mark_password_expired(cs_keybag *kb, const cs_amk *amk, bool expired)
{
    json_object *payload = NULL;
    int r = cs_keybag_payload_get(kb, amk, &payload);

    if (r < 0)
        return r;
    if (expired == cs_keybag_payload_password_expired(payload)) {
        json_object_put(payload);
        return 0; /* nothing to change: the payload keeps its nonce */
    }
    if (expired)
        r = json_object_object_add(payload, PASSWORD_EXPIRED, json_object_new_boolean(1)) == 0 ? 0 : -ENOMEM;
    else
        json_object_object_del(payload, PASSWORD_EXPIRED);
    if (r == 0)
        r = cs_keybag_payload_set(kb, amk, payload);
    json_object_put(payload);
    return r;
}

int cs_keybag_expire_password(cs_keybag *kb, const cs_amk *amk)
{
    return mark_password_expired(kb, amk, true);
}

int cs_keybag_set_password(cs_keybag *kb, const cs_amk *amk, const cs_secret *password,
                           const cs_kdf_params *params)
{
    struct slot s = { .type = CS_SLOT_PASSWORD, .kdf = *params };
    uint8_t *kek = cs_secure_alloc(CS_KEY_BYTES);
    int r;

    if (!kek)
        return -ENOMEM;
    randombytes_buf(s.salt, sizeof(s.salt));
    r = cs_kdf_derive(&s.kdf, s.salt, password->data, password->len, kek, CS_KEY_BYTES);
    if (r == 0) {
        /* fido2 "both" slots are bound to the old password: recovery drops them */
        (void)drop_slots(kb, CS_SLOT_FIDO2, CS_FIDO2_POLICY_BOTH);
        s.id = drop_slots(kb, CS_SLOT_PASSWORD, CS_FIDO2_POLICY_NONE);
        r = add_slot(kb, amk, &s, kek);
    }
    cs_secure_free(kek);
    if (r == 0 && kb->payload_ct)
        r = mark_password_expired(kb, amk, false);
    return r;
}

int cs_keybag_set_recovery(cs_keybag *kb, const cs_amk *amk, const uint8_t key[CS_RECOVERY_KEY_BYTES])
{
    static const char domain[] = "cloudseal-recovery-kek-v1";
    struct slot s = { .type = CS_SLOT_RECOVERY };
    uint8_t *kek = cs_secure_alloc(CS_KEY_BYTES);
    int r;

    if (!kek)
        return -ENOMEM;
    crypto_generichash(kek, CS_KEY_BYTES, (const uint8_t *)domain, sizeof(domain) - 1,
                       key, CS_RECOVERY_KEY_BYTES);
    s.id = drop_slots(kb, CS_SLOT_RECOVERY, CS_FIDO2_POLICY_NONE);
    r = add_slot(kb, amk, &s, kek);
    cs_secure_free(kek);
    return r;
}

static uint32_t free_id(const cs_keybag *kb)
{
    uint32_t id = 1;

    while (find_slot(kb, id))
        id++; /* at most CS_KEYBAG_MAX_SLOTS ids are taken */
    return id;
}

/* The public fields a caller gives for a new fido2 slot. */
static bool valid_fido2(const cs_keybag_fido2 *f)
{
    return memchr(f->name, 0, sizeof(f->name)) && valid_name(f->name) && f->created >= 0 &&
           f->created <= CS_KEYBAG_CREATED_MAX &&
           (f->policy == CS_FIDO2_POLICY_ANY || f->policy == CS_FIDO2_POLICY_BOTH) && f->cred_id_len >= 1 &&
           f->cred_id_len <= CS_FIDO2_CRED_ID_MAX && (f->flags & ~(unsigned)(CS_FIDO2_UP | CS_FIDO2_PIN)) == 0;
}

/* Room and policy for a new fido2 slot f, after the password slots go (both). */
static int fido2_fits(const cs_keybag *kb, const cs_keybag_fido2 *f)
{
    bool both = f->policy == CS_FIDO2_POLICY_BOTH;
    size_t slots = kb->nslots - (both ? cs_keybag_count_slots(kb, CS_SLOT_PASSWORD) : 0), fido2 = 0, kdf = 0;

    for (size_t i = 0; i < kb->nslots; i++) {
        const cs_keybag_fido2 *o = &kb->slots[i].fido2;

        if (kb->slots[i].type != CS_SLOT_FIDO2)
            continue;
        if (o->policy != f->policy)
            FAIL(-EEXIST, "the account's security keys have the other policy");
        if (o->cred_id_len == f->cred_id_len && memcmp(o->cred_id, f->cred_id, f->cred_id_len) == 0)
            FAIL(-EEXIST, "this credential is enrolled already");
        fido2++;
        kdf += both;
    }
    if (slots >= CS_KEYBAG_MAX_SLOTS || fido2 >= CS_KEYBAG_MAX_FIDO2_SLOTS || (both && kdf >= CS_KEYBAG_MAX_KDF_SLOTS))
        FAIL(-ENOSPC, "no room for another security key");
    return 0;
}

int cs_keybag_add_fido2(cs_keybag *kb, const cs_amk *amk, cs_keybag_fido2 *slot, const cs_secret *hmac_secret,
                        const cs_secret *password, const cs_kdf_params *params)
{
    struct slot s = { .type = CS_SLOT_FIDO2 };
    bool both = slot->policy == CS_FIDO2_POLICY_BOTH;
    uint8_t *kek = NULL;
    int r = valid_fido2(slot) && (!both || (password && params)) ? 0 : -EINVAL;

    if (r == 0)
        r = fido2_fits(kb, slot);
    if (r == 0 && both)
        r = cs_kdf_check(params);
    if (r < 0)
        return r;
    if (!(kek = cs_secure_alloc(CS_KEY_BYTES)))
        return -ENOMEM;
    s.fido2 = *slot;
    s.fido2.id = 0;
    if (both) {
        s.kdf = *params;
        randombytes_buf(s.salt, sizeof(s.salt));
    }
    r = fido2_kek(&s, hmac_secret, password, kek);
    if (r == 0) {
        if (both) /* the password alone must no longer open the bag */
            (void)drop_slots(kb, CS_SLOT_PASSWORD, CS_FIDO2_POLICY_NONE);
        s.id = slot->id = free_id(kb);
        r = add_slot(kb, amk, &s, kek);
    }
    cs_secure_free(kek);
    return r;
}

int cs_keybag_remove_slot(cs_keybag *kb, uint32_t id)
{
    const struct slot *s = find_slot(kb, id);
    size_t ways = 0, at;

    if (!s)
        return -ENOENT;
    if (s->type == CS_SLOT_RECOVERY)
        return -EPERM; /* the way back when a key is lost */
    for (size_t i = 0; i < kb->nslots; i++)
        ways += kb->slots[i].type != CS_SLOT_RECOVERY && kb->slots[i].id != id;
    if (ways == 0)
        return -EBUSY;
    at = (size_t)(s - kb->slots);
    memmove(&kb->slots[at], &kb->slots[at + 1], (kb->nslots - at - 1) * sizeof(kb->slots[0]));
    kb->nslots--;
    return 0;
}

/* ---- payload ---- */

int cs_keybag_payload_set(cs_keybag *kb, const cs_amk *amk, json_object *obj)
{
    _cleanup_buf_ cs_buf ad = CS_BUF_INIT;
    uint8_t *key = NULL, *ct;
    const char *text;
    size_t len;
    int r;

    if (!json_object_is_type(obj, json_type_object))
        return -EINVAL;
    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    len = strlen(text);
    if (len > CS_KEYBAG_PAYLOAD_MAX)
        return -EMSGSIZE;
    ct = malloc(len + TAG_BYTES);
    key = cs_secure_alloc(CS_KEY_BYTES);
    r = !ct || !key ? -ENOMEM : payload_ad(kb, &ad);
    if (r == 0)
        r = cs_amk_derive(amk, CS_SUBKEY_PAYLOAD, key);
    if (r == 0) {
        randombytes_buf(kb->payload_nonce, sizeof(kb->payload_nonce));
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, (const uint8_t *)text, len, ad.data,
                                                   ad.len, NULL, kb->payload_nonce, key);
        free(kb->payload_ct);
        kb->payload_ct = CS_TAKE_PTR(ct);
        kb->payload_ct_len = len + TAG_BYTES;
    }
    free(ct);
    cs_secure_free(key);
    return r;
}

int cs_keybag_payload_get(const cs_keybag *kb, const cs_amk *amk, json_object **out)
{
    _cleanup_buf_ cs_buf ad = CS_BUF_INIT;
    size_t cap = kb->payload_ct_len - TAG_BYTES;
    uint8_t *key = cs_secure_alloc(CS_KEY_BYTES);
    uint8_t *pt = cs_secure_alloc(cap + 1);
    unsigned long long n = 0;
    json_object *obj = NULL;
    int r = !key || !pt ? -ENOMEM : payload_ad(kb, &ad);

    if (r == 0)
        r = cs_amk_derive(amk, CS_SUBKEY_PAYLOAD, key);
    if (r == 0 && crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &n, NULL, kb->payload_ct,
                                                             kb->payload_ct_len, ad.data, ad.len,
                                                             kb->payload_nonce, key) != 0)
        r = -EBADMSG;
    if (r == 0)
        r = cs_json_parse_object((const char *)pt, (size_t)n, CS_KEYBAG_PAYLOAD_MAX, JSON_MAX_DEPTH, &obj, NULL);
    if (r == 0)
        *out = obj;
    cs_secure_free(key);
    cs_secure_free(pt);
    return r == -E2BIG ? -EBADMSG : r;
}

/* ---- creation and serialization ---- */

int cs_keybag_new(const char *user, const cs_amk *amk, cs_keybag **out)
{
    cs_keybag *kb;
    json_object *empty;
    int r;

    if (!user || !valid_user(user, strlen(user)))
        return -EINVAL;
    kb = calloc(1, sizeof(*kb));
    if (!kb)
        return -ENOMEM;
    kb->version = CS_KEYBAG_VERSION;
    kb->generation = 1;
    strcpy(kb->user, user);
    r = cs_account_id_from_amk(amk, kb->account_id);
    empty = json_object_new_object();
    if (r == 0)
        r = empty ? cs_keybag_payload_set(kb, amk, empty) : -ENOMEM;
    json_object_put(empty);
    if (r < 0) {
        cs_keybag_free(kb);
        return r;
    }
    *out = kb;
    return 0;
}

static json_object *b64_string(const uint8_t *p, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    json_object *o;

    if (!s)
        return NULL;
    sodium_bin2base64(s, n, p, len, sodium_base64_VARIANT_ORIGINAL);
    o = json_object_new_string(s);
    free(s);
    return o;
}

/* json_object_object_add that tolerates (and reports) a NULL value. */
static int add(json_object *o, const char *k, json_object *v)
{
    if (!v)
        return -ENOMEM;
    return json_object_object_add(o, k, v) == 0 ? 0 : -ENOMEM;
}

/* A fido2 slot's own members; without secrets (describe) no credential or salt. */
static int fido2_json(json_object *o, const struct slot *s, bool secrets)
{
    const cs_keybag_fido2 *f = &s->fido2;
    json_object *opt = json_object_new_object();
    int r = add(o, "name", json_object_new_string(f->name));

    if (r == 0) r = add(o, "created", json_object_new_int64(f->created));
    if (r == 0) r = add(o, "policy", json_object_new_string(policy_name(f->policy)));
    if (r == 0 && secrets) r = add(o, "credential", b64_string(f->cred_id, f->cred_id_len));
    if (r == 0 && secrets) r = add(o, "salt", b64_string(f->salt, sizeof(f->salt)));
    if (r == 0) r = add(o, "options", json_object_get(opt));
    if (r == 0) r = add(opt, "up", json_object_new_boolean(!!(f->flags & CS_FIDO2_UP)));
    if (r == 0) r = add(opt, "pin", json_object_new_boolean(!!(f->flags & CS_FIDO2_PIN)));
    json_object_put(opt);
    return r;
}

static json_object *slot_json(const struct slot *s, bool secrets)
{
    json_object *o = json_object_new_object(), *kdf = NULL;
    int r = o ? 0 : -ENOMEM;

    if (r == 0) r = add(o, "type", json_object_new_string(slot_type_name(s->type)));
    if (r == 0) r = add(o, "id", json_object_new_int64(s->id));
    if (r == 0 && s->type == CS_SLOT_FIDO2)
        r = fido2_json(o, s, secrets);
    if (r == 0 && runs_kdf(s)) {
        kdf = json_object_new_object();
        r = add(o, "kdf", kdf);
        if (r == 0) r = add(kdf, "algorithm", json_object_new_string(CS_KDF_ALG_NAME));
        if (r == 0) r = add(kdf, "ops", json_object_new_int64((int64_t)s->kdf.ops));
        if (r == 0) r = add(kdf, "memory", json_object_new_int64((int64_t)s->kdf.mem_bytes));
        if (r == 0 && secrets) r = add(kdf, "salt", b64_string(s->salt, sizeof(s->salt)));
    }
    if (r == 0 && secrets) r = add(o, "nonce", b64_string(s->nonce, sizeof(s->nonce)));
    if (r == 0 && secrets) r = add(o, "ciphertext", b64_string(s->ct, sizeof(s->ct)));
    if (r < 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* The keybag as JSON: full (secrets=true, for storage) or structure only. */
static int to_json(const cs_keybag *kb, bool full, json_object **out)
{
    json_object *o = json_object_new_object(), *slots = json_object_new_array(),
                *payload = json_object_new_object();
    int r = o && slots && payload ? 0 : -ENOMEM;

    if (r == 0) r = add(o, "version", json_object_new_int64(kb->version));
    if (r == 0) r = add(o, "user", json_object_new_string(kb->user));
    if (r == 0) r = add(o, "account_id", json_object_new_string(kb->account_id));
    if (r == 0) r = add(o, "generation", json_object_new_int64((int64_t)kb->generation));
    if (r == 0) r = add(o, "slots", json_object_get(slots));
    for (size_t i = 0; r == 0 && i < kb->nslots; i++) {
        json_object *s = slot_json(&kb->slots[i], full);
        r = !s ? -ENOMEM : json_object_array_add(slots, s) == 0 ? 0 : -ENOMEM;
    }
    if (r == 0) r = add(o, "payload", json_object_get(payload));
    if (r == 0 && full) {
        r = add(payload, "nonce", b64_string(kb->payload_nonce, sizeof(kb->payload_nonce)));
        if (r == 0) r = add(payload, "ciphertext", b64_string(kb->payload_ct, kb->payload_ct_len));
        if (r == 0) r = add(o, "mac", b64_string(kb->mac, sizeof(kb->mac)));
    } else if (r == 0) {
        r = add(payload, "ciphertext_bytes", json_object_new_int64((int64_t)kb->payload_ct_len));
    }
    json_object_put(slots);
    json_object_put(payload);
    if (r < 0) {
        json_object_put(o);
        return r;
    }
    *out = o;
    return 0;
}

int cs_keybag_serialize(cs_keybag *kb, const cs_amk *amk, char **out, size_t *out_len)
{
    json_object *o = NULL;
    const char *text;
    int r = compute_mac(kb, amk, kb->mac);

    if (r == 0)
        r = to_json(kb, true, &o);
    if (r < 0)
        return r;
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
    *out = text ? strdup(text) : NULL;
    json_object_put(o);
    if (!*out)
        return -ENOMEM;
    if (out_len)
        *out_len = strlen(*out);
    return 0;
}

int cs_keybag_describe(const cs_keybag *kb, json_object **out)
{
    return to_json(kb, false, out);
}

uint64_t cs_keybag_generation(const cs_keybag *kb) { return kb->generation; }
void cs_keybag_set_generation(cs_keybag *kb, uint64_t generation) { kb->generation = generation; }
const char *cs_keybag_user(const cs_keybag *kb) { return kb->user; }
const char *cs_keybag_account_id(const cs_keybag *kb) { return kb->account_id; }

size_t cs_keybag_count_slots(const cs_keybag *kb, cs_slot_type type)
{
    size_t n = 0;

    for (size_t i = 0; i < kb->nslots; i++)
        n += kb->slots[i].type == type;
    return n;
}
