/* SPDX-License-Identifier: MIT */
/* Fleet directory: JSON, signature, the workstation's acceptance rules, the
 * sync that keeps the last good cache, the compiled cache and its reader,
 * and the login-time pinned-key check.  Everything lives in a temporary
 * directory with a file:// storage and a config pointing there. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "basic/dircache.h"
#include "config/config.h"
#include "crypto/keys.h"
#include "fleet/fleet.h"
#include "fleet/report.h"
#include "storage/storage_s3.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/secmem.h"

static char dir[] = "/tmp/cs-test-fleet-XXXXXX";
static char path_buf[512];
static uint8_t pk[32], sk[64], other_pk[32], other_sk[64];
static cs_config *cfg;

static const char *P(const char *name)
{
    snprintf(path_buf, sizeof(path_buf), "%s/%s", dir, name);
    return path_buf;
}

static void write_text(const char *name, const char *text)
{
    assert_int_equal(cs_write_file_atomic(P(name), text, strlen(text), 0644), 0);
}

static int setup(void **state)
{
    char b64[48], url[600];

    assert_int_equal(cs_crypto_init(), 0);
    cs_log_setup("test_fleet", LOG_CRIT);
    assert_non_null(mkdtemp(dir));
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(other_pk, other_sk);
    write_text("passwd", "root:x:0:0:root:/root:/bin/sh\nlocal:x:1000500:1000500::/home/local:/bin/sh\n");
    write_text("group", "root:x:0:\nlocalgrp:x:1000600:\n");
    assert_int_equal(cs_mkdir_p(P("store"), 0700), 0);
    assert_int_equal(cs_config_new_default(&cfg), 0);
    snprintf(url, sizeof(url), "file://%s/store", dir);
    assert_int_equal(cs_config_set(cfg, "storage", "url", url), 0);
    cs_fleet_encode_key(pk, b64);
    assert_int_equal(cs_config_set(cfg, "fleet", "public_key", b64), 0);
    assert_int_equal(cs_config_set(cfg, "fleet", "cache", P("directory.cache")), 0);
    assert_int_equal(cs_config_set(cfg, "fleet", "state", P("directory.state")), 0);
    assert_int_equal(cs_config_set(cfg, "fleet", "local_passwd", P("passwd")), 0);
    assert_int_equal(cs_config_set(cfg, "fleet", "local_group", P("group")), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];

    cs_config_free(cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* n users u0..u(n-1) with private groups, plus "dev" holding u0 and u1 */
static cs_directory *make_dir(size_t n)
{
    cs_directory *d;
    cs_fleet_group *dev;

    assert_int_equal(cs_directory_new(&d), 0);
    d->fleet = strdup("test");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        cs_fleet_user *u;
        cs_fleet_group *g;

        snprintf(name, sizeof(name), "u%zu", i);
        assert_int_equal(cs_directory_add_user(d, name, &u), 0);
        u->uid = u->gid = (uint32_t)(1000000 + i);
        u->gecos = strdup("User");
        assert_int_equal(asprintf(&u->home, "/home/%s", name) > 0, 1);
        u->shell = strdup("/bin/bash");
        u->has_key = true;
        memset(u->key, (int)i + 1, 32);
        assert_int_equal(cs_directory_add_group(d, name, &g), 0);
        g->gid = u->uid;
    }
    assert_int_equal(cs_directory_add_group(d, "dev", &dev), 0);
    dev->gid = 1100000;
    assert_int_equal(cs_fleet_strv_add(&dev->members, &dev->n_members, "u0"), 0);
    if (n > 1)
        assert_int_equal(cs_fleet_strv_add(&d->users[1].groups, &d->users[1].n_groups, "dev"), 0);
    return d;
}

static __attribute__((noinline)) char *sign_dir(cs_directory *d, uint64_t serial, int64_t expires_in,
                                                const uint8_t *key, size_t *len)
{
    char *signed_out = NULL;
    int r;

    d->serial = serial;
    d->issued = (int64_t)time(NULL);
    d->expires = d->issued + expires_in;
    r = cs_fleet_sign(d, key, &signed_out, len);
    assert_int_equal(r, 0);
    return signed_out;
}

static void publish_raw(const char *data, size_t len)
{
    char name[600];

    snprintf(name, sizeof(name), "%s/store/fleet", dir);
    assert_int_equal(cs_mkdir_p(name, 0700), 0);
    strcat(name, "/directory");
    assert_int_equal(cs_write_file_atomic(name, data, len, 0600), 0);
}

