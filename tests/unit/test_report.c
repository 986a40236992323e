/* SPDX-License-Identifier: MIT */
/* Fleet health reports (docs/reports.md): made, sealed, opened and
 * verified, and refused when truncated, oversized, tampered, sealed to
 * another report key, signed by another account, from a user the directory
 * does not pin, moved to another path or dated in the future. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/keybag.h"
#include "fleet/report.h"
#include "util/secmem.h"

#define NOW 1796090400
#define HOST_ID "0123456789abcdef0123456789abcdef"

static cs_amk *amk, *other;
static uint8_t rpk[32], rsk[32], rpk2[32], rsk2[32];
static cs_directory *dir;

static int setup(void **state)
{
    cs_fleet_user *u;

    assert_int_equal(cs_crypto_init(), 0);
    assert_int_equal(cs_amk_generate(&amk), 0);
    assert_int_equal(cs_amk_generate(&other), 0);
    crypto_box_keypair(rpk, rsk);
    crypto_box_keypair(rpk2, rsk2);
    assert_int_equal(cs_directory_new(&dir), 0);
    assert_int_equal(cs_directory_add_user(dir, "alice", &u), 0);
    u->has_key = true;
    assert_int_equal(cs_amk_account_pubkey(amk, u->key), 0);
    assert_int_equal(cs_directory_add_user(dir, "bob", &u), 0);
    u->has_key = true;
    assert_int_equal(cs_amk_account_pubkey(other, u->key), 0);
    assert_int_equal(cs_directory_add_user(dir, "carol", &u), 0); /* never enrolled: no key */
    return 0;
}

static int teardown(void **state)
{
    cs_amk_free(amk);
    cs_amk_free(other);
    cs_directory_free(dir);
    return 0;
}

static cs_report sample(const char *user)
{
    cs_report r = { .sequence = 7, .time = NOW - 60, .last_backup = NOW - 3600, .last_sync = 0,
                    .snapshots = 41, .repo_bytes = 73400320, .last_error = CS_REPORT_ERR_UNREACHABLE,
                    .last_error_time = NOW - 120 };

    strcpy(r.user, user);
    strcpy(r.host, "ws-0412.example");
    strcpy(r.host_id, HOST_ID);
    strcpy(r.agent_version, "0.1.0");
    return r;
}

static void seal(const cs_report *r, const cs_amk *a, const uint8_t *pk, cs_buf *out)
{
    assert_int_equal(cs_report_seal(r, a, pk, out), 0);
}

static cs_report_state check(const cs_buf *b, const uint8_t *sk, const char *user, cs_fleet_err *err)
{
    cs_report got;

    return cs_report_check(b->data, b->len, sk, user, HOST_ID, dir, NOW, &got, err);
}

static void test_round_trip(void **state)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_report r = sample("alice"), got;
    cs_fleet_err err = { "" };
    char key[128];

    seal(&r, amk, rpk, &b);
    assert_true(b.len <= CS_REPORT_OBJECT_MAX);
    assert_int_equal((b.len - 8 - crypto_box_SEALBYTES) % 256, 0); /* padded */
    assert_null(memmem(b.data, b.len, "alice", 5));                /* nothing in the clear */
    assert_int_equal(cs_report_check(b.data, b.len, rsk, "alice", HOST_ID, dir, NOW, &got, &err), CS_REPORT_OK);
    assert_string_equal(got.user, "alice");
    assert_string_equal(got.host, "ws-0412.example");
    assert_int_equal(got.sequence, 7);
    assert_int_equal(got.last_backup, NOW - 3600);
    assert_int_equal(got.repo_bytes, 73400320);
    assert_int_equal(got.last_error, CS_REPORT_ERR_UNREACHABLE);
    assert_int_equal(cs_report_key("alice", HOST_ID, key, sizeof(key)), 0);
    assert_string_equal(key, "fleet/reports/alice/" HOST_ID);
    assert_int_equal(cs_report_key("alice", "../x", key, sizeof(key)), -EINVAL);
    assert_int_equal(cs_report_key("Alice/..", HOST_ID, key, sizeof(key)), -EINVAL);
}

static void test_truncated(void **state)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_report r = sample("alice");
    cs_fleet_err err = { "" };
    size_t full;

    seal(&r, amk, rpk, &b);
    full = b.len;
    for (size_t n = 0; n < full; n += n < 80 ? 1 : 37) {
        b.len = n;
        assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_INVALID);
    }
    b.len = full - 1;
    assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_INVALID);
}

