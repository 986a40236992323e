/* SPDX-License-Identifier: MIT */
/* Keybag fido2 slots (docs/keybag.md, "Security-key slots") without a
 * device: the 32 hmac-secret bytes are passed directly.  Each policy opens
 * with what it needs and nothing less; every field of the slot, changed,
 * makes it not open (-EACCES) and every other slot fail the MAC (-EBADMSG);
 * malformed, truncated and oversized slots are refused by the parser.
 * The KDF runs at the minimum cost (8 MiB, 1 pass). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include <pwd.h>
#include <unistd.h>

#include "account/account.h"
#include "crypto/kdf.h"
#include "crypto/keybag.h"
#include "crypto/recovery.h"
#include "util/secmem.h"

static const cs_kdf_params cheap = { .ops = 1, .mem_bytes = CS_KDF_MEM_MIN };

typedef struct fixture {
    cs_amk *amk;
    cs_secret *pw, *code, *key1, *key2; /* key1: the enrolled key's hmac-secret; key2: another key's */
    char *any, *both;                   /* serialized bags: password or both-slot, recovery, one key */
    size_t any_len, both_len;
} fixture;

static cs_secret *secret_bytes(const void *p, size_t n)
{
    cs_secret *x = NULL;

    assert_int_equal(cs_secret_new(&x), 0);
    assert_int_equal(cs_secret_set(x, p, n), 0);
    return x;
}

static cs_secret *random_secret(void)
{
    uint8_t b[CS_FIDO2_SECRET_BYTES];

    randombytes_buf(b, sizeof(b));
    return secret_bytes(b, sizeof(b));
}

static cs_keybag_fido2 key_info(cs_fido2_policy policy, uint8_t cred_byte)
{
    cs_keybag_fido2 k = { .created = 1796515200, .policy = policy, .cred_id_len = 64,
                          .flags = CS_FIDO2_UP | CS_FIDO2_PIN };

    snprintf(k.name, sizeof(k.name), "key %02x", cred_byte);
    memset(k.cred_id, cred_byte, k.cred_id_len);
    randombytes_buf(k.salt, sizeof(k.salt));
    return k;
}

static cs_keybag *base_bag(fixture *f)
{
    uint8_t rk[CS_RECOVERY_KEY_BYTES];
    cs_keybag *kb = NULL;

    cs_recovery_generate(rk);
    cs_recovery_encode(rk, f->code->data);
    f->code->len = strlen(f->code->data);
    assert_int_equal(cs_keybag_new("alice", f->amk, &kb), 0);
    assert_int_equal(cs_keybag_set_password(kb, f->amk, f->pw, &cheap), 0);
    assert_int_equal(cs_keybag_set_recovery(kb, f->amk, rk), 0);
    return kb;
}

static void make_bag(fixture *f, cs_fido2_policy policy, char **text, size_t *len)
{
    cs_keybag *kb = base_bag(f);
    cs_keybag_fido2 k = key_info(policy, 0xa1);

    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key1, f->pw, &cheap), 0);
    assert_int_equal(cs_keybag_serialize(kb, f->amk, text, len), 0);
    cs_keybag_free(kb);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_int_equal(cs_amk_generate(&f->amk), 0);
    f->pw = secret_bytes("correct horse", 13);
    assert_int_equal(cs_secret_new(&f->code), 0);
    f->key1 = random_secret();
    f->key2 = random_secret();
    make_bag(f, CS_FIDO2_POLICY_ANY, &f->any, &f->any_len);
    make_bag(f, CS_FIDO2_POLICY_BOTH, &f->both, &f->both_len); /* recovery code: this bag's */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    cs_amk_free(f->amk);
    cs_secret_free(f->pw);
    cs_secret_free(f->code);
    cs_secret_free(f->key1);
    cs_secret_free(f->key2);
    free(f->any);
    free(f->both);
    free(f);
    return 0;
}

/* The first fido2 slot's id. */
static uint32_t fido2_id(const cs_keybag *kb)
{
    cs_keybag_fido2 k;

    assert_true(cs_keybag_fido2_slots(kb, &k, 1) >= 1);
    return k.id;
}