static void publish(cs_directory *d, uint64_t serial, int64_t expires_in)
{
    size_t len;
    char *s = sign_dir(d, serial, expires_in, sk, &len);

    publish_raw(s, len);
    free(s);
}

static int do_sync(void)
{
    cs_fleet_sync_result res;

    return cs_fleet_sync(cfg, NULL, true, &res);
}

static void read_cache(cs_buf *b)
{
    b->len = 0;
    assert_int_equal(cs_read_file(P("directory.cache"), 1 << 26, b), 0);
}

/* ---- tests ---- */

/* The envelope's header line keeps the bytes signers have always written:
 * no "\/" in the base64 of the key or the signature, no spaces. */
static void test_envelope_header_bytes(void **state)
{
    cs_directory *d = make_dir(1);
    char pk_b64[48], want[300], *out = NULL;
    bool slash = false;

    (void)state;
    cs_fleet_encode_key(sk + 32, pk_b64);
    /* a few serials, until a signature has a '/' (each does with ~3/4) */
    for (uint64_t serial = 1; serial < 40 && !slash; serial++) {
        size_t len, hlen;
        const char *sig, *nl;

        out = sign_dir(d, serial, 3600, sk, &len);
        nl = memchr(out, '\n', len);
        sig = strstr(out, "\"signature\":\"");
        assert_non_null(nl);
        assert_non_null(sig);
        hlen = (size_t)(nl - out) + 1;
        snprintf(want, sizeof(want),
                 "{\"format\":\"cloudseal-signed-directory\",\"version\":1,\"key\":\"%s\",\"signature\":\"%.88s\","
                 "\"body_bytes\":%zu}\n", pk_b64, sig + 13, len - hlen);
        assert_int_equal(hlen, strlen(want));
        assert_memory_equal(out, want, hlen);
        slash = memchr(sig, '/', 13 + 88) != NULL;
        free(out);
    }
    assert_true(slash);
    cs_directory_free(d);
}

