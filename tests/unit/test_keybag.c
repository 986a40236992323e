/* SPDX-License-Identifier: MIT */
/* Keybag v1: round trip, wrong secrets, and every bad form giving its own
 * error (never a crash); plus the account layer's rollback pin.
 * The KDF runs at the minimum cost (8 MiB, 1 pass) to keep this fast. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "account/account.h"
#include "crypto/kdf.h"
#include "crypto/keybag.h"
#include "crypto/recovery.h"
#include "fleet/keybag_seal.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/secmem.h"

static const cs_kdf_params cheap = { .ops = 1, .mem_bytes = CS_KDF_MEM_MIN };

typedef struct fixture {
    cs_amk *amk;
    cs_secret *pw, *code;
    char *text;
    size_t len;
} fixture;

static cs_secret *secret(const char *s)
{
    cs_secret *x = NULL;
    assert_int_equal(cs_secret_new(&x), 0);
    assert_int_equal(cs_secret_set(x, s, strlen(s)), 0);
    return x;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    uint8_t rk[CS_RECOVERY_KEY_BYTES];
    cs_keybag *kb = NULL;
    json_object *payload = json_object_new_object();

    assert_int_equal(cs_amk_generate(&f->amk), 0);
    f->pw = secret("correct horse");
    cs_recovery_generate(rk);
    assert_int_equal(cs_secret_new(&f->code), 0);
    cs_recovery_encode(rk, f->code->data);
    f->code->len = strlen(f->code->data);
    assert_int_equal(cs_keybag_new("alice", f->amk, &kb), 0);
    assert_int_equal(cs_keybag_set_password(kb, f->amk, f->pw, &cheap), 0);
    assert_int_equal(cs_keybag_set_recovery(kb, f->amk, rk), 0);
    json_object_object_add(payload, "repository", json_object_new_string("users/alice/backup"));
    assert_int_equal(cs_keybag_payload_set(kb, f->amk, payload), 0);
    json_object_put(payload);
    cs_keybag_set_generation(kb, 5);
    assert_int_equal(cs_keybag_serialize(kb, f->amk, &f->text, &f->len), 0);
    cs_keybag_free(kb);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cs_amk_free(f->amk);
    cs_secret_free(f->pw);
    cs_secret_free(f->code);
    free(f->text);
    free(f);
    return 0;
}

/* Unlock text with the password (type password) or the recovery code. */
static int try_unlock(const char *text, size_t len, cs_slot_type type, const cs_secret *s)
{
    cs_keybag *kb = NULL;
    cs_amk *amk = NULL;
    int r = cs_keybag_parse(text, len, &kb);

    if (r == 0)
        r = cs_keybag_unlock(kb, type, s, &amk);
    cs_amk_free(amk);
    cs_keybag_free(kb);
    return r;
}

/* ---- round trip ---- */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    cs_amk *amk = NULL;
    json_object *payload = NULL, *v;
    char *again = NULL;
    size_t len;

    assert_int_equal(cs_keybag_parse(f->text, f->len, &kb), 0);
    assert_string_equal(cs_keybag_user(kb), "alice");
    assert_int_equal(cs_keybag_generation(kb), 5);
    assert_int_equal(cs_keybag_count_slots(kb, CS_SLOT_PASSWORD), 1);
    assert_int_equal(cs_keybag_count_slots(kb, CS_SLOT_RECOVERY), 1);
    assert_int_equal(cs_keybag_unlock(kb, CS_SLOT_PASSWORD, f->pw, &amk), 0);
    assert_memory_equal(amk->key, f->amk->key, CS_KEY_BYTES);
    cs_amk_free(amk);
    amk = NULL;
    assert_int_equal(cs_keybag_unlock(kb, CS_SLOT_RECOVERY, f->code, &amk), 0);
    assert_memory_equal(amk->key, f->amk->key, CS_KEY_BYTES);
    assert_int_equal(cs_keybag_payload_get(kb, amk, &payload), 0);
    assert_true(json_object_object_get_ex(payload, "repository", &v));
    assert_string_equal(json_object_get_string(v), "users/alice/backup");
    json_object_put(payload);
    /* serialize again: still opens, identical account id */
    assert_int_equal(cs_keybag_serialize(kb, amk, &again, &len), 0);
    assert_int_equal(try_unlock(again, len, CS_SLOT_PASSWORD, f->pw), 0);
    free(again);
    cs_amk_free(amk);
    cs_keybag_free(kb);
}

static void test_change_password(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    cs_secret *pw2 = secret("new password");
    char *text = NULL;
    size_t len;

    assert_int_equal(cs_keybag_parse(f->text, f->len, &kb), 0);
    assert_int_equal(cs_keybag_set_password(kb, f->amk, pw2, &cheap), 0);
    assert_int_equal(cs_keybag_count_slots(kb, CS_SLOT_PASSWORD), 1);
    assert_int_equal(cs_keybag_serialize(kb, f->amk, &text, &len), 0);
    assert_int_equal(try_unlock(text, len, CS_SLOT_PASSWORD, f->pw), -EACCES);
    assert_int_equal(try_unlock(text, len, CS_SLOT_PASSWORD, pw2), 0);
    assert_int_equal(try_unlock(text, len, CS_SLOT_RECOVERY, f->code), 0);
    free(text);
    cs_secret_free(pw2);
    cs_keybag_free(kb);
}

/* Does the serialized keybag carry the expiry mark (and its other payload)? */
static bool expired_in(const char *text, size_t len, const cs_amk *amk)
{
    cs_keybag *kb = NULL;
    json_object *payload = NULL, *v;
    bool expired;

    assert_int_equal(cs_keybag_parse(text, len, &kb), 0);
    assert_int_equal(cs_keybag_verify(kb, amk), 0);
    assert_int_equal(cs_keybag_payload_get(kb, amk, &payload), 0);
    assert_true(json_object_object_get_ex(payload, "repository", &v)); /* the rest is kept */
    expired = cs_keybag_payload_password_expired(payload);
    json_object_put(payload);
    cs_keybag_free(kb);
    return expired;
}