/* Parse text and open its first fido2 slot: 0 or the error. */
static int open_fido2(const char *text, size_t len, const cs_secret *key, const cs_secret *pw)
{
    cs_keybag *kb = NULL;
    cs_amk *amk = NULL;
    int r = cs_keybag_parse(text, len, &kb);

    if (r == 0)
        r = cs_keybag_unlock_fido2(kb, fido2_id(kb), key, pw, &amk);
    cs_amk_free(amk);
    cs_keybag_free(kb);
    return r;
}

static int open_slot(const char *text, size_t len, cs_slot_type type, const cs_secret *s)
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

/* ---- the policies ---- */

static void test_policy_any(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    cs_keybag_fido2 k;
    cs_amk *amk = NULL;
    char rp[128];

    assert_int_equal(cs_keybag_parse(f->any, f->any_len, &kb), 0);
    assert_int_equal(cs_keybag_fido2_policy(kb), CS_FIDO2_POLICY_ANY);
    assert_int_equal(cs_keybag_fido2_slots(kb, &k, 1), 1);
    assert_string_equal(k.name, "key a1");
    assert_int_equal(k.created, 1796515200);
    assert_int_equal(k.cred_id_len, 64);
    assert_int_equal(k.cred_id[63], 0xa1);
    assert_int_equal(k.flags, CS_FIDO2_UP | CS_FIDO2_PIN);
    assert_int_equal(cs_keybag_fido2_rp_id(kb, rp, sizeof(rp)), 0);
    assert_int_equal(strncmp(rp, "cloudseal:", 10), 0);
    assert_string_equal(rp + 10, cs_keybag_account_id(kb));
    /* the key alone opens it; the password slot still opens too */
    assert_int_equal(cs_keybag_unlock_fido2(kb, k.id, f->key1, NULL, &amk), 0);
    assert_memory_equal(amk->key, f->amk->key, CS_KEY_BYTES);
    cs_amk_free(amk);
    assert_int_equal(open_slot(f->any, f->any_len, CS_SLOT_PASSWORD, f->pw), 0);
    /* another authenticator's hmac-secret, a wrong slot id, a wrong size */
    assert_int_equal(cs_keybag_unlock_fido2(kb, k.id, f->key2, NULL, &amk), -EACCES);
    assert_int_equal(cs_keybag_unlock_fido2(kb, 4242, f->key1, NULL, &amk), -ENOENT);
    assert_int_equal(cs_keybag_unlock_fido2(kb, 1, f->key1, NULL, &amk), -ENOENT); /* the password slot */
    assert_int_equal(cs_keybag_unlock_fido2(kb, k.id, f->pw, NULL, &amk), -EINVAL);
    assert_int_equal(cs_keybag_unlock(kb, CS_SLOT_FIDO2, f->key1, &amk), -EINVAL);
    cs_keybag_free(kb);
}

static void test_policy_both(void **state)
{
    fixture *f = *state;
    cs_secret *wrong = secret_bytes("correct horsf", 13);
    cs_keybag *kb = NULL;
    cs_amk *amk = NULL;

    assert_int_equal(cs_keybag_parse(f->both, f->both_len, &kb), 0);
    assert_int_equal(cs_keybag_fido2_policy(kb), CS_FIDO2_POLICY_BOTH);
    /* the password slot is gone: the password alone opens nothing */
    assert_int_equal(cs_keybag_count_slots(kb, CS_SLOT_PASSWORD), 0);
    assert_int_equal(cs_keybag_count_slots(kb, CS_SLOT_RECOVERY), 1);
    assert_int_equal(cs_keybag_unlock(kb, CS_SLOT_PASSWORD, f->pw, &amk), -EACCES);
    /* password wrong, key wrong, key absent: refused */
    assert_int_equal(cs_keybag_unlock_fido2(kb, fido2_id(kb), f->key1, wrong, &amk), -EACCES);
    assert_int_equal(cs_keybag_unlock_fido2(kb, fido2_id(kb), f->key2, f->pw, &amk), -EACCES);
    assert_int_equal(cs_keybag_unlock_fido2(kb, fido2_id(kb), f->key1, NULL, &amk), -EINVAL);
    assert_int_equal(cs_keybag_unlock_fido2(kb, fido2_id(kb), NULL, f->pw, &amk), -EINVAL);
    /* both right */
    assert_int_equal(cs_keybag_unlock_fido2(kb, fido2_id(kb), f->key1, f->pw, &amk), 0);
    assert_memory_equal(amk->key, f->amk->key, CS_KEY_BYTES);
    cs_amk_free(amk);
    amk = NULL;
    /* the recovery key is the way back */
    assert_int_equal(cs_keybag_unlock(kb, CS_SLOT_RECOVERY, f->code, &amk), 0);
    cs_amk_free(amk);
    cs_keybag_free(kb);
    cs_secret_free(wrong);
}