static void test_json_roundtrip(void **state)
{
    cs_directory *d = make_dir(3), *back = NULL;
    cs_fleet_err err = { "" };
    char *json = NULL, *again = NULL;
    size_t len, len2;

    d->issued = 1;
    d->expires = 2;
    d->serial = 9;
    d->users[2].disabled = true;
    assert_int_equal(cs_directory_to_json(d, CS_DIR_BODY, &json, &len), 0);
    assert_int_equal(cs_directory_from_json(json, len, CS_DIR_BODY, &back, &err), 0);
    assert_int_equal(back->n_users, 3);
    assert_true(back->users[2].disabled);
    assert_memory_equal(back->users[1].key, d->users[1].key, 32);
    assert_int_equal(cs_directory_to_json(back, CS_DIR_BODY, &again, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(json, again, len);
    /* a source is not a body, and unknown fields are refused */
    cs_directory_free(back);
    back = NULL;
    assert_int_equal(cs_directory_from_json(json, len, CS_DIR_SOURCE, &back, &err), -EBADMSG);
    const char *typo = "{\"format\":\"cloudseal-directory-source\",\"users\":[{\"name\":\"a\",\"uid\":5,"
                       "\"gid\":5,\"shel\":\"/bin/sh\"}],\"groups\":[]}";
    assert_int_equal(cs_directory_from_json(typo, strlen(typo), CS_DIR_SOURCE, &back, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "shel"));
    free(json);
    free(again);
    cs_directory_free(d);
}

static void test_signature(void **state)
{
    cs_directory *d = make_dir(2), *out = NULL;
    cs_fleet_err err = { "" };
    size_t len;
    char *s = sign_dir(d, 1, 3600, sk, &len);
    char *body;

    assert_int_equal(cs_fleet_open_signed((uint8_t *)s, len, pk, &out, &err), 0);
    cs_directory_free(out);
    out = NULL;
    /* another fleet's key */
    assert_int_equal(cs_fleet_open_signed((uint8_t *)s, len, other_pk, &out, &err), -EKEYREJECTED);
    /* one changed digit in the body: u1's uid 1000001 -> 1000000 */
    body = strstr(strchr(s, '\n'), "1000001");
    assert_non_null(body);
    body[6] = '0';
    assert_int_equal(cs_fleet_open_signed((uint8_t *)s, len, pk, &out, &err), -EKEYREJECTED);
    assert_null(out);
    free(s);
    cs_directory_free(d);
}

static void test_truncated_and_oversized(void **state)
{
    cs_directory *d = make_dir(2), *out = NULL;
    cs_fleet_err err;
    size_t len;
    char *s = sign_dir(d, 1, 3600, sk, &len);
    char *big;

    for (size_t cut = 0; cut < len - 2; cut += 7) {
        assert_true(cs_fleet_open_signed((uint8_t *)s, cut, pk, &out, &err) < 0);
        assert_null(out);
    }
    big = calloc(1, CS_FLEET_MAX_SIGNED + 2);
    memset(big, ' ', CS_FLEET_MAX_SIGNED + 1);
    assert_int_equal(cs_fleet_open_signed((uint8_t *)big, CS_FLEET_MAX_SIGNED + 1, pk, &out, &err), -EBADMSG);
    free(big);
    free(s);
    cs_directory_free(d);
}

/* A refused source names the entry and the member, whatever the fault. */
static void test_source_names_the_field(void **state)
{
#define SRC(users) "{\"format\":\"cloudseal-directory-source\",\"users\":[" users "],\"groups\":[]}"
    static const struct {
        const char *json, *msg;
    } cases[] = {
        { SRC("{\"name\":\"a\",\"uid\":\"5\"}"), "user 'a': field 'uid' is not an integer" },
        { SRC("{\"name\":\"a\",\"uid\":4294967296}"), "user 'a': field 'uid' is out of range" },
        { SRC("{\"name\":\"a\"}"), "user 'a': field 'uid' missing" },
        { SRC("{\"uid\":5}"), "user #1: field 'name' missing" },
        { SRC("{\"name\":\"a\",\"uid\":5,\"groups\":[1]}"), "user 'a': field 'groups' is not a string" },
        { SRC("{\"name\":\"a\",\"uid\":5,\"keybag\":{\"generation\":0}}"),
          "user 'a': keybag: field 'generation' is out of range" },
        { SRC("{\"name\":\"a\",\"uid\":5,\"account_key\":\"xyz\"}"),
          "user 'a': field 'account_key' must be a 32-byte key in base64" },
        { "{\"format\":\"cloudseal-directory-source\",\"users\":[]}", "field 'groups' missing" },
        { "{\"format\":\"cloudseal-directory-source\",\"serial\":-1,\"users\":[],\"groups\":[]}",
          "field 'serial' is out of range" },
    };
#undef SRC
    cs_directory *back = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cs_fleet_err err = { "" };

        assert_int_equal(cs_directory_from_json(cases[i].json, strlen(cases[i].json), CS_DIR_SOURCE, &back, &err),
                         -EBADMSG);
        assert_null(back);
        if (strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("%s: '%s', not '%s'", cases[i].json, err.msg, cases[i].msg);
    }
}

/* A tampered header line is refused with the member it got wrong named. */
static void test_header_names_the_field(void **state)
{
    static const struct {
        const char *from, *to, *msg;
    } cases[] = {
        { "\"signature\":\"", "\"signature\":\"!", "field 'signature' is not base64 of 64 bytes" },
        { "\"body_bytes\":", "\"body_bytes\":-", "field 'body_bytes' is out of range" },
        { "\"format\":\"cloudseal-", "\"format\":\"Cloudseal-", "field 'format' is not" },
        { "\"format\"", "\"formal\"", "field 'format' missing" },
    };
    cs_directory *d = make_dir(2), *out = NULL;
    size_t len;
    char *s = sign_dir(d, 1, 3600, sk, &len);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cs_fleet_err err = { "" };
        char *t = calloc(1, len + 2), *at = strstr(s, cases[i].from);
        size_t pre = (size_t)(at - s), tl = strlen(cases[i].to), fl = strlen(cases[i].from);

        assert_non_null(at);
        memcpy(t, s, pre);
        memcpy(t + pre, cases[i].to, tl);
        memcpy(t + pre + tl, at + fl, len - pre - fl);
        assert_int_equal(cs_fleet_open_signed((uint8_t *)t, len - fl + tl, pk, &out, &err), -EBADMSG);
        assert_null(out);
        assert_non_null(strstr(err.msg, "the signed directory's header: "));
        assert_non_null(strstr(err.msg, cases[i].msg));
        free(t);
    }
    free(s);
    cs_directory_free(d);
}

/* One refused directory: sync fails and the installed cache is untouched. */
static void expect_refused(cs_directory *d, uint64_t serial, int64_t expires_in, int want)
{
    cs_buf before = CS_BUF_INIT, after = CS_BUF_INIT;

    read_cache(&before);
    publish(d, serial, expires_in);
    assert_int_equal(do_sync(), want);
    read_cache(&after);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    cs_buf_free(&before);
    cs_buf_free(&after);
}

static void test_sync_and_refusals(void **state)
{
    cs_directory *d = make_dir(4);
    cs_fleet_sync_result res;
    cs_dircache dc;
    int i;

    publish(d, 5, 3600);
    assert_int_equal(cs_fleet_sync(cfg, NULL, false, &res), 0);
    assert_true(res.changed);
    assert_int_equal(res.serial, 5);
    assert_int_equal(cs_dircache_map(P("directory.cache"), &dc, NULL), 0);
    assert_int_equal(dc.h->n_users, 4);
    i = cs_dircache_user_by_name(&dc, "u1");
    assert_int_equal(dc.users[i].uid, 1000001);
    cs_dircache_unmap(&dc);
    /* unchanged ETag: nothing fetched, nothing changed */
    assert_int_equal(cs_fleet_sync(cfg, NULL, false, &res), 0);
    assert_false(res.changed);

    expect_refused(d, 4, 3600, -ESTALE);             /* rolled back */
    expect_refused(d, 6, -10, -EKEYEXPIRED);         /* expired */
    d->users[0].uid = 0;
    expect_refused(d, 7, 3600, -EINVAL);             /* uid 0 */
    d->users[0].uid = 2500000;
    expect_refused(d, 7, 3600, -EINVAL);             /* out of range */
    d->users[0].uid = 1000001;
    expect_refused(d, 7, 3600, -EINVAL);             /* duplicate uid */
    d->users[0].uid = 1000000;
    free(d->users[0].name);
    d->users[0].name = strdup("u1");
    expect_refused(d, 7, 3600, -EINVAL);             /* duplicate name */
    free(d->users[0].name);
    d->users[0].name = strdup("local");
    expect_refused(d, 7, 3600, -EINVAL);             /* local account's name */
    free(d->users[0].name);
    d->users[0].name = strdup("u0");
    d->users[0].uid = 1000500;
    expect_refused(d, 7, 3600, -EINVAL);             /* local account's uid */
    d->users[0].uid = 1000000;
    d->groups[d->n_groups - 1].gid = 1000600;
    expect_refused(d, 7, 3600, -EINVAL);             /* local group's gid */
    d->groups[d->n_groups - 1].gid = 0;
    expect_refused(d, 7, 3600, -EINVAL);             /* gid 0 */
    d->groups[d->n_groups - 1].gid = 1100000;

    /* signed by another key; then garbage */
    {
        cs_buf before = CS_BUF_INIT, after = CS_BUF_INIT;
        size_t len;
        char *s = sign_dir(d, 8, 3600, other_sk, &len);

        read_cache(&before);
        publish_raw(s, len);
        assert_int_equal(do_sync(), -EKEYREJECTED);
        publish_raw("{\"format\":", 10);
        assert_int_equal(do_sync(), -EBADMSG);
        read_cache(&after);
        assert_memory_equal(before.data, after.data, before.len);
        free(s);
        cs_buf_free(&before);
        cs_buf_free(&after);
    }
    /* and a good one is accepted again */
    publish(d, 9, 3600);
    assert_int_equal(do_sync(), 0);
    cs_directory_free(d);
}

static void test_rollback_pin_survives_cache_loss(void **state)
{
    cs_directory *d = make_dir(1);

    publish(d, 20, 3600);
    assert_int_equal(do_sync(), 0);
    unlink(P("directory.cache")); /* the state file still pins 20 */
    publish(d, 19, 3600);
    assert_int_equal(do_sync(), -ESTALE);
    assert_int_equal(access(P("directory.cache"), F_OK), -1);
    publish(d, 20, 3600);
    assert_int_equal(do_sync(), 0);
    cs_directory_free(d);
}

/* The agent's view of the pin: the report key of the published directory,
 * accepted as directory-sync would. */
static int report_key(void)
{
    uint8_t rpk[CS_FLEET_ESCROW_PK_BYTES];
    cs_storage *st = NULL;
    int r;

    assert_int_equal(cs_storage_open_config(cfg, NULL, &st), 0);
    r = cs_fleet_report_key(cfg, st, rpk);
    cs_storage_close(st);
    return r;
}

/* A damaged state file: the pin falls back to the installed cache's serial,
 * and with no cache either nothing is accepted; never serial 0. */
static void damage_state(int how)
{
    static const char *const text[] = { "{\"serial\":2", "\x01garbage", "{\"serial\":\"20\"}" };

    unlink(P("directory.state"));
    rmdir(P("directory.state"));
    if (how < 3)
        write_text("directory.state", text[how]);
    else
        assert_int_equal(mkdir(P("directory.state"), 0755), 0); /* unreadable: EISDIR, even for root */
}

static void test_damaged_state_keeps_the_pin(void **state)
{
    cs_directory *d = make_dir(1);

    d->has_report = true;
    memset(d->report_pk, 7, sizeof(d->report_pk));
    for (int how = 0; how < 4; how++) {
        unlink(P("directory.cache"));
        unlink(P("directory.state"));
        rmdir(P("directory.state"));
        publish(d, 20, 3600);
        assert_int_equal(do_sync(), 0);
        assert_int_equal(report_key(), 0);
        damage_state(how); /* truncated, corrupt, wrong type, unreadable */
        publish(d, 19, 3600);
        assert_int_equal(do_sync(), -ESTALE);  /* the cache's serial pins 20 */
        assert_int_equal(report_key(), -ESTALE);
        unlink(P("directory.cache")); /* nothing left to prove a serial: refuse all */
        assert_int_equal(do_sync() < 0, 1);
        assert_int_equal(access(P("directory.cache"), F_OK), -1);
        assert_int_equal(report_key() < 0, 1);
    }
    /* a missing state on a machine with no cache: never synced, serial 0 */
    rmdir(P("directory.state"));
    assert_int_equal(do_sync(), 0);
    cs_directory_free(d);
}

static void test_check_pinned(void **state)
{
    cs_directory *d = make_dir(3);
    uint8_t key[32];

    d->users[1].disabled = true;
    d->users[2].has_key = false;
    publish(d, 100, 3600);
    assert_int_equal(do_sync(), 0);
    memset(key, 1, 32);
    assert_int_equal(cs_fleet_check_pinned(cfg, "u0", key), 0);
    key[31] ^= 1;
    assert_int_equal(cs_fleet_check_pinned(cfg, "u0", key), -EKEYREJECTED);
    memset(key, 2, 32);
    assert_int_equal(cs_fleet_check_pinned(cfg, "u1", key), -EPERM);
    assert_int_equal(cs_fleet_check_pinned(cfg, "u2", key), -ENOKEY);
    assert_int_equal(cs_fleet_check_pinned(cfg, "nobody", key), -ENOENT);
    assert_int_equal(cs_fleet_escrow_key(cfg, key), -ENOENT);
    d->has_escrow = true;
    memset(d->escrow_pk, 0x5a, 32);
    publish(d, 100, 3600);
    assert_int_equal(do_sync(), 0);
    assert_int_equal(cs_fleet_escrow_key(cfg, key), 0);
    assert_int_equal(key[31], 0x5a);
    cs_directory_free(d);

    /* from an AMK: the key its account keypair derives is the pinned one */
    {
        cs_amk *amk = NULL, *other = NULL;

        d = make_dir(1);
        assert_int_equal(cs_amk_generate(&amk), 0);
        assert_int_equal(cs_amk_generate(&other), 0);
        assert_int_equal(cs_amk_account_pubkey(amk, d->users[0].key), 0);
        publish(d, 101, 3600);
        assert_int_equal(do_sync(), 0);
        assert_int_equal(cs_fleet_check_amk(cfg, "u0", amk), 0);
        assert_int_equal(cs_fleet_check_amk(cfg, "u0", other), -EKEYREJECTED);
        /* an expired directory refuses logins: a cache compiled from one
         * that expired an hour ago (a sync refuses to install it, so no
         * clock-second race between signing and syncing decides this) */
        {
            cs_buf img = CS_BUF_INIT;

            d->issued = (int64_t)time(NULL) - 7200;
            d->expires = d->issued + 3600;
            assert_int_equal(cs_fleet_compile_cache(d, d->issued, &img), 0);
            assert_int_equal(cs_fleet_install_cache(P("directory.cache"), &img), 0);
            cs_buf_free(&img);
        }
        assert_int_equal(cs_fleet_check_amk(cfg, "u0", amk), -EKEYEXPIRED);
        cs_amk_free(amk);
        cs_amk_free(other);
        cs_directory_free(d);
    }
}

static void test_cache_reader(void **state)
{
    cs_directory *d = make_dir(50);
    cs_buf img = CS_BUF_INIT;
    cs_dircache dc;
    uint8_t *copy;
    int u, g;

    assert_int_equal(cs_fleet_compile_cache(d, 1, &img), 0);
    assert_int_equal(cs_dircache_parse(img.data, img.len, &dc), 0);
    /* memberships: u0 via dev's members, u1 via its own groups list */
    u = cs_dircache_user_by_name(&dc, "u1");
    assert_int_equal(dc.users[u].n_gids, 1);
    assert_int_equal(dc.u32s[dc.users[u].gids], 1100000);
    g = cs_dircache_group_by_gid(&dc, 1100000);
    assert_int_equal(dc.groups[g].n_members, 2);
    assert_int_equal(cs_dircache_user_by_uid(&dc, 1000049), 49);
    assert_int_equal(cs_dircache_user_by_uid(&dc, 4242), -ENOENT);
    assert_int_equal(cs_dircache_group_by_name(&dc, "nope"), -ENOENT);
    /* every truncation and every single-byte change is detected */
    copy = aligned_alloc(8, (img.len + 7) & ~(size_t)7);
    for (size_t cut = 0; cut < img.len; cut += 13)
        assert_int_equal(cs_dircache_parse(img.data, cut, &dc), -EBADMSG);
    for (size_t i = 0; i < img.len; i += 5) {
        memcpy(copy, img.data, img.len);
        copy[i] ^= 0x40;
        assert_int_not_equal(cs_dircache_parse(copy, img.len, &dc), 0);
    }
    free(copy);
    cs_buf_free(&img);
    cs_directory_free(d);
}

static void test_private_groups(void **state)
{
    const char *src = "{\"format\":\"cloudseal-directory-source\",\"users\":["
                      "{\"name\":\"pat\",\"uid\":1000010,\"groups\":[\"ops\"]},"
                      "{\"name\":\"quinn\",\"uid\":1000011,\"gid\":1000020}],"
                      "\"groups\":[{\"name\":\"ops\",\"gid\":1000020,\"members\":[]}]}";
    cs_fleet_policy p = { 1000000, 1999999, NULL };
    cs_directory *d = NULL;
    cs_fleet_err err;
    cs_buf img = CS_BUF_INIT;
    cs_dircache dc;
    cs_fleet_group *g;
    int i;

    assert_int_equal(cs_directory_from_json(src, strlen(src), CS_DIR_SOURCE, &d, &err), 0);
    assert_true(d->users[0].private_group);
    assert_int_equal(d->users[0].gid, 1000010);
    assert_false(d->users[1].private_group);
    assert_int_equal(cs_directory_validate(d, &p, &err), 0);
    assert_int_equal(cs_fleet_compile_cache(d, 1, &img), 0);
    assert_int_equal(cs_dircache_parse(img.data, img.len, &dc), 0);
    assert_int_equal(dc.h->n_groups, 2);
    i = cs_dircache_group_by_name(&dc, "pat");
    assert_int_equal(dc.groups[i].gid, 1000010);
    i = cs_dircache_group_by_gid(&dc, 1000020);
    assert_int_equal(dc.groups[i].n_members, 1); /* pat by its groups list; quinn only has it as primary */
    cs_buf_free(&img);
    /* a private group clashes with an explicit group of the same name, or gid */
    assert_int_equal(cs_directory_add_group(d, "pat", &g), 0);
    g->gid = 1000030;
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL);
    g->name[0] = 'x';
    g->gid = 1000010;
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL);
    cs_directory_free(d);
}

