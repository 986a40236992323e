/* SPDX-License-Identifier: MIT */
/* cloudseal admin keygen | init | approve | verify: the fleet's keys, a new
 * directory source, pinning users' account keys, checking a signed file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "fleet/enroll_request.h"
#include "storage/storage_s3.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secmem.h"
#include "util/parse.h"

/* ---- keygen ---- */

static int write_keypair(const char *secret_path, const char *public_path, const uint8_t *secret32,
                         const uint8_t *pk, const char *what)
{
    char comment[128];
    int r;

    snprintf(comment, sizeof(comment), "cloudseal %s secret key", what);
    r = cs_fleet_write_secret(secret_path, secret32, comment);
    if (r == -EEXIST) {
        log_error("%s exists: refusing to overwrite a key (move it away first)", secret_path);
        return CLI_FAILED;
    }
    if (r < 0) {
        log_error_errno(r, "cannot write %s", secret_path);
        return CLI_FAILED;
    }
    snprintf(comment, sizeof(comment), "cloudseal %s public key", what);
    r = cs_fleet_write_pubkey(public_path, pk, comment);
    if (r < 0) {
        log_error_errno(r, "cannot write %s", public_path);
        return CLI_FAILED;
    }
    return CLI_OK;
}

int admin_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        { "secret", required_argument, NULL, 's' },
        { "public", required_argument, NULL, 'p' },
        { "escrow", no_argument, NULL, 'e' },
        { "escrow-secret", required_argument, NULL, 'S' },
        { "escrow-public", required_argument, NULL, 'P' },
        { "report", no_argument, NULL, 'r' },
        {}
    };
    const char *sec = "fleet.key", *pub = "fleet.pub", *esec = "escrow.key", *epub = "escrow.pub";
    bool escrow = false, report = false;
    uint8_t pk[32], epk[32];
    char b64[48];
    uint8_t *seed = NULL, *sk = NULL;
    int c, r;

    while ((c = cli_getopt(argc, argv, "s:p:eS:P:r", opts)) != -1) {
        switch (c) {
        case 's': sec = optarg; break;
        case 'p': pub = optarg; break;
        case 'e': escrow = true; break;
        case 'S': esec = optarg; escrow = true; break;
        case 'P': epub = optarg; escrow = true; break;
        case 'r': report = true; break;
        default: return cli_opt_exit(c);
        }
    }
    seed = cs_secure_alloc(32);
    sk = cs_secure_alloc(64);
    r = CLI_FAILED;
    if (!seed || !sk)
        goto out;
    randombytes_buf(seed, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    r = write_keypair(sec, pub, seed, pk, "fleet signing");
    if (r != CLI_OK)
        goto out;
    cs_fleet_encode_key(pk, b64);
    printf("fleet public key: %s\n  written to %s; install it as /etc/cloudseal/fleet.pub on every "
           "workstation\n  secret key in %s (0600): keep it offline\n", b64, pub, sec);
    if (escrow) {
        crypto_box_keypair(epk, seed); /* seed's buffer is reused for the X25519 secret */
        r = write_keypair(esec, epub, seed, epk, "fleet escrow");
        if (r != CLI_OK)
            goto out;
        cs_fleet_encode_key(epk, b64);
        printf("escrow public key: %s\n  written to %s; add it with 'cloudseal admin init "
               "--escrow-key %s'\n  escrow secret key in %s (0600): keep it offline\n", b64, epub, b64, esec);
    }
    if (report) {
        crypto_box_keypair(epk, seed);
        r = write_keypair("report.key", "report.pub", seed, epk, "fleet report");
        if (r != CLI_OK)
            goto out;
        cs_fleet_encode_key(epk, b64);
        printf("report public key: %s\n  written to report.pub; add it with 'cloudseal admin init "
               "--report-key %s'\n  report secret key in report.key (0600): 'cloudseal admin report "
               "--report-secret report.key' reads the fleet's health reports with it\n", b64, b64);
    }
out:
    cs_secure_free(seed);
    cs_secure_free(sk);
    return r;
}