/* The any-policy KEK is not the both-policy KEK of the same key and salt. */
static void test_policy_labels_differ(void **state)
{
    fixture *f = *state;
    json_object *root = json_tokener_parse(f->any), *slots, *slot, *kdf;
    const char *text;

    /* turn the any slot into a both slot with a valid kdf: the ciphertext
     * was made under the any-KEK, so no password opens it */
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "slots", &slots));
    slot = json_object_array_get_idx(slots, 2);
    kdf = json_object_new_object();
    json_object_object_add(kdf, "algorithm", json_object_new_string(CS_KDF_ALG_NAME));
    json_object_object_add(kdf, "ops", json_object_new_int64(1));
    json_object_object_add(kdf, "memory", json_object_new_int64(CS_KDF_MEM_MIN));
    json_object_object_add(kdf, "salt", json_object_new_string("AAAAAAAAAAAAAAAAAAAAAA=="));
    json_object_object_add(slot, "policy", json_object_new_string("both"));
    json_object_object_add(slot, "kdf", kdf);
    json_object_array_del_idx(slots, 0, 1); /* a password slot next to "both" is refused */
    text = json_object_to_json_string(root);
    assert_int_equal(open_fido2(text, strlen(text), f->key1, f->pw), -EACCES);
    json_object_put(root);
}

/* ---- adding and removing ---- */

static void test_add_rules(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    cs_keybag_fido2 k;

    assert_int_equal(cs_keybag_parse(f->any, f->any_len, &kb), 0);
    /* one policy per account; one slot per credential */
    k = key_info(CS_FIDO2_POLICY_BOTH, 0xb2);
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, f->pw, &cheap), -EEXIST);
    k = key_info(CS_FIDO2_POLICY_ANY, 0xa1);
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, NULL, NULL), -EEXIST);
    /* bad fields */
    k = key_info(CS_FIDO2_POLICY_ANY, 0xb2);
    strcpy(k.name, "tab\there");
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, NULL, NULL), -EINVAL);
    k = key_info(CS_FIDO2_POLICY_ANY, 0xb2);
    k.cred_id_len = 0;
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, NULL, NULL), -EINVAL);
    k = key_info(CS_FIDO2_POLICY_ANY, 0xb2);
    k.flags = 8;
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, NULL, NULL), -EINVAL);
    /* up to 4 keys */
    for (uint8_t c = 0xb0; c < 0xb3; c++) {
        k = key_info(CS_FIDO2_POLICY_ANY, c);
        assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, NULL, NULL), 0);
    }
    k = key_info(CS_FIDO2_POLICY_ANY, 0xc0);
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, NULL, NULL), -ENOSPC);
    cs_keybag_free(kb);

    /* policy both: at most 2 slots that run the KDF; both needs the password */
    assert_int_equal(cs_keybag_parse(f->both, f->both_len, &kb), 0);
    k = key_info(CS_FIDO2_POLICY_BOTH, 0xb0);
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, NULL, &cheap), -EINVAL);
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, f->pw, &cheap), 0);
    k = key_info(CS_FIDO2_POLICY_BOTH, 0xb1);
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, f->pw, &cheap), -ENOSPC);
    cs_keybag_free(kb);
}