static void test_oversized(void **state)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_report r = sample("alice");
    cs_fleet_err err = { "" };
    char *json = NULL, big[CS_REPORT_OBJECT_MAX + 1];

    seal(&r, amk, rpk, &b);
    memset(big, 0, sizeof(big));
    memcpy(big, b.data, b.len);
    assert_int_equal(cs_report_check(big, sizeof(big), rsk, "alice", HOST_ID, dir, NOW, &r, &err),
                     CS_REPORT_INVALID);
    assert_non_null(strstr(err.msg, "larger than"));
    /* a writer cannot make what readers refuse */
    r = sample("alice");
    memset(r.host, 'h', CS_REPORT_HOST_MAX + 1);
    r.host[CS_REPORT_HOST_MAX] = '\0';
    assert_int_equal(cs_report_to_json(&r, &json), 0);
    free(json);
    strcpy(r.host, "has/slash");
    assert_int_equal(cs_report_to_json(&r, &json), -EINVAL);
    r = sample("alice");
    r.repo_bytes = (1ull << 53) + 1;
    assert_int_equal(cs_report_seal(&r, amk, rpk, &b), -EINVAL);
}

static void test_tampered(void **state)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_report r = sample("alice");
    cs_fleet_err err = { "" };
    cs_report_opened o;
    uint8_t pk[32];

    seal(&r, amk, rpk, &b);
    for (size_t i = 0; i < b.len; i += 13) {
        b.data[i] ^= 0x20;
        assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_INVALID);
        b.data[i] ^= 0x20;
    }
    /* a body changed inside the box (by whoever holds the report key) */
    assert_int_equal(cs_report_open(b.data, b.len, rsk, &o, &err), 0);
    assert_int_equal(cs_amk_account_pubkey(amk, pk), 0);
    assert_int_equal(cs_report_verify(&o, pk), 0);
    *strstr(o.body, "\"snapshots\":41") = ' ';
    assert_int_equal(cs_report_verify(&o, pk), -EKEYREJECTED);
}

static void test_wrong_keys(void **state)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_report r = sample("alice");
    cs_fleet_err err = { "" };

    seal(&r, amk, rpk2, &b); /* sealed to another fleet's report key */
    assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_INVALID);
    assert_non_null(strstr(err.msg, "report key"));
    seal(&r, other, rpk, &b); /* bob's key (or a bucket writer's) claiming to be alice */
    assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_FORGED);
    assert_non_null(strstr(err.msg, "forged"));
}

static void test_unknown_user_and_misplaced(void **state)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_report r = sample("mallory");
    cs_fleet_err err = { "" };

    seal(&r, amk, rpk, &b);
    assert_int_equal(check(&b, rsk, "mallory", &err), CS_REPORT_UNKNOWN_USER);
    r = sample("carol");
    seal(&r, amk, rpk, &b);
    assert_int_equal(check(&b, rsk, "carol", &err), CS_REPORT_UNKNOWN_USER);
    cs_directory_find_user(dir, "alice")->disabled = true;
    r = sample("alice");
    seal(&r, amk, rpk, &b);
    assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_UNKNOWN_USER);
    cs_directory_find_user(dir, "alice")->disabled = false;
    /* alice's genuine report copied to bob's place */
    assert_int_equal(check(&b, rsk, "bob", &err), CS_REPORT_MISPLACED);
    assert_int_equal(cs_report_check(b.data, b.len, rsk, "alice", "ffffffffffffffffffffffffffffffff", dir, NOW, &r,
                                     &err),
                     CS_REPORT_MISPLACED);
}

static void test_future(void **state)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_report r = sample("alice");
    cs_fleet_err err = { "" };

    r.time = NOW + CS_REPORT_FUTURE_SKEW - 1; /* a clock a few minutes ahead */
    seal(&r, amk, rpk, &b);
    assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_OK);
    r.time = NOW + 86400;
    seal(&r, amk, rpk, &b);
    assert_int_equal(check(&b, rsk, "alice", &err), CS_REPORT_FUTURE);
    assert_non_null(strstr(err.msg, "future"));
}