/* ---- init ---- */

static int parse_range(const char *s, uint32_t *lo, uint32_t *hi)
{
    unsigned long long a, b;
    char tail;

    if (sscanf(s, "%llu-%llu%c", &a, &b, &tail) != 2 || a == 0 || b < a || b >= UINT32_MAX)
        return -EINVAL;
    *lo = (uint32_t)a;
    *hi = (uint32_t)b;
    return 0;
}

int admin_init(int argc, char **argv)
{
    static const struct option opts[] = {
        { "fleet", required_argument, NULL, 'f' },
        { "id-range", required_argument, NULL, 'r' },
        { "escrow-key", required_argument, NULL, 'e' },
        { "report-key", required_argument, NULL, 'R' },
        {}
    };
    _cleanup_directory_ cs_directory *d = NULL;
    const char *fleet = "fleet", *range = NULL, *escrow = NULL, *report = NULL;
    int c, r;

    while ((c = cli_getopt(argc, argv, "f:r:e:R:", opts)) != -1) {
        switch (c) {
        case 'f': fleet = optarg; break;
        case 'r': range = optarg; break;
        case 'e': escrow = optarg; break;
        case 'R': report = optarg; break;
        default: return cli_opt_exit(c);
        }
    }
    if (cs_directory_new(&d) < 0 || !(d->fleet = strdup(fleet)))
        return CLI_FAILED;
    if (range && parse_range(range, &d->id_min, &d->id_max) < 0) {
        log_error("--id-range wants FIRST-LAST, e.g. 1000000-1999999");
        return CLI_USAGE;
    }
    if (escrow) {
        if (cs_fleet_decode_key(escrow, d->escrow_pk) < 0) {
            log_error("--escrow-key wants the base64 key 'cloudseal admin keygen --escrow' printed");
            return CLI_USAGE;
        }
        d->has_escrow = true;
    }
    if (report) {
        if (cs_fleet_decode_key(report, d->report_pk) < 0) {
            log_error("--report-key wants the base64 key 'cloudseal admin keygen --report' printed");
            return CLI_USAGE;
        }
        d->has_report = true;
    }
    /* never overwrite an existing directory */
    if (access(admin_source(), F_OK) == 0) {
        log_error("%s exists already; edit it, or pick another --source", admin_source());
        return CLI_FAILED;
    }
    r = admin_save(d);
    if (r == CLI_OK)
        printf("created an empty directory for fleet '%s' (ids %u-%u); add users with "
               "'cloudseal admin add-user NAME'\n", d->fleet, d->id_min, d->id_max);
    return r;
}

/* ---- approve ---- */

/* The enrollment request `cloudseal enroll` filed (lib/fleet/enroll_request.h):
 * its signature proves the key holder filed it, not who that is, so what
 * it says is shown for the admin to confirm with the user. */
static int key_from_storage(const char *user, uint8_t key[32])
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    cs_enroll_request req;
    cs_fleet_err err = { "" };
    cs_storage *s = NULL;
    char objkey[128], b64[48], when[32];
    int r = cs_fleet_user_object(user, "enrollment-request", objkey, sizeof(objkey));

    if (r == 0)
        r = cs_storage_open_config(cli_config(), NULL, &s);
    if (r == 0) {
        r = cs_storage_get(s, objkey, 0, 0, CS_ENROLL_REQUEST_MAX, &b);
        cs_storage_close(s);
    }
    if (r == -EMSGSIZE || r == -E2BIG) {
        log_error("%s is larger than %d bytes: not an enrollment request; nothing was pinned", objkey,
                  CS_ENROLL_REQUEST_MAX);
        return r;
    }
    if (r < 0) {
        log_error("cannot read %s from storage (%s): ask %s to run 'cloudseal enroll' on a fleet "
                  "workstation, or pass --key", objkey, strerror(-r), user);
        return r;
    }
    r = cs_enroll_request_parse(b.data, b.len, user, &req, &err);
    if (r < 0) {
        log_error("%s is not a valid enrollment request: %s; nothing was pinned", objkey, err.msg);
        return r;
    }
    memcpy(key, req.account_key, 32);
    cs_fleet_encode_key(key, b64);
    printf("enrollment request of '%s' from host %s, %s: account key %s\n"
           "(confirm this key with %s before publishing: anyone who can write to the storage can file "
           "a request)\n", req.user, req.host, cs_fleet_time_str(req.time, when), b64, user);
    return 0;
}