static void test_remove_last_way_in(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    cs_keybag_fido2 k = key_info(CS_FIDO2_POLICY_BOTH, 0xb0);
    char *text = NULL;
    size_t len;
    uint32_t first;

    /* both: one key is the only way in; the recovery slot is never removed */
    assert_int_equal(cs_keybag_parse(f->both, f->both_len, &kb), 0);
    first = fido2_id(kb);
    assert_int_equal(cs_keybag_remove_slot(kb, first), -EBUSY);
    assert_int_equal(cs_keybag_remove_slot(kb, 2), -EPERM); /* recovery (set second) */
    assert_int_equal(cs_keybag_remove_slot(kb, 999), -ENOENT);
    assert_int_equal(cs_keybag_add_fido2(kb, f->amk, &k, f->key2, f->pw, &cheap), 0);
    assert_int_equal(cs_keybag_remove_slot(kb, first), 0);
    assert_int_equal(cs_keybag_remove_slot(kb, k.id), -EBUSY);
    /* the removed key no longer opens it, the other one does */
    assert_int_equal(cs_keybag_serialize(kb, f->amk, &text, &len), 0);
    assert_int_equal(open_fido2(text, len, f->key1, f->pw), -EACCES);
    assert_int_equal(open_fido2(text, len, f->key2, f->pw), 0);
    free(text);
    cs_keybag_free(kb);

    /* any: the password and the key are each a way in */
    assert_int_equal(cs_keybag_parse(f->any, f->any_len, &kb), 0);
    assert_int_equal(cs_keybag_remove_slot(kb, 1), 0); /* the password */
    assert_int_equal(cs_keybag_remove_slot(kb, fido2_id(kb)), -EBUSY);
    assert_int_equal(cs_keybag_serialize(kb, f->amk, &text, &len), 0);
    assert_int_equal(open_fido2(text, len, f->key1, NULL), 0);
    assert_int_equal(open_slot(text, len, CS_SLOT_PASSWORD, f->pw), -EACCES);
    free(text);
    cs_keybag_free(kb);
}

/* Recovery sets a password again: the both slots (bound to the old password) go. */
static void test_recovery_drops_both_slots(void **state)
{
    fixture *f = *state;
    cs_secret *pw2 = secret_bytes("new one", 7);
    cs_keybag *kb = NULL;
    char *text = NULL;
    size_t len;

    assert_int_equal(cs_keybag_parse(f->both, f->both_len, &kb), 0);
    assert_int_equal(cs_keybag_set_password(kb, f->amk, pw2, &cheap), 0);
    assert_int_equal(cs_keybag_fido2_policy(kb), CS_FIDO2_POLICY_NONE);
    assert_int_equal(cs_keybag_serialize(kb, f->amk, &text, &len), 0);
    assert_int_equal(open_slot(text, len, CS_SLOT_PASSWORD, pw2), 0);
    free(text);
    cs_keybag_free(kb);
    cs_secret_free(pw2);
}

static void test_describe_has_no_secrets(void **state)
{
    fixture *f = *state;
    cs_keybag *kb = NULL;
    json_object *d = NULL;
    const char *s;

    assert_int_equal(cs_keybag_parse(f->both, f->both_len, &kb), 0);
    assert_int_equal(cs_keybag_describe(kb, &d), 0);
    s = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(s, "\"policy\":\"both\""));
    assert_non_null(strstr(s, "\"name\":\"key a1\""));
    assert_null(strstr(s, "credential"));
    assert_null(strstr(s, "salt"));
    assert_null(strstr(s, "nonce"));
    json_object_put(d);
    cs_keybag_free(kb);
}

/* ---- tampering and malformed slots ---- */

/* text with member path ("name", "options.up", "kdf.salt") of the fido2
 * slot (index 2 of the any bag, 1 of the both bag) set to the JSON value
 * (NULL: removed); malloc'd. */
