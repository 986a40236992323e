/* SPDX-License-Identifier: MIT */
/* The unlocked AMK in the kernel keyring (see keyring.h).
 *
 * Possession: a key's possessor permissions apply only when the calling
 * process can reach the key from its own thread, process or session keyring.
 * A process whose session keyring does not link @u (root's after a login, a
 * fresh `keyctl session`, a PAM child dropped to the user's uid) would get
 * only the owner bits, which cannot set permissions, timeouts or revoke.  So
 * every operation first links @u into this process's private process keyring
 * (created on demand, gone at exit, seen by nobody else): from then on the
 * process possesses @u and everything in it, without changing the session
 * keyring that other processes share.
 */
#include "crypto/keyring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <keyutils.h>
#include "util/secmem.h"

#define AMK_KEY_PERM 0x3f0b0000 /* possessor all; owner view, read, search */
#define DESC_MAX 96

static int describe(const char *account_id, char desc[DESC_MAX])
{
    size_t n = account_id ? strlen(account_id) : 0;

    if (n == 0 || n > 64)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!((account_id[i] >= '0' && account_id[i] <= '9') || (account_id[i] >= 'a' && account_id[i] <= 'f')))
            return -EINVAL;
    snprintf(desc, DESC_MAX, "cloudseal:amk:%s", account_id);
    return 0;
}

static int possess_user_keyring(void)
{
    if (keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_PROCESS_KEYRING) < 0)
        return -errno;
    return 0;
}

/* Serial of our key in @u, or -ENOKEY (absent, revoked, expired). */
static key_serial_t find(const char *desc)
{
    key_serial_t k = (key_serial_t)keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, 0);

    if (k >= 0)
        return k;
    if (errno == ENOKEY || errno == EKEYREVOKED || errno == EKEYEXPIRED)
        return -ENOKEY;
    return -errno;
}

/* Every operation: check the id, name the key, and possess @u. */
static int prepare(const char *account_id, char desc[DESC_MAX])
{
    int r = describe(account_id, desc);

    return r < 0 ? r : possess_user_keyring();
}

/* Serial of the AMK key of account_id, or a negative errno (-ENOKEY: none). */
static key_serial_t find_amk_key(const char *account_id)
{
    char desc[DESC_MAX];
    int r = prepare(account_id, desc);

    return r < 0 ? r : find(desc);
}

int cs_keyring_store(const char *account_id, const cs_amk *amk, unsigned timeout_sec)
{
    char desc[DESC_MAX];
    key_serial_t k;
    int r = prepare(account_id, desc);

    if (r < 0)
        return r;
    /* add_key updates a live key of the same type and description, or
     * creates a new one that displaces a revoked/expired one in @u */
    k = add_key("user", desc, amk->key, CS_KEY_BYTES, KEY_SPEC_USER_KEYRING);
    if (k < 0)
        return -errno;
    /* timeout first, then permissions, the order measured to work (TESTING-NOTES §4) */
    if (keyctl_set_timeout(k, timeout_sec) < 0 || keyctl_setperm(k, AMK_KEY_PERM) < 0) {
        r = -errno;
        (void)keyctl_revoke(k);
        (void)keyctl_unlink(k, KEY_SPEC_USER_KEYRING);
        return r;
    }
    return 0;
}

int cs_keyring_load(const char *account_id, cs_amk **out)
{
    uint8_t *buf = NULL;
    key_serial_t k = find_amk_key(account_id);
    long n;
    int r;

    if (k < 0)
        return k;
    buf = cs_secure_alloc(CS_KEY_BYTES);
    if (!buf)
        return -ENOMEM;
    n = keyctl_read(k, (char *)buf, CS_KEY_BYTES);
    if (n < 0)
        r = errno == EKEYREVOKED || errno == EKEYEXPIRED || errno == ENOKEY ? -ENOKEY : -errno;
    else if (n != CS_KEY_BYTES)
        r = -EBADMSG; /* not one of ours: someone else's key under our name */
    else
        r = cs_amk_from_bytes(buf, CS_KEY_BYTES, out);
    cs_secure_free(buf);
    return r;
}

int cs_keyring_revoke(const char *account_id)
{
    key_serial_t k = find_amk_key(account_id);

    if (k < 0)
        return k;
    if (keyctl_revoke(k) < 0)
        return -errno;
    (void)keyctl_unlink(k, KEY_SPEC_USER_KEYRING);
    return 0;
}