/* A password an administrator set is marked expired until a new one is set. */
static void test_password_expiry(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    cs_secret *pw2 = secret("chosen by the user");
    char *text = NULL;
    size_t len;
    json_object *o;

    assert_false(expired_in(f->text, f->len, f->amk));
    assert_int_equal(cs_keybag_parse(f->text, f->len, &kb), 0);
    assert_int_equal(cs_keybag_expire_password(kb, f->amk), 0);
    assert_int_equal(cs_keybag_expire_password(kb, f->amk), 0); /* idempotent */
    assert_int_equal(cs_keybag_serialize(kb, f->amk, &text, &len), 0);
    assert_true(expired_in(text, len, f->amk));
    assert_int_equal(try_unlock(text, len, CS_SLOT_PASSWORD, f->pw), 0); /* it still opens */
    free(text);
    /* any new password clears the mark */
    assert_int_equal(cs_keybag_set_password(kb, f->amk, pw2, &cheap), 0);
    assert_int_equal(cs_keybag_serialize(kb, f->amk, &text, &len), 0);
    assert_false(expired_in(text, len, f->amk));
    free(text);
    /* only a JSON true counts */
    o = json_object_new_object();
    json_object_object_add(o, "password_expired", json_object_new_string("true"));
    assert_false(cs_keybag_payload_password_expired(o));
    json_object_object_add(o, "password_expired", json_object_new_boolean(0));
    assert_false(cs_keybag_payload_password_expired(o));
    json_object_object_add(o, "password_expired", json_object_new_boolean(1));
    assert_true(cs_keybag_payload_password_expired(o));
    json_object_put(o);
    cs_secret_free(pw2);
    cs_keybag_free(kb);
}

static void test_wrong_secrets(void **state)
{
    fixture *f = *state;
    cs_secret *bad = secret("wrong horse");
    uint8_t rk[CS_RECOVERY_KEY_BYTES];
    cs_secret *other = NULL, *typo;

    assert_int_equal(try_unlock(f->text, f->len, CS_SLOT_PASSWORD, bad), -EACCES);
    /* a well-formed but different recovery key */
    cs_recovery_generate(rk);
    assert_int_equal(cs_secret_new(&other), 0);
    cs_recovery_encode(rk, other->data);
    other->len = strlen(other->data);
    assert_int_equal(try_unlock(f->text, f->len, CS_SLOT_RECOVERY, other), -EACCES);
    /* a typo in the code is reported as such, not as a wrong key */
    typo = secret(f->code->data);
    typo->data[0] = typo->data[0] == 'A' ? 'B' : 'A';
    assert_int_equal(try_unlock(f->text, f->len, CS_SLOT_RECOVERY, typo), -EILSEQ);
    /* the password is not a recovery code */
    assert_int_equal(try_unlock(f->text, f->len, CS_SLOT_RECOVERY, f->pw), -EINVAL);
    cs_secret_free(bad);
    cs_secret_free(other);
    cs_secret_free(typo);
}

/* ---- malformed input ---- */

static void test_truncated(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;

    /* every proper prefix (whitespace-only tails aside) is refused */
    for (size_t n = 0; n < f->len; n++) {
        int r = cs_keybag_parse(f->text, n, &kb);
        if (n + 1 == f->len && f->text[n] == '\n')
            continue;
        assert_int_equal(r, -EBADMSG);
    }
}

static void test_invalid_json(void **state)
{
    static const char *bad[] = {
        "", "{", "}", "[]", "null", "1", "\"x\"", "{\"version\":1,}", "{'version':1}",
        "{\"version\":1} trailing", "{\"version\":1}{}", "\xff\xfe", "{\"version\":01}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    };
    cs_keybag *kb = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cs_keybag_parse(bad[i], strlen(bad[i]), &kb), -EBADMSG);
    /* an embedded NUL */
    assert_int_equal(cs_keybag_parse("{\"version\":1}\0", 14, &kb), -EBADMSG);
}

static void test_oversized(void **state)
{
    size_t n = CS_KEYBAG_MAX_BYTES + 1;
    char *big = malloc(n);
    cs_keybag *kb = NULL;

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_int_equal(cs_keybag_parse(big, n, &kb), -E2BIG);
    free(big);
}

/* Parse f->text as JSON, let edit() change it, serialize, return parse+unlock result. */
typedef void (*edit_fn)(json_object *root);

static int edited(fixture *f, edit_fn edit, cs_slot_type type, const cs_secret *s, int *parse_r)
{
    json_object *root = json_tokener_parse(f->text);
    const char *text;
    cs_keybag *kb = NULL;
    cs_amk *amk = NULL;
    int r;

    assert_non_null(root);
    edit(root);
    text = json_object_to_json_string(root);
    r = cs_keybag_parse(text, strlen(text), &kb);
    if (parse_r)
        *parse_r = r;
    if (r == 0)
        r = cs_keybag_unlock(kb, type, s, &amk);
    cs_amk_free(amk);
    cs_keybag_free(kb);
    json_object_put(root);
    return r;
}

static json_object *slot(json_object *root, size_t i)
{
    json_object *slots;
    assert_true(json_object_object_get_ex(root, "slots", &slots));
    return json_object_array_get_idx(slots, i);
}

static json_object *password_slot(json_object *root)
{
    for (size_t i = 0;; i++) {
        json_object *s = slot(root, i), *t;
        assert_non_null(s);
        json_object_object_get_ex(s, "type", &t);
        if (strcmp(json_object_get_string(t), "password") == 0)
            return s;
    }
}

static json_object *kdf_of(json_object *root)
{
    json_object *k;
    assert_true(json_object_object_get_ex(password_slot(root), "kdf", &k));
    return k;
}