static char *edit(const char *text, size_t idx, const char *path, const char *value)
{
    json_object *root = json_tokener_parse(text), *slots, *o;
    char key[32];
    const char *dot = strchr(path, '.');
    char *out;

    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "slots", &slots));
    o = json_object_array_get_idx(slots, idx);
    assert_non_null(o);
    snprintf(key, sizeof(key), "%.*s", dot ? (int)(dot - path) : (int)strlen(path), path);
    if (dot) {
        assert_true(json_object_object_get_ex(o, key, &o));
        snprintf(key, sizeof(key), "%s", dot + 1);
    }
    if (value)
        json_object_object_add(o, key, json_tokener_parse(value));
    else
        json_object_object_del(o, key);
    out = strdup(json_object_to_json_string(root));
    json_object_put(root);
    return out;
}

/* Every field, changed to another well-formed value: the slot does not
 * open (-EACCES), and the password and recovery slots fail the MAC. */
static void test_tamper_every_field(void **state)
{
    static const struct {
        const char *path, *value;
    } any_edits[] = {
        { "name", "\"key a2\"" },
        { "created", "1796515201" },
        { "credential", NULL }, /* filled in below: another credential */
        { "salt", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"" },
        { "options.up", "false" },
        { "options.pin", "false" },
        { "nonce", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"" },
        { "ciphertext", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"" },
    };
    static const struct {
        const char *path, *value;
    } both_edits[] = {
        { "kdf.salt", "\"AAAAAAAAAAAAAAAAAAAAAA==\"" },
        { "kdf.ops", "2" },
        { "name", "\"x\"" },
        { "policy", NULL }, /* both -> any: the kdf goes too (below) */
    };
    fixture *f = *state;
    char cred[128];

    memset(cred, 0, sizeof(cred));
    cred[0] = '"';
    for (int i = 1; i <= 88; i++) /* base64 of 64 bytes 0xa2 ... */
        cred[i] = "oqKi"[(i - 1) % 4];
    strcpy(cred + 85, "og==\""); /* ... canonical end: 64 = 21*3 + 1 */
    for (size_t i = 0; i < sizeof(any_edits) / sizeof(any_edits[0]); i++) {
        char *t = edit(f->any, 2, any_edits[i].path, any_edits[i].value ? any_edits[i].value : cred);

        print_message("any: %s\n", any_edits[i].path);
        assert_int_equal(open_fido2(t, strlen(t), f->key1, NULL), -EACCES);
        assert_int_equal(open_slot(t, strlen(t), CS_SLOT_PASSWORD, f->pw), -EBADMSG);
        free(t);
    }
    for (size_t i = 0; i < sizeof(both_edits) / sizeof(both_edits[0]); i++) {
        char *t = edit(f->both, 1, both_edits[i].path, both_edits[i].value ? both_edits[i].value : "\"any\"");

        if (!both_edits[i].value) {
            char *t2 = edit(t, 1, "kdf", NULL);
            free(t);
            t = t2;
        }
        print_message("both: %s\n", both_edits[i].path);
        assert_int_equal(open_fido2(t, strlen(t), f->key1, f->pw), -EACCES);
        assert_int_equal(open_slot(t, strlen(t), CS_SLOT_RECOVERY, f->code), -EBADMSG);
        free(t);
    }
    /* the slot id too: a ciphertext moved to another id does not open */
    {
        char *t = edit(f->any, 2, "id", "7");
        assert_int_equal(open_fido2(t, strlen(t), f->key1, NULL), -EACCES);
        free(t);
    }
}

static int parse_only(const char *text)
{
    cs_keybag *kb = NULL;
    int r = cs_keybag_parse(text, strlen(text), &kb);

    cs_keybag_free(kb);
    return r;
}