static void test_allocate_id(void **state)
{
    cs_directory *a, *b;
    uint32_t x, y, z;

    assert_int_equal(cs_directory_new(&a), 0);
    assert_int_equal(cs_directory_new(&b), 0);
    assert_int_equal(cs_directory_allocate_id(a, "alice", &x), 0);
    assert_int_equal(cs_directory_allocate_id(b, "alice", &y), 0);
    assert_int_equal(x, y); /* same on every admin machine */
    assert_true(x >= a->id_min && x <= a->id_max);
    /* taken ids are skipped */
    cs_fleet_user *u;
    assert_int_equal(cs_directory_add_user(a, "someone", &u), 0);
    u->uid = x;
    assert_int_equal(cs_directory_allocate_id(a, "alice", &z), 0);
    assert_int_not_equal(z, x);
    /* a full range */
    b->id_min = b->id_max = x;
    assert_int_equal(cs_directory_add_user(b, "x", &u), 0);
    u->uid = x;
    assert_int_equal(cs_directory_allocate_id(b, "y", &z), -ENOSPC);
    cs_directory_free(a);
    cs_directory_free(b);
}

static void test_validate_names_and_fields(void **state)
{
    cs_directory *d = make_dir(2);
    cs_fleet_policy p = { 1000000, 1999999, NULL };
    cs_fleet_err err;

    assert_int_equal(cs_directory_validate(d, &p, &err), 0);
    free(d->users[0].gecos);
    d->users[0].gecos = strdup("evil:0:0");
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL);
    free(d->users[0].gecos);
    d->users[0].gecos = strdup("ok");
    free(d->users[1].shell);
    d->users[1].shell = strdup("bin/sh");
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL);
    free(d->users[1].shell);
    d->users[1].shell = strdup("/bin/sh");
    assert_int_equal(cs_fleet_strv_add(&d->groups[0].members, &d->groups[0].n_members, "ghost"), 0);
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "ghost"));
    assert_false(cs_user_name_valid("Root", CS_USER_NAME_FLEET));
    assert_false(cs_user_name_valid("a:b", CS_USER_NAME_FLEET));
    assert_false(cs_user_name_valid("-x", CS_USER_NAME_FLEET));
    assert_true(cs_user_name_valid("_svc.x-1", CS_USER_NAME_FLEET));
    cs_directory_free(d);
}

