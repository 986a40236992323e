/* SPDX-License-Identifier: MIT */
/* Loading, checking and saving the directory source for `cloudseal admin`. */
#include <errno.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "account/account.h"
#include "fleet/escrow.h"
#include "storage/storage_s3.h"
#include "util/log.h"

const char *admin_source(void)
{
    const char *p;

    if (admin_source_path)
        return admin_source_path;
    p = cs_config_str(cli_config(), "fleet", "source");
    return p && *p ? p : ADMIN_DEFAULT_SOURCE;
}

int admin_load(cs_directory **out)
{
    cs_fleet_err err = { "" };
    const char *path = admin_source();
    int r = cs_directory_load_source(path, out, &err);

    if (r == -ENOENT) {
        log_error("no directory source at %s: create one with 'cloudseal admin init' or pass --source",
                  path);
        return CLI_NOT_FOUND;
    }
    if (r < 0) {
        log_error("%s: %s", path, err.msg[0] ? err.msg : strerror(-r));
        return CLI_DATA_ERROR;
    }
    return CLI_OK;
}

int admin_load_user(const char *name, cs_directory **d, cs_fleet_user **u)
{
    int r = admin_load(d);

    if (r != CLI_OK)
        return r;
    *u = cs_directory_find_user(*d, name);
    if (!*u) {
        log_error("no user '%s' in the directory: add them first with 'cloudseal admin add-user'", name);
        return CLI_NOT_FOUND;
    }
    return CLI_OK;
}

int admin_check(const cs_directory *d)
{
    cs_fleet_policy policy = { d->id_min, d->id_max, NULL };
    cs_fleet_err err = { "" };

    if (cs_directory_validate(d, &policy, &err) < 0) {
        log_error("the directory would be refused by workstations: %s", err.msg);
        return CLI_DATA_ERROR;
    }
    return CLI_OK;
}

int admin_save(const cs_directory *d)
{
    const char *path = admin_source();
    int r = cs_directory_save_source(path, d);

    if (r < 0) {
        log_error_errno(r, "cannot write %s", path);
        return CLI_FAILED;
    }
    return CLI_OK;
}

int admin_add_list(char ***v, size_t *n, const char *csv)
{
    const char *p = csv;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[CS_FLEET_NAME_MAX + 1];
        int r;

        if (len > CS_FLEET_NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(name, p, len);
        name[len] = '\0';
        if (len) {
            r = cs_fleet_strv_add(v, n, name);
            if (r < 0)
                return r;
        }
        p += len + (e ? 1 : 0);
    }
    return 0;
}

/* 120 bits: 20 characters of URL-safe base64, easy to type at a login prompt */
#define ONE_TIME_BYTES 15

int admin_one_time_password(cs_secret **out)
{
    uint8_t raw[ONE_TIME_BYTES];
    int r = cs_secret_new(out);

    if (r < 0)
        return r;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64((*out)->data, CS_SECRET_MAX, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    (*out)->len = strlen((*out)->data);
    sodium_memzero(raw, sizeof(raw));
    return 0;
}

int admin_put_text(const char *key, const char *text)
{
    cs_storage *st = NULL;
    int r = cs_storage_open_config(cli_config(), NULL, &st);

    if (r == 0)
        r = cs_storage_put(st, key, text, strlen(text), CS_PUT_REPLACE);
    cs_storage_close(st);
    return r;
}

int admin_file_escrow(const char *user, const cs_amk *amk, const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES])
{
    cs_storage *st = NULL;
    int r = cs_storage_open_config(cli_config(), NULL, &st);

    if (r == 0)
        r = cs_escrow_file(st, user, amk, escrow_pk);
    cs_storage_close(st);
    if (r < 0)
        log_error_errno(r, "cannot file the escrow of %s", user);
    return r;
}

void admin_pin_key(cs_fleet_user *u, const uint8_t key[CS_FLEET_PK_BYTES])
{
    if (!u->has_key || sodium_memcmp(u->key, key, CS_FLEET_PK_BYTES) != 0) {
        /* another account: its keybags start again from generation 1 */
        u->keybag_generation = 0;
        u->keybag_one_time = 0;
        sodium_memzero(u->keybag_sha256, sizeof(u->keybag_sha256));
    }
    memcpy(u->key, key, CS_FLEET_PK_BYTES);
    u->has_key = true;
}

void admin_keybag_floor(cs_fleet_user *u, const cs_keybag_made *made)
{
    if (made->generation <= u->keybag_generation)
        return;
    u->keybag_generation = made->generation;
    memcpy(u->keybag_sha256, made->sha256, sizeof(u->keybag_sha256));
    u->keybag_one_time = (int64_t)time(NULL); /* publish reminds the admin until the user replaces it */
}