/* Malformed, oversized and out-of-bounds fields: refused by the parser. */
static void test_bad_fields(void **state)
{
    static const struct {
        const char *path, *value;
        int err;
    } cases[] = {
        { "policy", "\"all\"", -EBADMSG },
        { "policy", "\"Any\"", -EBADMSG },
        { "policy", "1", -EBADMSG },
        { "policy", NULL, -EBADMSG },
        { "kdf", "{\"algorithm\":\"argon2id13\",\"ops\":1,\"memory\":8388608,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
          -EBADMSG }, /* a kdf with policy any */
        { "name", "\"\"", -EBADMSG },
        { "name", "\"tab\\there\"", -EBADMSG },
        { "name", "\"nul\\u0000byte\"", -EBADMSG },
        { "name", "\"caf\\u00e9\"", -EBADMSG },
        { "name", "\"12345678901234567890123456789012345678901234567890123456789012345\"", -EBADMSG },
        { "name", NULL, -EBADMSG },
        { "created", "-1", -EBADMSG },
        { "created", "253402300800", -EBADMSG },
        { "created", "\"now\"", -EBADMSG },
        { "credential", "\"\"", -EBADMSG },
        { "credential", "\"AA==\"", 0 }, /* one byte: the least */
        { "credential", "\"AB==\"", -EBADMSG }, /* not canonical */
        { "credential", "\"AA\"", -EBADMSG },   /* no padding */
        { "credential", "\"AA==AA==\"", -EBADMSG },
        { "credential", NULL, -EBADMSG },
        { "salt", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"", -EBADMSG }, /* 31 bytes */
        { "salt", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"", -EBADMSG }, /* 34 */
        { "options", "{\"up\":true}", -EBADMSG },
        { "options", "{\"up\":true,\"pin\":true,\"rk\":true}", -EBADMSG },
        { "options", "{\"up\":1,\"pin\":true}", -EBADMSG },
        { "options", "[]", -EBADMSG },
        { "nonce", "\"AAAA\"", -EBADMSG },
        { "ciphertext", NULL, -EBADMSG },
        { "rp_id", "\"cloudseal:other\"", -EBADMSG }, /* unknown member */
        { "id", "65536", -EBADMSG },
    };
    fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = edit(f->any, 2, cases[i].path, cases[i].value);

        print_message("%s = %s\n", cases[i].path, cases[i].value ? cases[i].value : "(none)");
        assert_int_equal(parse_only(t), cases[i].err);
        free(t);
    }
}

static void test_bad_fields_both(void **state)
{
    fixture *f = *state;
    char *t = edit(f->both, 1, "kdf", NULL); /* both without a kdf */

    assert_int_equal(parse_only(t), -EBADMSG);
    free(t);
    t = edit(f->both, 1, "kdf.memory", "4398046511104"); /* 4 TiB: beyond the bounds */
    assert_int_equal(parse_only(t), -E2BIG);
    free(t);
    t = edit(f->both, 1, "kdf.ops", "65");
    assert_int_equal(parse_only(t), -E2BIG);
    free(t);
    t = edit(f->both, 1, "kdf.algorithm", "\"scrypt\"");
    assert_int_equal(parse_only(t), -EBADMSG);
    free(t);
}

/* A credential of 1023 bytes is the most; 1024 is refused. */
static void test_credential_bounds(void **state)
{
    fixture *f = *state;
    size_t n = sodium_base64_ENCODED_LEN(CS_FIDO2_CRED_ID_MAX + 1, sodium_base64_VARIANT_ORIGINAL);
    uint8_t bytes[CS_FIDO2_CRED_ID_MAX + 1];
    char *b64 = malloc(n + 2), *t;

    memset(bytes, 0x5a, sizeof(bytes));
    for (size_t len = CS_FIDO2_CRED_ID_MAX; len <= CS_FIDO2_CRED_ID_MAX + 1; len++) {
        b64[0] = '"';
        sodium_bin2base64(b64 + 1, n, bytes, len, sodium_base64_VARIANT_ORIGINAL);
        strcat(b64, "\"");
        t = edit(f->any, 2, "credential", b64);
        assert_int_equal(parse_only(t), len == CS_FIDO2_CRED_ID_MAX ? 0 : -EBADMSG);
        free(t);
    }
    free(b64);
}