/* flip one bit in a base64 field's decoded bytes */
static void flip_b64(json_object *o, const char *key)
{
    json_object *v;
    uint8_t bin[256];
    size_t n = 0;
    char out[400];

    assert_true(json_object_object_get_ex(o, key, &v));
    assert_int_equal(sodium_base642bin(bin, sizeof(bin), json_object_get_string(v),
                                       (size_t)json_object_get_string_len(v), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    bin[n / 2] ^= 0x04;
    sodium_bin2base64(out, sizeof(out), bin, n, sodium_base64_VARIANT_ORIGINAL);
    json_object_object_add(o, key, json_object_new_string(out));
}

static void e_version2(json_object *r) { json_object_object_add(r, "version", json_object_new_int(2)); }
static void e_version0(json_object *r) { json_object_object_add(r, "version", json_object_new_int(0)); }
static void e_version_str(json_object *r) { json_object_object_add(r, "version", json_object_new_string("1")); }
static void e_no_version(json_object *r) { json_object_object_del(r, "version"); }
static void e_gen_str(json_object *r) { json_object_object_add(r, "generation", json_object_new_string("5")); }
static void e_gen_neg(json_object *r) { json_object_object_add(r, "generation", json_object_new_int(-1)); }
static void e_gen_zero(json_object *r) { json_object_object_add(r, "generation", json_object_new_int(0)); }
static void e_gen_float(json_object *r) { json_object_object_add(r, "generation", json_object_new_double(5.5)); }
static void e_slots_obj(json_object *r) { json_object_object_add(r, "slots", json_object_new_object()); }
static void e_slots_empty(json_object *r) { json_object_object_add(r, "slots", json_object_new_array()); }
static void e_user_int(json_object *r) { json_object_object_add(r, "user", json_object_new_int(7)); }
static void e_user_slash(json_object *r) { json_object_object_add(r, "user", json_object_new_string("../etc")); }
/* accepted before the one validator (basic/user_name.h): no login name */
static void e_user_space(json_object *r) { json_object_object_add(r, "user", json_object_new_string("a b")); }
static void e_user_at(json_object *r) { json_object_object_add(r, "user", json_object_new_string("a@example.com")); }
static void e_user_33(json_object *r)
{
    json_object_object_add(r, "user", json_object_new_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}
static void e_acct_upper(json_object *r)
{
    json_object *v;
    char id[65];
    json_object_object_get_ex(r, "account_id", &v);
    strcpy(id, json_object_get_string(v));
    for (char *p = id; *p; p++)
        if (*p >= 'a' && *p <= 'f') { *p = (char)(*p - 'a' + 'A'); break; }
    json_object_object_add(r, "account_id", json_object_new_string(id));
}
static void e_acct_short(json_object *r) { json_object_object_add(r, "account_id", json_object_new_string("abcd")); }
static void e_unknown_field(json_object *r) { json_object_object_add(r, "escrow", json_object_new_string("x")); }
static void e_slot_unknown_field(json_object *r) { json_object_object_add(slot(r, 0), "extra", json_object_new_int(1)); }
static void e_slot_type(json_object *r) { json_object_object_add(slot(r, 0), "type", json_object_new_string("fido2")); }
static void e_slot_id_str(json_object *r) { json_object_object_add(slot(r, 0), "id", json_object_new_string("1")); }
static void e_slot_dup_id(json_object *r)
{
    json_object *id;
    json_object_object_get_ex(slot(r, 0), "id", &id);
    json_object_object_add(slot(r, 1), "id", json_object_new_int(json_object_get_int(id)));
}
static void e_too_many_slots(json_object *r)
{
    json_object *slots;
    json_object_object_get_ex(r, "slots", &slots);
    for (int i = 0; i < CS_KEYBAG_MAX_SLOTS; i++) {
        json_object *copy = NULL;
        json_object_deep_copy(slot(r, 1), &copy, NULL);
        json_object_object_add(copy, "id", json_object_new_int(100 + i));
        json_object_array_add(slots, copy);
    }
}
static void e_type_nul(json_object *r) { json_object_object_add(slot(r, 0), "type", json_object_new_string_len("password\0x", 10)); }
static void e_three_passwords(json_object *r)
{
    json_object *slots;
    json_object_object_get_ex(r, "slots", &slots);
    for (int i = 0; i < 2; i++) {
        json_object *copy = NULL;
        json_object_deep_copy(password_slot(r), &copy, NULL);
        json_object_object_add(copy, "id", json_object_new_int(200 + i));
        json_object_array_add(slots, copy);
    }
}
static void e_mem_huge(json_object *r) { json_object_object_add(kdf_of(r), "memory", json_object_new_int64(1LL << 40)); }
static void e_mem_tiny(json_object *r) { json_object_object_add(kdf_of(r), "memory", json_object_new_int64(1024)); }
static void e_mem_odd(json_object *r) { json_object_object_add(kdf_of(r), "memory", json_object_new_int64((8 << 20) + 1)); }
static void e_ops_huge(json_object *r) { json_object_object_add(kdf_of(r), "ops", json_object_new_int64(1000000)); }
static void e_ops_zero(json_object *r) { json_object_object_add(kdf_of(r), "ops", json_object_new_int64(0)); }
static void e_ops_str(json_object *r) { json_object_object_add(kdf_of(r), "ops", json_object_new_string("1")); }
static void e_kdf_alg(json_object *r) { json_object_object_add(kdf_of(r), "algorithm", json_object_new_string("scrypt")); }
static void e_salt_short(json_object *r) { json_object_object_add(kdf_of(r), "salt", json_object_new_string("AAAA")); }
static void e_nonce_notb64(json_object *r) { json_object_object_add(password_slot(r), "nonce", json_object_new_string("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!")); }
static void e_no_mac(json_object *r) { json_object_object_del(r, "mac"); }
static void e_mac_null(json_object *r) { json_object_object_add(r, "mac", NULL); }
static void e_no_payload(json_object *r) { json_object_object_del(r, "payload"); }
static void e_payload_empty(json_object *r)
{
    json_object *p;
    json_object_object_get_ex(r, "payload", &p);
    json_object_object_add(p, "ciphertext", json_object_new_string(""));
}

static void test_bad_forms(void **state)
{
    static const struct { const char *name; edit_fn fn; int want; } cases[] = {
        { "version 2", e_version2, -EPROTONOSUPPORT },
        { "version 0", e_version0, -EPROTONOSUPPORT },
        { "version string", e_version_str, -EBADMSG },
        { "no version", e_no_version, -EBADMSG },
        { "generation string", e_gen_str, -EBADMSG },
        { "generation negative", e_gen_neg, -EBADMSG },
        { "generation zero", e_gen_zero, -EBADMSG },
        { "generation float", e_gen_float, -EBADMSG },
        { "slots object", e_slots_obj, -EBADMSG },
        { "slots empty", e_slots_empty, -EBADMSG },
        { "too many slots", e_too_many_slots, -EBADMSG },
        { "user int", e_user_int, -EBADMSG },
        { "user path", e_user_slash, -EBADMSG },
        { "user with a space", e_user_space, -EBADMSG },
        { "user with an @", e_user_at, -EBADMSG },
        { "user of 33 bytes", e_user_33, -EBADMSG },
        { "account_id uppercase", e_acct_upper, -EBADMSG },
        { "account_id short", e_acct_short, -EBADMSG },
        { "unknown field", e_unknown_field, -EBADMSG },
        { "unknown slot field", e_slot_unknown_field, -EBADMSG },
        { "unknown slot type", e_slot_type, -EBADMSG },
        { "slot id string", e_slot_id_str, -EBADMSG },
        { "duplicate slot id", e_slot_dup_id, -EBADMSG },
        { "NUL in slot type", e_type_nul, -EBADMSG },
        { "three password slots", e_three_passwords, -EBADMSG },
        { "memory 1 TiB", e_mem_huge, -E2BIG },
        { "memory 1 KiB", e_mem_tiny, -E2BIG },
        { "memory not KiB", e_mem_odd, -E2BIG },
        { "ops 1e6", e_ops_huge, -E2BIG },
        { "ops 0", e_ops_zero, -E2BIG },
        { "ops string", e_ops_str, -EBADMSG },
        { "kdf algorithm", e_kdf_alg, -EBADMSG },
        { "salt short", e_salt_short, -EBADMSG },
        { "nonce not base64", e_nonce_notb64, -EBADMSG },
        { "missing MAC", e_no_mac, -EBADMSG },
        { "MAC null", e_mac_null, -EBADMSG },
        { "missing payload", e_no_payload, -EBADMSG },
        { "empty payload", e_payload_empty, -EBADMSG },
    };
    fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int parse_r = 1;
        int r = edited(f, cases[i].fn, CS_SLOT_PASSWORD, f->pw, &parse_r);
        if (parse_r != cases[i].want)
            fail_msg("%s: parse gave %d, want %d", cases[i].name, parse_r, cases[i].want);
        assert_int_equal(r, cases[i].want);
    }
}

/* ---- tampering that parses: the slot or the MAC catches it ---- */

static void e_pw_ct(json_object *r) { flip_b64(password_slot(r), "ciphertext"); }
static void e_pw_nonce(json_object *r) { flip_b64(password_slot(r), "nonce"); }
static void e_pw_salt(json_object *r) { flip_b64(kdf_of(r), "salt"); }
static void e_pw_ops(json_object *r) { json_object_object_add(kdf_of(r), "ops", json_object_new_int64(2)); }
static void e_mac(json_object *r) { flip_b64(r, "mac"); }
static void e_payload_ct(json_object *r)
{
    json_object *p;
    json_object_object_get_ex(r, "payload", &p);
    flip_b64(p, "ciphertext");
}
static void e_generation_up(json_object *r) { json_object_object_add(r, "generation", json_object_new_int(6)); }
static void e_user_other(json_object *r) { json_object_object_add(r, "user", json_object_new_string("mallory")); }
static void e_swap_slots(json_object *r)
{
    json_object *slots, *a, *b;
    json_object_object_get_ex(r, "slots", &slots);
    a = json_object_get(json_object_array_get_idx(slots, 0));
    b = json_object_get(json_object_array_get_idx(slots, 1));
    json_object_array_put_idx(slots, 0, b);
    json_object_array_put_idx(slots, 1, a);
}
static void e_swap_ct(json_object *r)
{
    /* move the recovery slot's ciphertext into the password slot */
    json_object *pw = password_slot(r), *rk = slot(r, 0) == pw ? slot(r, 1) : slot(r, 0), *ct;
    json_object_object_get_ex(rk, "ciphertext", &ct);
    json_object_object_add(pw, "ciphertext", json_object_get(ct));
}

static void test_tampered(void **state)
{
    static const struct { const char *name; edit_fn fn; int pw, rk; } cases[] = {
        /* a modified password slot cannot be told from a wrong password by
         * that slot; the recovery slot then finds the MAC broken */
        { "password ciphertext", e_pw_ct, -EACCES, -EBADMSG },
        { "password nonce", e_pw_nonce, -EACCES, -EBADMSG },
        { "password salt", e_pw_salt, -EACCES, -EBADMSG },
        { "password ops", e_pw_ops, -EACCES, -EBADMSG },
        { "ciphertext moved between slots", e_swap_ct, -EACCES, -EBADMSG },
        { "MAC", e_mac, -EBADMSG, -EBADMSG },
        { "payload", e_payload_ct, -EBADMSG, -EBADMSG },
        { "generation", e_generation_up, -EBADMSG, -EBADMSG },
        { "user", e_user_other, -EBADMSG, -EBADMSG },
        { "slot order", e_swap_slots, -EBADMSG, -EBADMSG },
    };
    fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int a = edited(f, cases[i].fn, CS_SLOT_PASSWORD, f->pw, NULL);
        int b = edited(f, cases[i].fn, CS_SLOT_RECOVERY, f->code, NULL);
        if (a != cases[i].pw || b != cases[i].rk)
            fail_msg("%s: password %d (want %d), recovery %d (want %d)", cases[i].name, a,
                     cases[i].pw, b, cases[i].rk);
    }
}

/* A keybag of another account with alice's name: the AMK does not match. */
static void test_foreign_account(void **state)
{
    fixture *f = *state;
    cs_amk *other = NULL;
    cs_keybag *kb = NULL, *mine = NULL;
    json_object *root, *id;
    char *text = NULL;
    const char *t;
    size_t len;

    assert_int_equal(cs_amk_generate(&other), 0);
    assert_int_equal(cs_keybag_new("alice", other, &kb), 0);
    assert_int_equal(cs_keybag_set_password(kb, other, f->pw, &cheap), 0);
    assert_int_equal(cs_keybag_serialize(kb, other, &text, &len), 0);
    /* claim to be the fixture's account */
    assert_int_equal(cs_keybag_parse(f->text, f->len, &mine), 0);
    root = json_tokener_parse(text);
    id = json_object_new_string(cs_keybag_account_id(mine));
    json_object_object_add(root, "account_id", id);
    t = json_object_to_json_string(root);
    assert_int_equal(try_unlock(t, strlen(t), CS_SLOT_PASSWORD, f->pw), -EACCES);
    json_object_put(root);
    free(text);
    cs_keybag_free(kb);
    cs_keybag_free(mine);
    cs_amk_free(other);
}

static void test_describe_has_no_secrets(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    json_object *d = NULL;
    const char *s;

    assert_int_equal(cs_keybag_parse(f->text, f->len, &kb), 0);
    assert_int_equal(cs_keybag_describe(kb, &d), 0);
    s = json_object_to_json_string(d);
    assert_null(strstr(s, "ciphertext\""));
    assert_null(strstr(s, "nonce"));
    assert_null(strstr(s, "salt"));
    assert_null(strstr(s, "\"mac\""));
    assert_non_null(strstr(s, "\"memory\""));
    json_object_put(d);
    cs_keybag_free(kb);
}

/* ---- account layer: cache, pin, rollback ---- */

static char tmpdir[] = "/tmp/cs-test-keybag-XXXXXX";

static cs_config *account_config(void)
{
    cs_config *c = NULL;
    char buf[256];

    assert_int_equal(cs_config_new_default(&c), 0);
    snprintf(buf, sizeof(buf), "file://%s/storage", tmpdir);
    assert_int_equal(cs_config_set(c, "storage", "url", buf), 0);
    snprintf(buf, sizeof(buf), "%s/state", tmpdir);
    assert_int_equal(cs_config_set(c, "paths", "state_dir", buf), 0);
    assert_int_equal(cs_config_set(c, "kdf", "memory", "8M"), 0);
    assert_int_equal(cs_config_set(c, "kdf", "target_time_ms", "1"), 0);
    return c;
}

static void put_storage(const char *user, const cs_buf *b)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/storage/users/%s/keybag", tmpdir, user);
    assert_int_equal(cs_write_file_atomic(path, b->data, b->len, 0600), 0);
}

