/* SPDX-License-Identifier: MIT */
/* The unlocked AMK in the kernel keyring.
 *
 * The key is a "user" key in the user keyring (@u, shared by all of the
 * uid's sessions and by `systemd --user`), described
 *   "cloudseal:amk:<account_id>"
 * with permissions possessor all + owner view/read/search (0x3f0b0000) and no
 * access for anyone else.  These functions act as the CURRENT uid: a root
 * process that wants to hand a key to a user forks a child that drops to the
 * user's uid/gid first (see TESTING-NOTES §4 for the session-keyring caveat:
 * the child joins a fresh session keyring linked to @u before add_key).
 */
#ifndef CS_CRYPTO_KEYRING_H
#define CS_CRYPTO_KEYRING_H

#include "crypto/keys.h"

/* Add or replace the AMK for account_id in @u.  timeout_sec 0 = none. */
int cs_keyring_store(const char *account_id, const cs_amk *amk, unsigned timeout_sec);
/* Read it into secure memory.  -ENOKEY when absent, revoked or expired. */
int cs_keyring_load(const char *account_id, cs_amk **out);
/* Revoke (and unlink) it.  -ENOKEY when there was none. */
int cs_keyring_revoke(const char *account_id);

#endif
