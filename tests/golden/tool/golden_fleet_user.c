/* SPDX-License-Identifier: MIT */
/* golden-tool fleet-user: a user the admin enrolled (admin enroll-user):
 * the keybag unlocked with its one-time password and serialised again, the
 * keybag seal parsed against the key the signed directory pins and signed
 * again (Ed25519 is deterministic), and the escrow object opened with the
 * escrow secret key to the same account (its seal is randomised, so it is
 * opened, not re-made). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto/keybag.h"
#include "fleet/escrow.h"
#include "fleet/fleet.h"
#include "fleet/keybag_seal.h"
#include "golden_tool.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/secmem.h"

#define MAX_OBJECT (1u << 20)

static const cs_fleet_user *find_user(const cs_directory *d, const char *name)
{
    for (size_t i = 0; i < d->n_users; i++)
        if (strcmp(d->users[i].name, name) == 0)
            return &d->users[i];
    return NULL;
}

static int check_seal(const char *user, const cs_fleet_user *u, const char *path, const cs_amk *amk)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    _cleanup_free_ char *json = NULL;
    cs_keybag_seal seal;
    cs_fleet_err err = { "" };
    int r = cs_read_file(path, MAX_OBJECT, &raw);

    if (r < 0)
        return log_error_errno(r, "%s", path);
    if (!u->has_key)
        return log_error_errno(-ENOKEY, "the directory pins no key for %s", user);
    if ((r = cs_keybag_seal_parse(raw.data, raw.len, user, u->key, &seal, &err)) < 0)
        return log_error_errno(r, "%s: %s", path, err.msg);
    if ((r = cs_keybag_seal_make(&seal, amk, &json)) < 0)
        return log_error_errno(r, "signing the seal again");
    printf("keybag-seal %s: generation %llu, the directory's floor %llu\n", user,
           (unsigned long long)seal.generation, (unsigned long long)u->keybag_generation);
    return golden_same("keybag-seal", user, (const uint8_t *)json, strlen(json), raw.data, raw.len);
}

static int check_escrow(const char *user, const char *path, const char *sk_path, const cs_amk *amk)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    _cleanup_amk_ cs_amk *opened = NULL;
    char want[CS_ACCOUNT_ID_HEX + 1], got[CS_ACCOUNT_ID_HEX + 1];
    cs_fleet_err err = { "" };
    uint8_t *sk = NULL;
    int r = cs_read_file(path, MAX_OBJECT, &raw);

    if (r < 0)
        return log_error_errno(r, "%s", path);
    if ((r = cs_fleet_read_secret32(sk_path, &sk)) < 0)
        return log_error_errno(r, "%s", sk_path);
    r = cs_escrow_open(raw.data, raw.len, user, sk, &opened, &err);
    cs_secure_free(sk);
    if (r < 0)
        return log_error_errno(r, "%s: %s", path, err.msg);
    if ((r = cs_account_id_from_amk(amk, want)) < 0 || (r = cs_account_id_from_amk(opened, got)) < 0)
        return log_error_errno(r, "account ids");
    printf("escrow %s: opens to account %s (%s)\n", user, got,
           strcmp(want, got) == 0 ? "the keybag's" : "NOT the keybag's");
    return strcmp(want, got) == 0 ? 0 : 1;
}

/* argv: USER KEYBAG SEAL ESCROW ESCROW_SECRET SIGNED PUBKEY; the one-time
 * password on stdin. */
int golden_fleet_user(int argc, char **argv)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT, signed_raw = CS_BUF_INIT;
    _cleanup_keybag_ cs_keybag *kb = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    _cleanup_directory_ cs_directory *d = NULL;
    _cleanup_free_ char *again = NULL;
    uint8_t pk[CS_FLEET_PK_BYTES];
    const cs_fleet_user *u;
    cs_fleet_err err = { "" };
    size_t len;
    int r, bad = 0;

    if (argc != 7)
        return -EINVAL;
    if ((r = cs_read_file(argv[1], MAX_OBJECT, &raw)) < 0 || (r = cs_read_file(argv[5], MAX_OBJECT, &signed_raw)) < 0)
        return log_error_errno(r, "reading the fixtures");
    if ((r = cs_fleet_read_pubkey(argv[6], pk)) < 0 ||
        (r = cs_fleet_open_signed(signed_raw.data, signed_raw.len, pk, &d, &err)) < 0)
        return log_error_errno(r, "%s: %s", argv[5], err.msg);
    if (!(u = find_user(d, argv[0])))
        return log_error_errno(-ENOENT, "%s is not in the directory", argv[0]);
    if ((r = golden_unlock(argv[1], &kb, &amk)) < 0)
        return r;
    if ((r = cs_keybag_serialize(kb, amk, &again, &len)) < 0)
        return log_error_errno(r, "serialising the keybag");
    bad += golden_same("keybag", argv[0], (const uint8_t *)again, len, raw.data, raw.len);
    if ((r = check_seal(argv[0], u, argv[2], amk)) < 0)
        return r;
    bad += r;
    if ((r = check_escrow(argv[0], argv[3], argv[4], amk)) < 0)
        return r;
    return bad + r;
}
