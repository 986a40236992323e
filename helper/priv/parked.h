/* SPDX-License-Identifier: MIT */
/* The account key parked between sshd's auth child and its session step
 * (park and collect, docs in pam_cloudseal(8) "SSH").
 *
 * A "user" key in root's user keyring, permissions possessor all + owner
 * all (0x3f3f0000) with owner uid 0: no other uid can see, search or read
 * it.  Described "cloudseal:parked:<uid>:<token>", the token 128 random
 * bits in hex: the only thing that leaves the auth step, through the PAM
 * environment.  Expires after --timeout seconds; collect revokes it (the
 * kernel frees a revoked user key's payload at once). */
#ifndef CS_HELPER_PARKED_H
#define CS_HELPER_PARKED_H

#include <stdint.h>
#include <sys/types.h>

#include "crypto/keys.h"

#define PARKED_TOKEN_HEX 32 /* 16 random bytes */
#define PARKED_DESC_MAX 64
#define PARKED_TIMEOUT_MAX 600

/* The payload: the key and what binds it to one login. */
typedef struct parked_key {
    uint8_t key[CS_KEY_BYTES];
    uint32_t uid;   /* the user it was unwrapped for */
    int32_t pid[2]; /* the process that opens the session must be one of
                     * these: the module's process (sshd "password": auth and
                     * session in one process) or its parent (sshd
                     * "keyboard-interactive": auth in a child of the monitor) */
} parked_key;

/* "cloudseal:parked:<uid>:<token>"; -EINVAL unless token is
 * PARKED_TOKEN_HEX lowercase hex digits. */
int parked_desc(uid_t uid, const char *token, size_t len, char desc[PARKED_DESC_MAX]);

#endif
