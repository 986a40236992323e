/* SPDX-License-Identifier: MIT */
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
#include <sodium.h>

#include "admin.h"
#include "cli_opts.h"
#include "fleet/keybag_seal.h"
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

/* The directory currently in storage, signed by our key; NULL when none.
 * A directory we cannot read is not fatal: the source's serial still
 * increases. */
static cs_directory *remote_directory(cs_storage *s, const uint8_t *pk)
{
    _cleanup_buf_ cs_buf data = CS_BUF_INIT;
    cs_directory *d = NULL;
    cs_fleet_err err = { "" };
    int r = cs_storage_get(s, CS_FLEET_STORAGE_KEY, 0, 0, CS_FLEET_MAX_SIGNED, &data);

    if (r == -ENOENT)
        return NULL;
    if (r < 0 || cs_fleet_open_signed(data.data, data.len, pk, &d, &err) < 0) {
        log_warning("cannot read the published directory (%s): continuing from the source's serial",
                    r < 0 ? strerror(-r) : err.msg);
        return NULL;
    }
    return d;
}

/* What user u's keybag seal says, checked against the key pinned for u:
 * 1 when it raised u's "keybag", 0 when not (and the admin is told why),
 * -ENOENT when u has neither a seal nor a floor yet (counted, not listed). */
static int apply_seal(cs_storage *s, cs_fleet_user *u)
{
    _cleanup_buf_ cs_buf data = CS_BUF_INIT;
    cs_fleet_err err = { "" };
    cs_keybag_seal seal;
    char key[128];
    int r = cs_fleet_user_object(u->name, "keybag-seal", key, sizeof(key));

    if (r == 0)
        r = cs_storage_get(s, key, 0, 0, CS_KEYBAG_SEAL_MAX, &data);
    if (r == -ENOENT && u->keybag_generation) { /* enroll and the admin commands file one */
        log_warning("the keybag seal of '%s' is missing from storage (deleted?): their keybag floor stays at "
                    "generation %llu", u->name, (unsigned long long)u->keybag_generation);
        return 0;
    }
    if (r == -ENOENT)
        return -ENOENT;
    if (r == 0 && (r = cs_keybag_seal_parse(data.data, data.len, u->name, u->key, &seal, &err)) < 0) {
        log_warning("the keybag seal of '%s' is refused (%s): their keybag floor stays at generation %llu; "
                    "it is fixed by their next password change", u->name, err.msg,
                    (unsigned long long)u->keybag_generation);
        return 0;
    }
    if (r < 0) {
        log_warning("cannot read %s: %s; the keybag floor of '%s' stays as it was", key, strerror(-r), u->name);
        return 0;
    }
    if (seal.generation > u->keybag_generation) {
        u->keybag_generation = seal.generation;
        memcpy(u->keybag_sha256, seal.sha256, sizeof(u->keybag_sha256));
        u->keybag_one_time = 0;
        return 1;
    }
    if (seal.generation < u->keybag_generation)
        log_warning("the keybag seal of '%s' names generation %llu, older than the published %llu (replayed by "
                    "someone who can write the bucket?): kept %llu", u->name, (unsigned long long)seal.generation,
                    (unsigned long long)u->keybag_generation, (unsigned long long)u->keybag_generation);
    else if (sodium_memcmp(seal.sha256, u->keybag_sha256, sizeof(seal.sha256)) != 0)
        log_warning("the keybag seal of '%s' names another keybag of the published generation %llu (changed "
                    "on two machines offline?): kept the published one; their next password change settles it",
                    u->name, (unsigned long long)seal.generation);
    return 0;
}

/* Raise each pinned user's "keybag" (the floor workstations refuse older
 * keybags below) from the published directory, when it pins the same key,
 * and from the user's keybag seal; never lower it. */
static void update_keybags(cs_storage *s, cs_directory *d, const cs_directory *remote)
{
    size_t raised = 0, unsealed = 0;

    for (size_t i = 0; i < d->n_users; i++) {
        cs_fleet_user *u = &d->users[i];
        const cs_fleet_user *ru = remote ? cs_directory_find_user(remote, u->name) : NULL;
        int r;

        if (!u->has_key)
            continue;
        if (ru && ru->has_key && sodium_memcmp(ru->key, u->key, sizeof(u->key)) == 0 &&
            ru->keybag_generation > u->keybag_generation) {
            u->keybag_generation = ru->keybag_generation;
            memcpy(u->keybag_sha256, ru->keybag_sha256, sizeof(u->keybag_sha256));
            u->keybag_one_time = 0; /* published from another checkout: a newer keybag of theirs */
        }
        r = apply_seal(s, u);
        raised += r > 0;
        unsealed += r == -ENOENT;
        if (u->keybag_one_time) {
            char when[32];

            log_warning("'%s' still has the one-time password set on %s: it logs in on any workstation that "
                        "never saw a newer keybag of theirs.  If they have chosen their own since, their "
                        "newer keybag seal is missing from storage (hidden by someone who can write the "
                        "bucket?)", u->name, cs_fleet_time_str(u->keybag_one_time, when));
        }
    }
    if (unsealed)
        log_notice("%zu pinned user(s) have no keybag seal in storage yet (enrolled before seals existed: "
                   "their agent files one after their next login)", unsealed);
    if (raised)
        log_notice("keybag floor raised for %zu user(s): their older keybags (old and one-time passwords) "
                   "stop working on workstations that install this directory", raised);
}

static int parse_opts(int argc, char **argv, publish_opts *o)
{
    static const struct option opts[] = {
        { "secret-key", required_argument, NULL, 'k' },
        { "validity", required_argument, NULL, 'v' },
        { "output", required_argument, NULL, 'o' },
        { "no-upload", no_argument, NULL, 'n' },
        {}
    };
    const char *cfg_key;
    int c;

    *o = (publish_opts){ .validity = -1, .upload = true };
    while ((c = cli_getopt(argc, argv, "k:v:o:n", opts)) != -1) {
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
        case CLI_OPT_HELP: return -1;
        default: return CLI_USAGE;
        }
    }
    /* the configuration only after the options: --help needs none */
    cfg_key = cs_config_str(cli_config(), "fleet", "secret_key_file");
    if (!o->secret_key)
        o->secret_key = cfg_key && *cfg_key ? cfg_key : "fleet.key";
    if (o->validity < 0)
        o->validity = cs_config_int(cli_config(), "fleet", "validity");
    return CLI_OK;
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
        _cleanup_directory_ cs_directory *remote = remote_directory(s, sk + 32);
        if (remote && remote->serial > serial)
            serial = remote->serial;
        update_keybags(s, d, remote);
    } else {
        log_warning("--no-upload: the users' keybag seals in storage are not read; their keybag floors stay "
                    "as in the source");
    }
    d->serial = serial + 1;
    d->issued = (int64_t)time(NULL);
    d->expires = d->issued + o.validity;
    r = cs_fleet_sign(d, sk, &signed_json, &len);
    cs_secure_free(sk);
    if (r < 0) {
        log_error_errno(r, "signing failed");
        goto fail;
    }
    if (o.output && (r = cs_write_file_atomic(o.output, signed_json, len, 0644)) < 0) {
        log_error_errno(r, "cannot write %s", o.output);
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