static void get_storage(const char *user, cs_buf *b)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/storage/users/%s/keybag", tmpdir, user);
    assert_int_equal(cs_read_file(path, CS_KEYBAG_MAX_BYTES, b), 0);
}

static void test_account_rollback(void **state)
{
    const char *user = getpwuid(geteuid())->pw_name;
    cs_config *cfg;
    cs_secret *pw = secret("first"), *pw2 = secret("second"), *code = NULL;
    cs_amk *amk = NULL, *got = NULL;
    cs_buf old = CS_BUF_INIT, cur = CS_BUF_INIT;
    char id[CS_ACCOUNT_ID_MAX], id2[CS_ACCOUNT_ID_HEX + 1];
    char path[512];

    assert_non_null(mkdtemp(tmpdir));
    cfg = account_config();
    assert_int_equal(cs_account_unlock(cfg, user, pw, 0, &got), -ENOENT);
    assert_int_equal(cs_account_enroll(cfg, user, pw, false, &code, &amk), 0);
    assert_int_equal(cs_account_enroll(cfg, user, pw, false, &code, &amk), -EEXIST);
    assert_int_equal(cs_account_id(cfg, user, id), 0);
    assert_int_equal(cs_account_id_from_amk(amk, id2), 0);
    assert_string_equal(id, id2);
    get_storage(user, &old);

    assert_int_equal(cs_account_unlock(cfg, user, pw, 0, &got), 0);
    cs_amk_free(got);
    assert_int_equal(cs_account_unlock(cfg, user, code, CS_UNLOCK_RECOVERY, &got), 0);
    cs_amk_free(got);
    assert_int_equal(cs_account_set_password(cfg, user, amk, pw2), 0);
    assert_int_equal(cs_account_unlock(cfg, user, pw, 0, &got), -EACCES);
    assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_LOGIN, &got), 0);
    cs_amk_free(got);

    /* the payload through the account layer: a new generation each time */
    {
        json_object *p = json_object_new_object(), *back = NULL, *v;
        json_object_object_add(p, "bucket", json_object_new_string("b1"));
        assert_int_equal(cs_account_payload_set(cfg, user, amk, p), 0);
        json_object_put(p);
        assert_int_equal(cs_account_payload_get(cfg, user, amk, 0, &back), 0);
        assert_true(json_object_object_get_ex(back, "bucket", &v));
        assert_string_equal(json_object_get_string(v), "b1");
        json_object_put(back);
        /* another account's key does not verify this keybag */
        assert_int_equal(cs_amk_generate(&got), 0);
        assert_int_equal(cs_account_payload_get(cfg, user, got, 0, &back), -EBADMSG);
        cs_amk_free(got);
    }

    /* storage rolled back to generation 1: refused, old password included;
     * the current password opens the cached copy instead */
    get_storage(user, &cur);
    put_storage(user, &old);
    assert_int_equal(cs_account_unlock(cfg, user, pw, 0, &got), -ESTALE);
    assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_LOGIN, &got), 0);
    cs_amk_free(got);
    /* the cache alone still works */
    assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_CACHE_ONLY, &got), 0);
    cs_amk_free(got);
    /* storage gone: login falls back to the cache */
    snprintf(path, sizeof(path), "%s/storage/users/%s/keybag", tmpdir, user);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_LOGIN, &got), 0);
    cs_amk_free(got);
    /* storage garbage: an error normally, the cache at login */
    {
        cs_buf junk = CS_BUF_INIT;
        cs_buf_append(&junk, "{\"version\":1}", 13);
        put_storage(user, &junk);
        cs_buf_free(&junk);
    }
    assert_int_equal(cs_account_unlock(cfg, user, pw2, 0, &got), -EBADMSG);
    assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_LOGIN, &got), 0);
    cs_amk_free(got);
    put_storage(user, &cur);
    assert_int_equal(cs_account_sync_pending(cfg, user), 0);

    /* a FIFO planted as the cached keybag neither blocks nor breaks unlocking */
    snprintf(path, sizeof(path), "%s/state/keybags/%s/keybag", tmpdir, user);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(cs_account_unlock(cfg, user, pw2, 0, &got), 0);
    cs_amk_free(got);

    /* root (the PAM helper) recreates a missing cache on the first unlock */
    if (geteuid() == 0) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/state/keybags'", tmpdir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_LOGIN, &got), 0);
        cs_amk_free(got);
        snprintf(path, sizeof(path), "%s/state/keybags/%s/keybag", tmpdir, user);
        assert_int_equal(access(path, F_OK), 0);

        /* a symlink in place of the user's directory is never followed */
        {
            char target[256], link[256];
            snprintf(cmd, sizeof(cmd), "rm -rf '%s/state/keybags/%s'", tmpdir, user);
            assert_int_equal(system(cmd), 0);
            snprintf(target, sizeof(target), "%s/elsewhere", tmpdir);
            snprintf(link, sizeof(link), "%s/state/keybags/%s", tmpdir, user);
            assert_int_equal(mkdir(target, 0700), 0);
            assert_int_equal(symlink(target, link), 0);
            assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_LOGIN, &got), 0);
            cs_amk_free(got);
            snprintf(path, sizeof(path), "%s/keybag", target);
            assert_int_equal(access(path, F_OK), -1);
            assert_int_equal(cs_account_set_password(cfg, user, amk, pw2), -ENOTDIR);
            assert_int_equal(access(path, F_OK), -1);
        }
    }

    cs_buf_free(&old);
    cs_buf_free(&cur);
    cs_amk_free(amk);
    cs_secret_free(code);
    cs_secret_free(pw);
    cs_secret_free(pw2);
    cs_config_free(cfg);
    snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(path), 0);
}