int admin_approve(int argc, char **argv)
{
    static const struct option opts[] = {
        { "key", required_argument, NULL, 'k' },
        { "from-storage", no_argument, NULL, 's' },
        {}
    };
    _cleanup_directory_ cs_directory *d = NULL;
    const char *key_text = NULL;
    bool from_storage = false;
    cs_fleet_user *u;
    uint8_t key[32];
    char b64[48];
    int c, r;

    while ((c = cli_getopt(argc, argv, "k:s", opts)) != -1) {
        switch (c) {
        case 'k': key_text = optarg; break;
        case 's': from_storage = true; break;
        default: return cli_opt_exit(c);
        }
    }
    if (!key_text == !from_storage) {
        log_error("give either --key or --from-storage");
        return CLI_USAGE;
    }
    if (key_text && cs_fleet_decode_key(key_text, key) < 0) {
        log_error("--key wants the account public key 'cloudseal enroll' printed (base64 or hex)");
        return CLI_USAGE;
    }
    r = admin_load_user(argv[optind], &d, &u);
    if (r != CLI_OK)
        return r;
    if (from_storage && key_from_storage(u->name, key) < 0)
        return CLI_FAILED;
    if (u->has_key && sodium_memcmp(u->key, key, 32) != 0)
        log_warning("replacing the key pinned for '%s' (their old keybag will no longer log in)", u->name);
    admin_pin_key(u, key);
    r = admin_save(d);
    cs_fleet_encode_key(key, b64);
    if (r == CLI_OK)
        printf("pinned account key %s for '%s'; run 'cloudseal admin publish'\n", b64, u->name);
    return r;
}

/* ---- verify ---- */

int admin_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        { "pinned-serial", required_argument, NULL, 'p' },
        {}
    };
    _cleanup_buf_ cs_buf data = CS_BUF_INIT;
    _cleanup_directory_ cs_directory *d = NULL;
    cs_fleet_err err = { "" };
    uint64_t pinned = 0;
    int c, r;

    while ((c = cli_getopt(argc, argv, "p:", opts)) != -1) {
        switch (c) {
        case 'p':
            if (cs_parse_uint(optarg, 0, UINT64_MAX, &pinned) < 0) {
                log_error("--pinned-serial: '%s' is not a serial number (the lowest serial to accept, "
                          "like 12)", optarg);
                return CLI_USAGE;
            }
            break;
        default: return cli_opt_exit(c);
        }
    }
    r = cs_read_file(argv[optind], CS_FLEET_MAX_SIGNED, &data);
    if (r < 0) {
        log_error_errno(r, "cannot read %s", argv[optind]);
        return CLI_FAILED;
    }
    r = cs_fleet_accept(cli_config(), data.data, data.len, pinned, (int64_t)time(NULL), &d, &err);
    if (r < 0) {
        log_error("refused: %s", err.msg);
        return CLI_DATA_ERROR;
    }
    if (cli.json) {
        json_object *o = json_object_new_object();

        cli_json_add(o, "ok", json_object_new_boolean(1));
        cli_json_add(o, "serial", json_object_new_uint64(d->serial));
        cli_json_add(o, "expires", json_object_new_int64(d->expires));
        cli_json_add(o, "users", json_object_new_uint64(d->n_users));
        cli_json_add(o, "groups", json_object_new_uint64(d->n_groups));
        return cli_print_json(o, JSON_C_TO_STRING_PLAIN);
    } else {
        char when[32];

        printf("valid: serial %llu, expires %s, %zu users, %zu groups\n", (unsigned long long)d->serial,
               cs_fleet_time_str(d->expires, when), d->n_users, d->n_groups);
    }
    return CLI_OK;
}
