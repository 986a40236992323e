/* SPDX-License-Identifier: MIT */
/* The one user-name validator (like systemd's valid_user_group_name()),
 * libc only: the PAM and NSS modules compile it too.
 *
 * Every rule below is safe as one path component and one storage-key
 * segment (users/<name>/, <state_dir>/keybags/<name>): no '/', never "."
 * or "..", never a leading '-' or '.', at most CS_USER_NAME_MAX bytes.
 * The rule for each use (docs/directory.md, "User names"):
 *
 *   CS_USER_NAME_FLEET  users and groups of the signed fleet directory:
 *                       useradd(8)'s default NAME_REGEX plus '.',
 *                       [a-z_][a-z0-9_.-]*, so every machine of the fleet
 *                       can hold the name
 *   CS_USER_NAME_LOGIN  a local login name the PAM module, the helper and
 *                       an account (keybag, storage prefix, cache) act for:
 *                       upper case, a leading digit and a final '$' (Samba
 *                       machine accounts) allowed as well
 */
#ifndef CS_BASIC_USER_NAME_H
#define CS_BASIC_USER_NAME_H

#include <stdbool.h>

#define CS_USER_NAME_MAX 32 /* bytes */

/* What a rule allows beyond [a-z_][a-z0-9_.-]*. */
enum {
    CS_USER_NAME_UPPER = 1 << 0,       /* A-Z anywhere */
    CS_USER_NAME_DIGIT_FIRST = 1 << 1, /* a leading 0-9 */
    CS_USER_NAME_DOLLAR = 1 << 2,      /* a final '$' */
};

#define CS_USER_NAME_FLEET 0
#define CS_USER_NAME_LOGIN (CS_USER_NAME_UPPER | CS_USER_NAME_DIGIT_FIRST | CS_USER_NAME_DOLLAR)

/* Whether name (NULL: false) follows the rule the flags make. */
bool cs_user_name_valid(const char *name, unsigned flags);

#endif