/* A keybag of a new account for user, wrapped to password, at generation gen. */
static cs_amk *foreign_keybag(const cs_config *cfg, const char *user, const cs_secret *password, uint64_t gen,
                              cs_buf *out)
{
    cs_amk *amk = NULL;
    cs_keybag *kb = NULL;
    cs_kdf_params params;
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(cs_kdf_params_from_config(cfg, &params), 0);
    assert_int_equal(cs_amk_generate(&amk), 0);
    assert_int_equal(cs_keybag_new(user, amk, &kb), 0);
    assert_int_equal(cs_keybag_set_password(kb, amk, password, &params), 0);
    cs_keybag_set_generation(kb, gen);
    assert_int_equal(cs_keybag_serialize(kb, amk, &text, &len), 0);
    out->len = 0;
    assert_int_equal(cs_buf_append(out, text, len), 0);
    free(text);
    cs_keybag_free(kb);
    return amk;
}

static void read_cache(const char *user, const char *name, cs_buf *b)
{
    char path[512];

    b->len = 0;
    snprintf(path, sizeof(path), "%s/state/keybags/%s/%s", tmpdir, user, name);
    assert_int_equal(cs_read_file(path, CS_KEYBAG_MAX_BYTES, b), 0);
}

static void assert_same_amk(const cs_amk *a, cs_amk *b)
{
    assert_memory_equal(a->key, b->key, CS_KEY_BYTES);
    cs_amk_free(b);
}