/* Local accounts after a line longer than the reader's buffer (a group of
 * thousands of members, a long GECOS) are still in the collision check:
 * the reader used to stop at such a line without a word. */
static void test_local_accounts_after_long_lines(void **state)
{
    cs_directory *d = make_dir(2);
    cs_fleet_policy p = { 1000000, 1999999, NULL };
    cs_local_accounts *l;
    cs_fleet_err err;
    char pw[600];
    FILE *f;

    (void)state;
    assert_non_null(f = fopen(P("passwd-long"), "w"));
    fprintf(f, "root:x:0:0:root:/root:/bin/sh\nwide:x:1000700:1000700:");
    for (int i = 0; i < 6000; i++)
        fputc('g', f);
    fprintf(f, ":/home/wide:/bin/sh\nlate:x:1000501:1000501::/home/late:/bin/sh\n");
    fclose(f);
    assert_non_null(f = fopen(P("group-long"), "w"));
    fprintf(f, "root:x:0:\nbig:x:1000800:m0");
    for (int i = 1; i < 5000; i++)
        fprintf(f, ",member%d", i);
    fprintf(f, "\nlategrp:x:1000601:\n");
    fclose(f);
    snprintf(pw, sizeof(pw), "%s", P("passwd-long")); /* P() returns one buffer */
    assert_int_equal(cs_local_accounts_load(pw, P("group-long"), &l), 0);
    p.local = l;
    assert_int_equal(cs_directory_validate(d, &p, &err), 0);
    free(d->users[0].name);
    d->users[0].name = strdup("late");
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL); /* name after the long line */
    free(d->users[0].name);
    d->users[0].name = strdup("u0");
    d->users[0].uid = 1000501;
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL); /* uid after it */
    d->users[0].uid = 1000000;
    d->groups[d->n_groups - 1].gid = 1000601;
    assert_int_equal(cs_directory_validate(d, &p, &err), -EINVAL); /* gid after the big group */
    assert_non_null(strstr(err.msg, "local"));
    cs_local_accounts_free(l);
    cs_directory_free(d);
}

