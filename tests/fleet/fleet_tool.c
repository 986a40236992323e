/* SPDX-License-Identifier: MIT */
/* fleet-tool: test and benchmark helper for the fleet directory.
 * Not installed.  It can sign anything (no validation), which is how the
 * tests craft the hostile directories that workstations must refuse.
 *
 *   fleet-tool gen-source OUT N            N users (u1..uN) with private groups,
 *                                          every 10th user also in "fleetstaff"
 *   fleet-tool sign SOURCE SECRET_KEY OUT SERIAL EXPIRES_IN_SECONDS
 *   fleet-tool mkcache SOURCE OUT          compile SOURCE straight to a cache
 *   fleet-tool mkfiles SOURCE PASSWD GROUP the same entries as passwd(5)/group(5)
 *   fleet-tool sync CONFIG                 one cs_fleet_sync, prints its wall time
 *   fleet-tool account-key AMK_HEX         the account public key (base64) of that AMK
 *   fleet-tool report OUT REPORT_PUB AMK_HEX USER HOST_ID HOST SEQ TIME LAST_BACKUP ERROR
 *                                          a health report signed with that AMK's account
 *                                          key (docs/reports.md): genuine, forged or old
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "fleet/fleet.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/secmem.h"
#include "crypto/keybag.h"
#include "fleet/report.h"
#include <sodium.h>

static cs_directory *load(const char *path)
{
    cs_directory *d = NULL;
    cs_fleet_err err = { "" };

    if (cs_directory_load_source(path, &d, &err) < 0) {
        fprintf(stderr, "fleet-tool: %s: %s\n", path, err.msg);
        exit(1);
    }
    return d;
}

/* Written as text: building it through cs_directory_add_user would check
 * for duplicates with a linear scan per user. */
static int gen_source(const char *out, long n)
{
    FILE *f = fopen(out, "w");

    if (!f)
        return 1;
    fprintf(f, "{\n\"format\": \"cloudseal-directory-source\", \"version\": 1, \"fleet\": \"bench\",\n"
               "\"serial\": 0, \"id_range\": [1000000, 1999999],\n\"users\": [\n");
    for (long i = 1; i <= n; i++)
        fprintf(f, "{\"name\": \"u%ld\", \"uid\": %ld, \"gecos\": \"Fleet User\", "
                   "\"home\": \"/home/u%ld\", \"shell\": \"/bin/bash\"}%s\n",
                i, 1000000 + i, i, i < n ? "," : "");
    fprintf(f, "],\n\"groups\": [\n{\"name\": \"fleetstaff\", \"gid\": 1999999, \"members\": [");
    for (long i = 10; i <= n; i += 10)
        fprintf(f, "%s\"u%ld\"", i > 10 ? "," : "", i);
    fprintf(f, "]}\n]}\n"); /* users' private groups are implicit (no "gid") */
    return fclose(f) != 0;
}

static int sign(const char *src, const char *key, const char *out, const char *serial, const char *exp)
{
    cs_directory *d = load(src);
    uint8_t *sk = NULL;
    char *json = NULL;
    size_t len;
    int r;

    if (cs_fleet_read_signing_key(key, &sk) < 0) {
        fprintf(stderr, "fleet-tool: cannot read %s\n", key);
        return 1;
    }
    d->serial = strtoull(serial, NULL, 10);
    d->issued = (int64_t)time(NULL);
    d->expires = d->issued + strtoll(exp, NULL, 10);
    r = cs_fleet_sign(d, sk, &json, &len);
    cs_secure_free(sk);
    if (r == 0)
        r = cs_write_file_atomic(out, json, len, 0644);
    free(json);
    cs_directory_free(d);
    return r < 0;
}

static int mkcache(const char *src, const char *out)
{
    cs_directory *d = load(src);
    cs_buf img = CS_BUF_INIT;
    int r;

    d->serial = d->serial ? d->serial : 1;
    d->issued = (int64_t)time(NULL);
    d->expires = d->issued + 86400;
    r = cs_fleet_compile_cache(d, d->issued, &img);
    if (r == 0)
        r = cs_fleet_install_cache(out, &img);
    cs_buf_free(&img);
    cs_directory_free(d);
    if (r < 0)
        fprintf(stderr, "fleet-tool: mkcache: %s\n", strerror(-r));
    return r < 0;
}