static void test_parse_strict(void **state)
{
    static const char *const bad[] = {
        "{}",
        "[]",
        "{\"version\":2}",
        /* a good body (below) with one change each */
        "{\"version\":1,\"user\":\"alice\",\"host\":\"h\",\"host_id\":\"" HOST_ID "\",\"sequence\":1,\"time\":10,"
        "\"agent_version\":\"1\",\"last_backup\":0,\"last_sync\":0,\"snapshots\":0,\"repo_bytes\":-1,"
        "\"last_error\":\"none\",\"last_error_time\":0}",
        "{\"version\":1,\"user\":\"alice\",\"host\":\"h\",\"host_id\":\"" HOST_ID "\",\"sequence\":1,\"time\":10,"
        "\"agent_version\":\"1\",\"last_backup\":11,\"last_sync\":0,\"snapshots\":0,\"repo_bytes\":0,"
        "\"last_error\":\"none\",\"last_error_time\":0}",
        "{\"version\":1,\"user\":\"alice\",\"host\":\"h\",\"host_id\":\"" HOST_ID "\",\"sequence\":1,\"time\":10,"
        "\"agent_version\":\"1\",\"last_backup\":0,\"last_sync\":0,\"snapshots\":0,\"repo_bytes\":0,"
        "\"last_error\":\"none\",\"last_error_time\":0,\"path\":\"/home/alice/x\"}",
        "{\"version\":1,\"user\":\"alice\",\"host\":\"h\",\"host_id\":\"" HOST_ID "\",\"sequence\":1,\"time\":10,"
        "\"agent_version\":\"1\",\"last_backup\":0,\"last_sync\":0,\"snapshots\":0,"
        "\"last_error\":\"none\",\"last_error_time\":0}",
        "{\"version\":1,\"user\":\"alice\",\"host\":\"h\",\"host_id\":\"" HOST_ID "\",\"sequence\":1,\"time\":10,"
        "\"agent_version\":\"1\",\"last_backup\":0,\"last_sync\":0,\"snapshots\":0,\"repo_bytes\":0,"
        "\"last_error\":\"/home/alice/secret.txt\",\"last_error_time\":5}",
    };
    static const char good[] =
        "{\"version\":1,\"user\":\"alice\",\"host\":\"h\",\"host_id\":\"" HOST_ID "\",\"sequence\":1,\"time\":10,"
        "\"agent_version\":\"1\",\"last_backup\":0,\"last_sync\":0,\"snapshots\":0,\"repo_bytes\":0,"
        "\"last_error\":\"disk-on-fire\",\"last_error_time\":5}";
    cs_fleet_err err = { "" };
    cs_report r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cs_report_parse(bad[i], strlen(bad[i]), &r, &err), -EBADMSG);
    assert_int_equal(cs_report_parse(good, strlen(good), &r, &err), 0);
    assert_int_equal(r.last_error, CS_REPORT_ERR_OTHER); /* a newer agent's class */
}

/* The signed directory names the report key; absent, it names none. */
static void test_directory_report_key(void **state)
{
    _cleanup_directory_ cs_directory *back = NULL, *plain = NULL;
    cs_fleet_err err = { "" };
    char *json = NULL;
    size_t len;

    dir->has_report = true;
    memcpy(dir->report_pk, rpk, 32);
    dir->serial = 1, dir->issued = NOW, dir->expires = NOW + 86400;
    for (int mode = CS_DIR_SOURCE; mode <= CS_DIR_BODY; mode++) {
        assert_int_equal(cs_directory_to_json(dir, mode, &json, &len), 0);
        assert_non_null(strstr(json, "\"report_key\""));
        assert_int_equal(cs_directory_from_json(json, len, mode, &back, &err), 0);
        assert_true(back->has_report);
        assert_memory_equal(back->report_pk, rpk, 32);
        cs_directory_free(back);
        back = NULL;
        free(json);
    }
    dir->has_report = false;
    assert_int_equal(cs_directory_to_json(dir, CS_DIR_BODY, &json, &len), 0);
    assert_null(strstr(json, "report_key"));
    assert_int_equal(cs_directory_from_json(json, len, CS_DIR_BODY, &plain, &err), 0);
    assert_false(plain->has_report);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_wrong_keys),
        cmocka_unit_test(test_unknown_user_and_misplaced),
        cmocka_unit_test(test_future),
        cmocka_unit_test(test_parse_strict),
        cmocka_unit_test(test_directory_report_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