/* The directory's keybag floor: strict in JSON, through signing, sync and
 * the compiled cache to cs_fleet_pinned; a directory without it is fine. */
static void test_keybag_floor(void **state)
{
    cs_directory *d = make_dir(3), *back = NULL;
    cs_fleet_err err = { "" };
    cs_fleet_pin pin;
    char *json = NULL;
    size_t len = 0;
    static const char *bad[] = {
        "{\"generation\":0,\"sha256\":\"ERERERERERERERERERERERERERERERERERERERERERE=\"}",
        "{\"generation\":9007199254740993,\"sha256\":\"ERERERERERERERERERERERERERERERERERERERERERE=\"}",
        "{\"generation\":\"1\",\"sha256\":\"ERERERERERERERERERERERERERERERERERERERERERE=\"}",
        "{\"generation\":1,\"sha256\":\"c2hvcnQ=\"}",
        "{\"generation\":1}",
        "{\"sha256\":\"ERERERERERERERERERERERERERERERERERERERERERE=\"}",
        "{\"generation\":1,\"sha256\":\"ERERERERERERERERERERERERERERERERERERERERERE=\",\"x\":1}",
        "[1]",
        "7",
    };

    d->users[0].keybag_generation = UINT64_C(1) << 53;
    memset(d->users[0].keybag_sha256, 0x11, 32);
    d->users[2].keybag_generation = 2;
    memset(d->users[2].keybag_sha256, 0x22, 32);
    assert_int_equal(cs_directory_to_json(d, CS_DIR_SOURCE, &json, &len), 0);
    assert_non_null(strstr(json, "\"keybag\""));
    assert_int_equal(cs_directory_from_json(json, len, CS_DIR_SOURCE, &back, &err), 0);
    assert_true(back->users[0].keybag_generation == UINT64_C(1) << 53);
    assert_memory_equal(back->users[0].keybag_sha256, d->users[0].keybag_sha256, 32);
    assert_int_equal(back->users[1].keybag_generation, 0);
    cs_directory_free(back);
    back = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_object *o = json_tokener_parse(json), *users, *u;
        const char *t;

        assert_true(json_object_object_get_ex(o, "users", &users));
        u = json_object_array_get_idx(users, 1);
        json_object_object_add(u, "keybag", json_tokener_parse(bad[i]));
        t = json_object_to_json_string(o);
        err.msg[0] = '\0';
        if (cs_directory_from_json(t, strlen(t), CS_DIR_SOURCE, &back, &err) != -EBADMSG)
            fail_msg("%s: %s", bad[i], err.msg);
        assert_non_null(strstr(err.msg, "u1"));
        assert_non_null(strstr(err.msg, "keybag"));
        json_object_put(o);
    }
    free(json);

    /* "one_time" is the source's note for the admin, never signed */
    d->users[2].keybag_one_time = 1790000000;
    assert_int_equal(cs_directory_to_json(d, CS_DIR_SOURCE, &json, &len), 0);
    assert_non_null(strstr(json, "\"one_time\": 1790000000"));
    assert_int_equal(cs_directory_from_json(json, len, CS_DIR_SOURCE, &back, &err), 0);
    assert_int_equal(back->users[2].keybag_one_time, 1790000000);
    cs_directory_free(back);
    back = NULL;
    free(json);
    d->serial = 1;
    d->issued = 1;
    d->expires = 2;
    assert_int_equal(cs_directory_to_json(d, CS_DIR_BODY, &json, &len), 0);
    assert_null(strstr(json, "one_time"));
    free(json);
    {
        static const char body[] = "{\"format\":\"cloudseal-directory\",\"version\":1,\"serial\":1,\"issued\":1,"
                                   "\"expires\":2,\"users\":[{\"name\":\"u9\",\"uid\":1000009,\"keybag\":"
                                   "{\"generation\":1,\"sha256\":\"ERERERERERERERERERERERERERERERERERERERERERE=\","
                                   "\"one_time\":5}}]}";
        assert_int_equal(cs_directory_from_json(body, strlen(body), CS_DIR_BODY, &back, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "keybag: unknown field 'one_time'"));
    }

    publish(d, 200, 3600);
    assert_int_equal(do_sync(), 0);
    assert_int_equal(cs_fleet_pinned(cfg, "u0", &pin), 0);
    assert_true(pin.keybag_generation == UINT64_C(1) << 53);
    assert_memory_equal(pin.keybag_sha256, d->users[0].keybag_sha256, 32);
    assert_int_equal(pin.key[0], 1);
    assert_int_equal(cs_fleet_pinned(cfg, "u1", &pin), 0);
    assert_int_equal(pin.keybag_generation, 0);
    assert_int_equal(cs_fleet_pinned(cfg, "u2", &pin), 0);
    assert_int_equal(pin.keybag_generation, 2);
    assert_int_equal(pin.keybag_sha256[31], 0x22);
    cs_directory_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_envelope_header_bytes),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_truncated_and_oversized),
        cmocka_unit_test(test_header_names_the_field),
        cmocka_unit_test(test_source_names_the_field),
        cmocka_unit_test(test_sync_and_refusals),
        cmocka_unit_test(test_rollback_pin_survives_cache_loss),
        cmocka_unit_test(test_damaged_state_keeps_the_pin),
        cmocka_unit_test(test_check_pinned),
        cmocka_unit_test(test_keybag_floor),
        cmocka_unit_test(test_cache_reader),
        cmocka_unit_test(test_private_groups),
        cmocka_unit_test(test_allocate_id),
        cmocka_unit_test(test_validate_names_and_fields),
        cmocka_unit_test(test_local_accounts_after_long_lines),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