/* Issue 14, hole 2: nothing from storage reaches the cache or the pin
 * before it is proven the user's; storage's copy falls back to the cache. */
static void test_account_untrusted_storage(void **state)
{
    const char *user = getpwuid(geteuid())->pw_name;
    cs_secret *pw = secret("mine"), *evil = secret("attacker"), *code = NULL;
    cs_buf planted = CS_BUF_INIT, mine = CS_BUF_INIT, cache = CS_BUF_INIT, pin = CS_BUF_INIT, b = CS_BUF_INIT;
    cs_amk *amk = NULL, *other, *got = NULL;
    cs_account_expect e = { .has_account_key = true };
    cs_config *cfg;
    char path[512];

    strcpy(tmpdir, "/tmp/cs-test-keybag-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    cfg = account_config();
    assert_int_equal(cs_account_enroll(cfg, user, pw, false, &code, &amk), 0);
    assert_int_equal(cs_amk_account_pubkey(amk, e.account_key), 0);
    get_storage(user, &mine);
    read_cache(user, "keybag", &cache);
    read_cache(user, "generation", &pin);
    other = foreign_keybag(cfg, user, evil, (uint64_t)1 << 53, &planted);
    put_storage(user, &planted);

    /* trust on first use: the cached account; the planted one opens with
     * its password but is never used, cached or pinned */
    assert_int_equal(cs_account_unlock(cfg, user, evil, CS_UNLOCK_LOGIN, &got), -EKEYREJECTED);
    assert_int_equal(cs_account_unlock(cfg, user, evil, 0, &got), -EKEYREJECTED);
    read_cache(user, "keybag", &b);
    assert_true(b.len == cache.len && memcmp(b.data, cache.data, b.len) == 0);
    read_cache(user, "generation", &b);
    assert_true(b.len == pin.len && memcmp(b.data, pin.data, b.len) == 0);
    assert_int_equal(cs_account_unlock(cfg, user, pw, CS_UNLOCK_LOGIN, &got), 0);
    assert_same_amk(amk, got);
    /* the pinned key (fleet): the same, whatever the cache says */
    assert_int_equal(cs_account_unlock_expect(cfg, user, evil, CS_UNLOCK_LOGIN, &e, &got), -EKEYREJECTED);
    assert_int_equal(cs_account_unlock_expect(cfg, user, pw, CS_UNLOCK_LOGIN, &e, &got), 0);
    assert_same_amk(amk, got);
    read_cache(user, "generation", &b);
    assert_true(b.len == pin.len && memcmp(b.data, pin.data, b.len) == 0);
    /* a change puts the user's own keybag back, just above the pin */
    {
        cs_secret *pw2 = secret("mine too");
        cs_keybag *kb = NULL;

        assert_int_equal(cs_account_set_password(cfg, user, amk, pw2), 0);
        b.len = 0;
        get_storage(user, &b);
        assert_int_equal(cs_keybag_parse(b.data, b.len, &kb), 0);
        assert_int_equal(cs_keybag_verify(kb, amk), 0);
        assert_int_equal(cs_keybag_generation(kb), 2);
        cs_keybag_free(kb);
        put_storage(user, &planted);
        assert_int_equal(cs_account_unlock(cfg, user, pw2, CS_UNLOCK_LOGIN, &got), 0);
        assert_same_amk(amk, got);
        cs_secret_free(pw2);
    }

    /* no cache: trust on first use takes what opens; a pinned key does not */
    snprintf(path, sizeof(path), "rm -rf '%s/state/keybags/%s'", tmpdir, user);
    assert_int_equal(system(path), 0);
    assert_int_equal(cs_account_unlock_expect(cfg, user, evil, 0, &e, &got), -EKEYREJECTED);
    assert_int_equal(cs_account_unlock_expect(cfg, user, pw, 0, &e, &got), -EKEYREJECTED);
    assert_int_equal(cs_account_unlock(cfg, user, evil, 0, &got), 0);
    assert_same_amk(other, got);

    /* the directory's floor: below it, or at it with other bytes, refused */
    assert_int_equal(system(path), 0);
    put_storage(user, &mine);
    e.floor = 2;
    assert_int_equal(cs_account_unlock_expect(cfg, user, pw, 0, &e, &got), -ESTALE);
    e.floor = 1;
    e.has_floor_sha256 = true;
    memset(e.floor_sha256, 0xa5, sizeof(e.floor_sha256));
    assert_int_equal(cs_account_unlock_expect(cfg, user, pw, 0, &e, &got), -ESTALE);
    crypto_hash_sha256(e.floor_sha256, mine.data, mine.len);
    assert_int_equal(cs_account_unlock_expect(cfg, user, pw, 0, &e, &got), 0);
    assert_same_amk(amk, got);
    /* a cached copy below the floor behind a current storage copy: a wrong
     * password is reported as one, not as a replay */
    if (geteuid() == 0) {
        char kpath[512];

        assert_int_equal(cs_account_set_password(cfg, user, amk, evil), 0);
        b.len = 0;
        get_storage(user, &b);
        {
            cs_keybag *kb = NULL;
            assert_int_equal(cs_keybag_parse(b.data, b.len, &kb), 0);
            e.floor = cs_keybag_generation(kb);
            assert_true(e.floor > 1);
            cs_keybag_free(kb);
        }
        crypto_hash_sha256(e.floor_sha256, b.data, b.len);
        snprintf(kpath, sizeof(kpath), "%s/state/keybags/%s/keybag", tmpdir, user);
        assert_int_equal(cs_write_file_atomic(kpath, mine.data, mine.len, 0600), 0);
        assert_int_equal(cs_account_unlock_expect(cfg, user, pw, 0, &e, &got), -EACCES);
        assert_int_equal(cs_account_unlock_expect(cfg, user, evil, 0, &e, &got), 0);
        assert_same_amk(amk, got);
    }

    cs_buf_free(&planted);
    cs_buf_free(&mine);
    cs_buf_free(&cache);
    cs_buf_free(&pin);
    cs_buf_free(&b);
    cs_amk_free(amk);
    cs_amk_free(other);
    cs_secret_free(code);
    cs_secret_free(pw);
    cs_secret_free(evil);
    cs_config_free(cfg);
    snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(path), 0);
}

