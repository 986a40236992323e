/* cloudseal admin publish: sign the directory source and upload it.
 *
 * The serial is one more than the larger of the source's last published
 * serial and the serial of what is in storage now, so two admins working from
 * different checkouts never publish a serial that workstations would refuse
 * as a rollback.  The new serial is written back into the source (commit it).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "storage/storage_s3.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/secmem.h"

typedef struct publish_opts {
    const char *secret_key;
    const char *output;
    int64_t validity;
    bool upload;
} publish_opts;

/* The serial of the directory currently in storage, signed by our key;
 * 0 when none.  A directory we cannot read is not fatal: the source's serial
 * still increases. */
static uint64_t remote_serial(cs_storage *s, const uint8_t *pk)
{
    _cleanup_buf_ cs_buf data = CS_BUF_INIT;
    _cleanup_directory_ cs_directory *d = NULL;
    cs_fleet_err err = { "" };
    int r = cs_storage_get(s, CS_FLEET_STORAGE_KEY, 0, 0, CS_FLEET_MAX_SIGNED, &data);

    if (r == -ENOENT)
        return 0;
    if (r < 0 || cs_fleet_open_signed(data.data, data.len, pk, &d, &err) < 0) {
        log_warning("cannot read the published directory (%s): continuing from the source's serial",
                    r < 0 ? strerror(-r) : err.msg);
        return 0;
    }
    return d->serial;
}

static int parse_opts(int argc, char **argv, publish_opts *o)
{
    static const struct option opts[] = {
        { "secret-key", required_argument, NULL, 'k' },
        { "validity", required_argument, NULL, 'v' },
        { "output", required_argument, NULL, 'o' },
        { "no-upload", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        {}
    };
    const char *cfg_key = cs_config_str(cli_config(), "fleet", "secret_key_file");
    int c;

    o->secret_key = cfg_key && *cfg_key ? cfg_key : "fleet.key";
    o->validity = cs_config_int(cli_config(), "fleet", "validity");
    o->output = NULL;
    o->upload = true;
    while ((c = getopt_long(argc, argv, "k:v:o:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'k': o->secret_key = optarg; break;
        case 'v':
            if (cs_parse_duration(optarg, &o->validity) < 0 || o->validity < 3600) {
                log_error("--validity wants a duration of at least 1h, e.g. 30d");
                return CLI_USAGE;
            }
            break;
        case 'o': o->output = optarg; break;
        case 'n': o->upload = false; break;
        case 'h':
            printf("Usage: cloudseal admin [--source FILE] publish [--secret-key FILE] [--validity DURATION]\n"
                   "                                                [--output FILE] [--no-upload]\n\n"
                   "Sign the directory (serial + 1, valid for --validity, default [fleet] validity)\n"
                   "with the fleet secret key (default [fleet] secret_key_file or ./fleet.key) and\n"
                   "upload it to fleet/directory in [storage].  --output also writes the signed\n"
                   "directory to FILE.  Republish before it expires: workstations refuse an\n"
                   "expired directory (they keep their last good cache).\n");
            return -1;
        default: return CLI_USAGE;
        }
    }
    return optind == argc ? CLI_OK : CLI_USAGE;
}

int admin_publish(int argc, char **argv)
{
    _cleanup_directory_ cs_directory *d = NULL;
    _cleanup_free_ char *signed_json = NULL;
    cs_storage *s = NULL;
    uint8_t *sk = NULL;
    uint64_t serial;
    size_t len;
    publish_opts o;
    int r;

    r = parse_opts(argc, argv, &o);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    r = admin_load(&d);
    if (r == CLI_OK)
        r = admin_check(d);
    if (r != CLI_OK)
        return r;
    r = cs_fleet_read_signing_key(o.secret_key, &sk);
    if (r < 0) {
        log_error("cannot use the fleet secret key %s: %s%s", o.secret_key, strerror(-r),
                  r == -EPERM ? " (it is readable by others: chmod 600 it)" : "");
        return CLI_FAILED;
    }
    serial = d->serial;
    if (o.upload) {
        r = cs_storage_open_config(cli_config(), NULL, &s);
        if (r < 0) {
            log_error("cannot open the storage: %s; check [storage] in the configuration", strerror(-r));
            cs_secure_free(sk);
            return CLI_UNAVAILABLE;
        }
        uint64_t rs = remote_serial(s, sk + 32);
        if (rs > serial)
            serial = rs;
    }
    d->serial = serial + 1;
    d->issued = (int64_t)time(NULL);
    d->expires = d->issued + o.validity;
    r = cs_fleet_sign(d, sk, &signed_json, &len);
    cs_secure_free(sk);
    if (r < 0) {
        log_error("signing failed: %s", strerror(-r));
        goto fail;
    }
    if (o.output && (r = cs_write_file_atomic(o.output, signed_json, len, 0644)) < 0) {
        log_error("cannot write %s: %s", o.output, strerror(-r));
        goto fail;
    }
    if (s && (r = cs_storage_put(s, CS_FLEET_STORAGE_KEY, signed_json, len, CS_PUT_REPLACE)) < 0) {
        log_error("upload of %s failed: %s; nothing was published", CS_FLEET_STORAGE_KEY, strerror(-r));
        goto fail;
    }
    if (s)
        cs_storage_close(s);
    r = admin_save(d); /* the source records the serial now published */
    if (r == CLI_OK) {
        char when[32];

        printf("published serial %llu (%zu users, %zu groups), valid until %s%s; commit %s\n",
               (unsigned long long)d->serial, d->n_users, d->n_groups, cs_fleet_time_str(d->expires, when),
               o.upload ? "" : " (not uploaded)", admin_source());
    }
    return r;
fail:
    if (s)
        cs_storage_close(s);
    return CLI_FAILED;
}