/* Across slots: one policy, no password next to both, at most 4 fido2
 * slots and 2 KDF slots -- a bag breaking these is malformed. */
static void test_slot_mix(void **state)
{
    fixture *f = *state;
    json_object *root = json_tokener_parse(f->both), *slots, *fido, *copy;
    json_object *any_root = json_tokener_parse(f->any), *any_slots, *pw;
    char *t;

    assert_true(json_object_object_get_ex(root, "slots", &slots));
    assert_true(json_object_object_get_ex(any_root, "slots", &any_slots));
    fido = json_object_array_get_idx(slots, 1);
    pw = json_object_array_get_idx(any_slots, 0);
    /* a password slot next to a both slot */
    json_object_array_add(slots, json_object_get(pw));
    t = strdup(json_object_to_json_string(root));
    assert_int_equal(parse_only(t), -EBADMSG);
    free(t);
    json_object_array_del_idx(slots, 2, 1);
    /* an any slot next to a both slot */
    copy = NULL;
    assert_int_equal(json_object_deep_copy(json_object_array_get_idx(any_slots, 2), &copy, NULL), 0);
    json_object_object_add(copy, "id", json_object_new_int(9));
    json_object_array_add(slots, copy);
    t = strdup(json_object_to_json_string(root));
    assert_int_equal(parse_only(t), -EBADMSG);
    free(t);
    json_object_array_del_idx(slots, 2, 1);
    /* three both slots: three KDF runs */
    for (int id = 10; id < 12; id++) {
        copy = NULL;
        assert_int_equal(json_object_deep_copy(fido, &copy, NULL), 0);
        json_object_object_add(copy, "id", json_object_new_int(id));
        json_object_array_add(slots, copy);
    }
    t = strdup(json_object_to_json_string(root));
    assert_int_equal(parse_only(t), -EBADMSG);
    free(t);
    /* five any slots */
    for (int id = 10; id < 14; id++) {
        copy = NULL;
        assert_int_equal(json_object_deep_copy(json_object_array_get_idx(any_slots, 2), &copy, NULL), 0);
        json_object_object_add(copy, "id", json_object_new_int(id));
        json_object_array_add(any_slots, copy);
    }
    t = strdup(json_object_to_json_string(any_root));
    assert_int_equal(parse_only(t), -EBADMSG);
    free(t);
    json_object_array_del_idx(any_slots, 6, 1); /* four: well-formed */
    t = strdup(json_object_to_json_string(any_root));
    assert_int_equal(parse_only(t), 0);
    free(t);
    json_object_put(root);
    json_object_put(any_root);
}

/* Cut at every length: never a crash, never accepted. */
static void test_truncated(void **state)
{
    fixture *f = *state;

    for (size_t n = 0; n < f->both_len; n++) {
        cs_keybag *kb = NULL;
        int r = cs_keybag_parse(f->both, n, &kb);

        assert_true(r < 0);
        cs_keybag_free(kb);
    }
}

/* ---- the account layer: a keybag change each, the device through get() ---- */

typedef struct fake_device {
    uint8_t cred_byte;  /* the credential it holds: 64 bytes of this */
    const cs_secret *secret;
    int error;          /* returned instead, when not 0 */
    int asked;
} fake_device;

static int fake_get(void *userdata, const char *rp_id, const cs_keybag_fido2 *slot, cs_secret **out)
{
    fake_device *d = userdata;

    d->asked++;
    assert_int_equal(strncmp(rp_id, CS_FIDO2_RP_PREFIX, strlen(CS_FIDO2_RP_PREFIX)), 0);
    if (d->error)
        return d->error;
    if (slot->cred_id_len != 64 || slot->cred_id[0] != d->cred_byte)
        return -ENOKEY;
    *out = secret_bytes(d->secret->data, d->secret->len);
    return 0;
}

static char tmpdir[] = "/tmp/cs-test-keybag-fido2-XXXXXX";

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