/* A fleet workstation files a keybag seal with each new keybag; offline it
 * waits with the pending keybag and cs_account_sync_pending files both. */
static void test_account_files_keybag_seals(void **state)
{
    const char *user = getpwuid(geteuid())->pw_name;
    cs_secret *pw = secret("mine"), *pw2 = secret("mine, later"), *code = NULL;
    cs_buf b = CS_BUF_INIT, kbraw = CS_BUF_INIT;
    cs_amk *amk = NULL;
    cs_config *cfg, *offline;
    uint8_t pk[CS_SIGN_PK_BYTES];
    cs_keybag_seal seal;
    cs_fleet_err err = { "" };
    char path[512];

    strcpy(tmpdir, "/tmp/cs-test-keybag-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    cfg = account_config();
    offline = account_config();
    assert_int_equal(cs_config_set(cfg, "fleet", "public_key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), 0);
    assert_int_equal(cs_config_set(offline, "fleet", "public_key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
                     0);
    snprintf(path, sizeof(path), "file://%s/storage/users/%s/keybag/not-a-dir", tmpdir, user);
    assert_int_equal(cs_config_set(offline, "storage", "url", path), 0);

    assert_int_equal(cs_account_enroll(cfg, user, pw, false, &code, &amk), 0);
    assert_int_equal(cs_amk_account_pubkey(amk, pk), 0);
    snprintf(path, sizeof(path), "%s/storage/users/%s/keybag-seal", tmpdir, user);
    assert_int_equal(cs_read_file(path, CS_KEYBAG_SEAL_MAX, &b), 0);
    assert_int_equal(cs_keybag_seal_parse(b.data, b.len, user, pk, &seal, &err), 0);
    assert_int_equal(seal.generation, 1);

    /* offline: the keybag and its seal wait in the cache */
    assert_int_equal(cs_account_set_password(offline, user, amk, pw2), 0);
    b.len = 0;
    assert_int_equal(cs_read_file(path, CS_KEYBAG_SEAL_MAX, &b), 0);
    assert_int_equal(cs_keybag_seal_parse(b.data, b.len, user, pk, &seal, &err), 0);
    assert_int_equal(seal.generation, 1);
    assert_int_equal(cs_account_sync_pending(cfg, user), 0);
    b.len = 0;
    assert_int_equal(cs_read_file(path, CS_KEYBAG_SEAL_MAX, &b), 0);
    assert_int_equal(cs_keybag_seal_parse(b.data, b.len, user, pk, &seal, &err), 0);
    assert_int_equal(seal.generation, 2);
    get_storage(user, &kbraw);
    {
        uint8_t sha[32];
        crypto_hash_sha256(sha, kbraw.data, kbraw.len);
        assert_memory_equal(seal.sha256, sha, sizeof(sha));
    }

    /* the agent's upkeep: a missing or older seal is filed again, a newer
     * valid one (another machine's) is left alone */
    assert_int_equal(cs_account_reseal(cfg, user, amk), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cs_account_reseal(cfg, user, amk), 1);
    b.len = 0;
    assert_int_equal(cs_read_file(path, CS_KEYBAG_SEAL_MAX, &b), 0);
    assert_int_equal(cs_keybag_seal_parse(b.data, b.len, user, pk, &seal, &err), 0);
    assert_int_equal(seal.generation, 2);
    {
        char *older = NULL, *newer = NULL;
        assert_int_equal(cs_keybag_seal_for(user, amk, 1, "x", 1, &older), 0);
        assert_int_equal(cs_write_file_atomic(path, older, strlen(older), 0600), 0);
        assert_int_equal(cs_account_reseal(cfg, user, amk), 1);
        assert_int_equal(cs_keybag_seal_for(user, amk, 7, "y", 1, &newer), 0);
        assert_int_equal(cs_write_file_atomic(path, newer, strlen(newer), 0600), 0);
        assert_int_equal(cs_account_reseal(cfg, user, amk), 0);
        b.len = 0;
        assert_int_equal(cs_read_file(path, CS_KEYBAG_SEAL_MAX, &b), 0);
        assert_true(b.len == strlen(newer) && memcmp(b.data, newer, b.len) == 0);
        /* junk, or another account's seal, is replaced */
        assert_int_equal(cs_write_file_atomic(path, "junk", 4, 0600), 0);
        assert_int_equal(cs_account_reseal(cfg, user, amk), 1);
        free(older);
        free(newer);
    }
    /* not a fleet workstation: nothing to do */
    assert_int_equal(unlink(path), 0);
    {
        cs_config *plain = account_config();
        assert_int_equal(cs_account_reseal(plain, user, amk), 0);
        assert_int_equal(access(path, F_OK), -1);
        cs_config_free(plain);
    }

    cs_buf_free(&b);
    cs_buf_free(&kbraw);
    cs_amk_free(amk);
    cs_secret_free(code);
    cs_secret_free(pw);
    cs_secret_free(pw2);
    cs_config_free(cfg);
    cs_config_free(offline);
    snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(path), 0);
}

static void test_kdf_bounds(void **state)
{
    cs_kdf_params p = { .ops = 1, .mem_bytes = CS_KDF_MEM_MIN };
    uint8_t salt[CS_KDF_SALT_BYTES] = { 0 }, out[32];

    assert_int_equal(cs_kdf_check(&p), 0);
    p.mem_bytes = CS_KDF_MEM_MAX + 1024;
    assert_int_equal(cs_kdf_derive(&p, salt, "x", 1, out, sizeof(out)), -E2BIG);
    p.mem_bytes = CS_KDF_MEM_MIN - 1024;
    assert_int_equal(cs_kdf_check(&p), -E2BIG);
    p.mem_bytes = CS_KDF_MEM_MIN;
    p.ops = CS_KDF_OPS_MAX + 1;
    assert_int_equal(cs_kdf_check(&p), -E2BIG);
    p.ops = 0;
    assert_int_equal(cs_kdf_check(&p), -E2BIG);
    /* calibration keeps the memory and stays within bounds */
    assert_int_equal(cs_kdf_calibrate(CS_KDF_MEM_MIN, 1, 1, &p), 0);
    assert_int_equal(p.mem_bytes, CS_KDF_MEM_MIN);
    assert_int_equal(p.ops, 1);
    assert_int_equal(cs_kdf_calibrate(CS_KDF_MEM_MIN, 60000, 1, &p), 0);
    assert_int_equal(p.ops, CS_KDF_OPS_MAX);
    assert_int_equal(cs_kdf_calibrate(CS_KDF_MEM_MIN, 1, 3, &p), 0);
    assert_int_equal(p.ops, 3);
}

/* [kdf] max_memory / max_ops: the automatic limit is 4 x memory, at most a
 * quarter of the RAM, never below memory; an explicit one is taken, with
 * the same floor and ceiling. */
static void test_kdf_limit_compute(void **state)
{
    const uint64_t M = 1ULL << 20, G = 1ULL << 30;
    cs_kdf_params l;

    (void)state;
    cs_kdf_limit_compute(256 * M, 0, 16, 1, 24 * G, &l);
    assert_int_equal(l.mem_bytes, 1 * G);
    assert_int_equal(l.ops, 16);
    cs_kdf_limit_compute(256 * M, 0, 16, 1, 2 * G, &l);
    assert_int_equal(l.mem_bytes, 512 * M);
    cs_kdf_limit_compute(256 * M, 0, 16, 1, 512 * M, &l);
    assert_int_equal(l.mem_bytes, 256 * M); /* never below what we write */
    cs_kdf_limit_compute(256 * M, 3 * G, 16, 1, 24 * G, &l);
    assert_int_equal(l.mem_bytes, 3 * G);
    cs_kdf_limit_compute(256 * M, 3 * G, 16, 1, 4 * G, &l);
    assert_int_equal(l.mem_bytes, 1 * G);
    cs_kdf_limit_compute(256 * M, 100 * M, 16, 1, 24 * G, &l);
    assert_int_equal(l.mem_bytes, 256 * M);
    cs_kdf_limit_compute(1 * G, 0, 16, 1, 0, &l); /* RAM unknown */
    assert_int_equal(l.mem_bytes, CS_KDF_MEM_MAX);
    cs_kdf_limit_compute(8 * M, 0, 4, 8, 24 * G, &l);
    assert_int_equal(l.ops, 8); /* never below min_ops */
}

/* A keybag asking for more than this workstation's limit is refused with
 * -E2BIG before any derivation, whether it is parsed under the limit or was
 * parsed before it was set; calibration never writes beyond the limit. */
static void test_kdf_limit_refuses_before_deriving(void **state)
{
    const cs_kdf_params big = { .ops = 3, .mem_bytes = 32ULL << 20 };
    const cs_kdf_params lim = { .ops = 2, .mem_bytes = 16ULL << 20 };
    const cs_kdf_params deflt = *cs_kdf_limit();
    cs_secret *pw = secret("correct horse");
    cs_keybag *kb = NULL, *parsed = NULL;
    cs_amk *amk = NULL, *got = NULL;
    char *text = NULL;
    size_t len = 0;
    struct timespec t0, t1;
    cs_kdf_params p;

    (void)state;
    assert_int_equal(cs_amk_generate(&amk), 0);
    assert_int_equal(cs_keybag_new("alice", amk, &kb), 0);
    assert_int_equal(cs_keybag_set_password(kb, amk, pw, &big), 0);
    assert_int_equal(cs_keybag_serialize(kb, amk, &text, &len), 0);
    assert_int_equal(cs_keybag_parse(text, len, &parsed), 0);

    cs_kdf_set_limit(&lim);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cs_keybag_unlock(parsed, CS_SLOT_PASSWORD, pw, &got), -E2BIG);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(got);
    /* no Argon2 run at all: far below one 32 MiB derivation */
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 20);
    cs_keybag_free(parsed);
    parsed = NULL;
    assert_int_equal(cs_keybag_parse(text, len, &parsed), -E2BIG);
    assert_null(parsed);
    /* over the ops alone, too */
    p = (cs_kdf_params){ .ops = 3, .mem_bytes = 8ULL << 20 };
    assert_int_equal(cs_kdf_check(&p), -E2BIG);
    p.ops = 2;
    assert_int_equal(cs_kdf_check(&p), 0);
    /* what we calibrate opens here */
    assert_int_equal(cs_kdf_calibrate(CS_KDF_MEM_MIN, 60000, 1, &p), 0);
    assert_int_equal(p.ops, 2);

    cs_kdf_set_limit(&deflt);
    assert_int_equal(cs_keybag_parse(text, len, &parsed), 0);
    assert_int_equal(cs_keybag_unlock(parsed, CS_SLOT_PASSWORD, pw, &got), 0);
    cs_amk_free(got);
    cs_keybag_free(parsed);
    cs_keybag_free(kb);
    cs_amk_free(amk);
    cs_secret_free(pw);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test_setup_teardown(test_bad_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_has_no_secrets, setup, teardown),
        cmocka_unit_test(test_kdf_bounds),
        cmocka_unit_test(test_kdf_limit_compute),
        cmocka_unit_test(test_kdf_limit_refuses_before_deriving),
        cmocka_unit_test(test_account_rollback),
        cmocka_unit_test(test_account_untrusted_storage),
        cmocka_unit_test(test_account_files_keybag_seals),
    };
    if (cs_crypto_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("keybag", tests, NULL, NULL);
}
