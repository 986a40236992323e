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
 *
 * Prompts.  Before its reply the helper may ask the module to talk to the
 * person logging in ("Touch your security key.", "Security key PIN: "):
 * on fd 1 a prompt frame, told from the reply frame by its first byte (a
 * reply's length is at most CS_HELPER_FRAME_MAX, so its first byte is 0):
 *   byte 0    CS_HELPER_PROMPT_INFO or CS_HELPER_PROMPT_SECRET
 *   byte 1    0
 *   bytes 2-3 big-endian length of the text, at most CS_HELPER_PROMPT_MAX
 *   text      UTF-8, no NUL; the module shows control characters as '?'
 * INFO is shown (PAM_TEXT_INFO) and not answered.  SECRET is asked with echo
 * off (PAM_PROMPT_ECHO_OFF) and answered on fd 0 with an ordinary frame
 * whose first byte is CS_HELPER_ANSWER_OK followed by the answer, or
 * CS_HELPER_ANSWER_CANCEL alone (the conversation failed or was refused);
 * at most CS_HELPER_ANSWER_MAX bytes.  The module keeps fd 0 open while the
 * helper runs for that; a module without prompts (before this wire) closed
 * it after its frames, so the helper reads EOF, not an answer, and fails
 * with a message instead of waiting.  A run has at most
 * CS_HELPER_PROMPTS_MAX prompts; a prompt frame that breaks these rules
 * makes the module stop reading the helper (the run fails as malformed).
 * Each prompt gives the run up to the module's prompt_timeout more (the
 * person needs time to find the key), never more than timeout +
 * prompt_timeout in all.
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
    /* the account's policy needs a security key too (docs/keybag.md, policy
     * "both") and none answered: not plugged in, not touched, no or a wrong
     * PIN (the line on fd 2 says which); nothing was unlocked */
    CS_HELPER_SECURITY_KEY = 24,
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

/* Prompt frames (above). */
#define CS_HELPER_PROMPT_INFO 0x81
#define CS_HELPER_PROMPT_SECRET 0x82
#define CS_HELPER_PROMPT_MAX 256
#define CS_HELPER_PROMPTS_MAX 8
#define CS_HELPER_ANSWER_OK 0
#define CS_HELPER_ANSWER_CANCEL 1
#define CS_HELPER_ANSWER_MAX 256  /* the status byte and the answer */

static inline void cs_helper_prompt_hdr_put(unsigned char hdr[CS_HELPER_FRAME_HDR], unsigned char type,
                                            unsigned len)
{
    hdr[0] = type;
    hdr[1] = 0;
    hdr[2] = (unsigned char)(len >> 8);
    hdr[3] = (unsigned char)len;
}
/* A header that starts a prompt frame rather than the reply. */
static inline int cs_helper_hdr_is_prompt(const unsigned char hdr[CS_HELPER_FRAME_HDR])
{
    return hdr[0] != 0;
}
/* The text length of a prompt header, or -1 when it breaks the rules. */
static inline long cs_helper_prompt_len(const unsigned char hdr[CS_HELPER_FRAME_HDR])
{
    long len = (long)hdr[2] << 8 | hdr[3];

    if ((hdr[0] != CS_HELPER_PROMPT_INFO && hdr[0] != CS_HELPER_PROMPT_SECRET) || hdr[1] != 0 ||
        len > CS_HELPER_PROMPT_MAX)
        return -1;
    return len;
}

/* The exits that come with a reply frame (the key): successes. */
static inline int cs_helper_exit_is_success(int code)
{
    return code == CS_HELPER_OK || code == CS_HELPER_PASSWORD_EXPIRED;
}

#endif