static int mkfiles(const char *src, const char *passwd, const char *group)
{
    cs_directory *d = load(src);
    FILE *p = fopen(passwd, "w"), *g = fopen(group, "w");

    if (!p || !g)
        return 1;
    /* what a real /etc/passwd starts with */
    fprintf(p, "root:x:0:0:root:/root:/bin/bash\n");
    fprintf(g, "root:x:0:\n");
    for (size_t i = 0; i < d->n_users; i++) {
        const cs_fleet_user *u = &d->users[i];

        fprintf(p, "%s:x:%u:%u:%s:%s:%s\n", u->name, u->uid, u->gid, u->gecos, u->home, u->shell);
    }
    cs_fleet_group *all;
    size_t n_all;

    if (cs_directory_all_groups(d, &all, &n_all) < 0)
        return 1;
    for (size_t i = 0; i < n_all; i++) {
        const cs_fleet_group *gr = &all[i];

        fprintf(g, "%s:x:%u:", gr->name, gr->gid);
        for (size_t m = 0; m < gr->n_members; m++)
            fprintf(g, "%s%s", m ? "," : "", gr->members[m]);
        fprintf(g, "\n");
    }
    free(all);
    cs_directory_free(d);
    return (fclose(p) | fclose(g)) != 0;
}

static int sync_once(const char *config)
{
    cs_config *cfg = NULL;
    cs_fleet_sync_result res;
    struct timespec a, b;
    int r;

    if (cs_config_load(config, &cfg) < 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &a);
    r = cs_fleet_sync(cfg, NULL, true, &res);
    clock_gettime(CLOCK_MONOTONIC, &b);
    cs_config_free(cfg);
    if (r < 0)
        return 1;
    printf("sync: %zu users, %zu groups, serial %llu in %.3f s\n", res.n_users, res.n_groups,
           (unsigned long long)res.serial, (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}

static cs_amk *amk_hex(const char *hex)
{
    uint8_t raw[CS_KEY_BYTES];
    cs_amk *amk = NULL;
    size_t n = 0;

    if (sodium_hex2bin(raw, sizeof(raw), hex, strlen(hex), NULL, &n, NULL) != 0 || n != sizeof(raw) ||
        cs_amk_from_bytes(raw, sizeof(raw), &amk) < 0)
        return NULL;
    return amk;
}

static int account_key(const char *hex)
{
    cs_amk *amk = amk_hex(hex);
    uint8_t pk[32];
    char b64[48];

    if (!amk || cs_amk_account_pubkey(amk, pk) < 0)
        return 1;
    cs_fleet_encode_key(pk, b64);
    printf("%s\n", b64);
    cs_amk_free(amk);
    return 0;
}

static int make_report(char **a)
{
    cs_report r = { .sequence = strtoull(a[6], NULL, 10), .time = strtoll(a[7], NULL, 10),
                    .last_backup = strtoll(a[8], NULL, 10), .snapshots = 3, .repo_bytes = 4096 };
    cs_buf b = CS_BUF_INIT;
    cs_amk *amk = amk_hex(a[2]);
    uint8_t rpk[32];
    int rc = 1;

    snprintf(r.user, sizeof(r.user), "%s", a[3]);
    snprintf(r.host_id, sizeof(r.host_id), "%s", a[4]);
    snprintf(r.host, sizeof(r.host), "%s", a[5]);
    snprintf(r.agent_version, sizeof(r.agent_version), "%s", CS_VERSION);
    r.last_error = cs_report_error_from_name(a[9]);
    r.last_error_time = r.last_error == CS_REPORT_ERR_NONE ? 0 : r.time;
    if (amk && cs_fleet_read_pubkey(a[1], rpk) == 0 && cs_report_seal(&r, amk, rpk, &b) == 0 &&
        cs_write_file_atomic(a[0], b.data, b.len, 0644) == 0)
        rc = 0;
    cs_buf_free(&b);
    if (amk)
        cs_amk_free(amk);
    return rc;
}

int main(int argc, char **argv)
{
    if (cs_crypto_init() < 0)
        return 1;
    cs_log_setup("fleet-tool", LOG_WARNING);
    if (argc == 4 && strcmp(argv[1], "gen-source") == 0)
        return gen_source(argv[2], strtol(argv[3], NULL, 10));
    if (argc == 7 && strcmp(argv[1], "sign") == 0)
        return sign(argv[2], argv[3], argv[4], argv[5], argv[6]);
    if (argc == 4 && strcmp(argv[1], "mkcache") == 0)
        return mkcache(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "mkfiles") == 0)
        return mkfiles(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "sync") == 0)
        return sync_once(argv[2]);
    if (argc == 3 && strcmp(argv[1], "account-key") == 0)
        return account_key(argv[2]);
    if (argc == 12 && strcmp(argv[1], "report") == 0)
        return make_report(argv + 2);
    fprintf(stderr, "usage: see the comment at the top of tests/fleet/fleet_tool.c\n");
    return 2;
}