static int account_unlock_key(const cs_config *cfg, const char *user, fake_device *d, const cs_secret *pw)
{
    cs_account_fido2 how = { .get = fake_get, .userdata = d, .password = pw };
    cs_amk *amk = NULL;
    int r = cs_account_unlock_fido2(cfg, user, &how, 0, NULL, &amk);

    cs_amk_free(amk);
    return r;
}

static void test_account_keys(void **state)
{
    fixture *f = *state;
    const char *user = getpwuid(geteuid())->pw_name;
    cs_secret *pw2 = secret_bytes("after recovery", 14), *code = NULL;
    fake_device mine = { .cred_byte = 0xa1, .secret = f->key1 }, other = { .cred_byte = 0xb2, .secret = f->key2 };
    fake_device absent = { .error = -ENODEV };
    cs_keybag_fido2 k = key_info(CS_FIDO2_POLICY_ANY, 0xa1);
    cs_config *cfg;
    cs_amk *amk = NULL, *got = NULL;
    char cmd[128];

    assert_non_null(mkdtemp(tmpdir));
    cfg = account_config();
    assert_int_equal(cs_account_enroll(cfg, user, f->pw, false, &code, &amk), 0);
    assert_int_equal(account_unlock_key(cfg, user, &mine, NULL), -ENOKEY); /* no key enrolled */
    assert_int_equal(mine.asked, 0);

    /* policy any: the key alone, the password still */
    assert_int_equal(cs_account_add_fido2(cfg, user, amk, &k, f->key1, NULL), 0);
    assert_int_equal(account_unlock_key(cfg, user, &mine, NULL), 0);
    assert_int_equal(account_unlock_key(cfg, user, &other, NULL), -ENOKEY);
    assert_int_equal(account_unlock_key(cfg, user, &absent, NULL), -ENODEV);
    assert_int_equal(cs_account_unlock(cfg, user, f->pw, 0, &got), 0);
    cs_amk_free(got);
    got = NULL;

    /* policy both: the other policy first goes; then the password alone no longer opens */
    k = key_info(CS_FIDO2_POLICY_BOTH, 0xb2);
    assert_int_equal(cs_account_add_fido2(cfg, user, amk, &k, f->key2, f->pw), -EEXIST);
    assert_int_equal(cs_account_remove_slot(cfg, user, amk, 3), 0);
    assert_int_equal(cs_account_add_fido2(cfg, user, amk, &k, f->key2, f->pw), 0);
    assert_int_equal(cs_account_unlock(cfg, user, f->pw, 0, &got), -EACCES);
    assert_int_equal(account_unlock_key(cfg, user, &other, NULL), -ENOPKG);
    assert_int_equal(account_unlock_key(cfg, user, &other, pw2), -EACCES);
    assert_int_equal(account_unlock_key(cfg, user, &mine, f->pw), -ENOKEY); /* the removed key */
    assert_int_equal(account_unlock_key(cfg, user, &other, f->pw), 0);
    assert_int_equal(cs_account_remove_slot(cfg, user, amk, k.id), -EBUSY);
    assert_int_equal(cs_account_set_password(cfg, user, amk, pw2), -EBUSY);

    /* the recovery key is the way back: a new password, the keys dropped */
    assert_int_equal(cs_account_unlock(cfg, user, code, CS_UNLOCK_RECOVERY, &got), 0);
    assert_int_equal(cs_account_recover_password(cfg, user, got, pw2), 0);
    cs_amk_free(got);
    got = NULL;
    assert_int_equal(cs_account_unlock(cfg, user, pw2, 0, &got), 0);
    cs_amk_free(got);
    assert_int_equal(account_unlock_key(cfg, user, &other, pw2), -ENOKEY);

    cs_amk_free(amk);
    cs_secret_free(code);
    cs_secret_free(pw2);
    cs_config_free(cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policy_any, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_labels_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_last_way_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_drops_both_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_has_no_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_mix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_keys, setup, teardown),
    };
    if (cs_crypto_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("keybag_fido2", tests, NULL, NULL);
}
