/* SPDX-License-Identifier: MIT */
/* The wire between pam_cloudseal.so and cloudseal-helper.
 *
 * Shared by both sides (the PAM module includes only this header from the
 * helper: it links libpam and libc, nothing of lib/).
 *
 * The module execs the helper with an empty environment and three
 * descriptors, everything else closed:
 *   fd 0  secrets in:  frames written by the module (password, AMK, ...)
 *   fd 1  secrets out: frames written by the helper (the AMK after unlock)
 *   fd 2  one human-readable line (at most CS_HELPER_MSG_MAX bytes are read)
 * A frame is a 4-byte big-endian length followed by that many bytes; a length
 * above CS_HELPER_FRAME_MAX is a protocol error, never an allocation.
 * The exit status says what happened (below).
 */
#ifndef CS_HELPER_PROTOCOL_H
#define CS_HELPER_PROTOCOL_H

#define CS_HELPER_FRAME_MAX 4096 /* == CS_SECRET_MAX: a password or a key */
#define CS_HELPER_MSG_MAX 512
#define CS_HELPER_AMK_BYTES 32   /* == CS_KEY_BYTES */

/* Exit codes of cloudseal-helper. */
enum {
    CS_HELPER_OK = 0,
    CS_HELPER_USAGE = 2,          /* bad command line */
    CS_HELPER_WRONG_PASSWORD = 10,/* the secret does not unwrap the keybag */
    CS_HELPER_NOT_ENROLLED = 11,  /* no keybag in storage or cache */
    CS_HELPER_CORRUPT = 12,       /* keybag malformed, tampered or out of bounds */
    CS_HELPER_ROLLBACK = 13,      /* keybag older than the pinned generation */
    CS_HELPER_UNAVAILABLE = 14,   /* storage unreachable and no usable cache */
    CS_HELPER_INTERNAL = 15,      /* anything else (message on stderr) */
    CS_HELPER_DENIED = 16,        /* a non-root caller asked to act for someone else */
    CS_HELPER_NO_KEY = 17,        /* revoke: there was no key in the keyring */
    /* fleet users (unlock --fleet, fleet-check), from the local directory cache */
    CS_HELPER_NOT_IN_FLEET = 18,  /* the user is not in the fleet directory (or no cache) */
    CS_HELPER_FLEET_DENIED = 19,  /* disabled, no key approved yet, or the cached directory expired */
    CS_HELPER_NOT_PINNED = 20,    /* the keybag is another account's than the pinned one (planted keybag) */
    /* unlock --fleet only: a success (the key is on fd 1) whose password an
     * administrator set (admin enroll-user / recover-user): the login must
     * make the user choose a new one (PAM_NEW_AUTHTOK_REQD) */
    CS_HELPER_PASSWORD_EXPIRED = 21,
    /* handoff: the key is not the one of the user's keybag (another user's
     * key: sudo -u B after authenticating A); nothing stored */
    CS_HELPER_WRONG_ACCOUNT = 22,
    /* the configuration file is unreadable or invalid (the line on fd 2
     * names the file, the line and what was expected); nothing was done */
    CS_HELPER_CONFIG = 23,
};

/* A frame's 4-byte big-endian length header, written and read the same way
 * on both sides of the wire. */
#define CS_HELPER_FRAME_HDR 4
static inline void cs_helper_frame_hdr_put(unsigned char hdr[CS_HELPER_FRAME_HDR], unsigned long len)
{
    hdr[0] = (unsigned char)(len >> 24);
    hdr[1] = (unsigned char)(len >> 16);
    hdr[2] = (unsigned char)(len >> 8);
    hdr[3] = (unsigned char)len;
}
static inline unsigned long cs_helper_frame_hdr_get(const unsigned char hdr[CS_HELPER_FRAME_HDR])
{
    return (unsigned long)hdr[0] << 24 | (unsigned long)hdr[1] << 16 | (unsigned long)hdr[2] << 8 | hdr[3];
}

/* The exits that come with a reply frame (the key): successes. */
static inline int cs_helper_exit_is_success(int code)
{
    return code == CS_HELPER_OK || code == CS_HELPER_PASSWORD_EXPIRED;
}

#endif
