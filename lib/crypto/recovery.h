/* SPDX-License-Identifier: MIT */
/* Recovery key: 256 random bits shown once at enrollment as a code a person
 * can copy onto paper and type back in.
 *
 * Code format (v1): the 32 key bytes followed by a 3-byte checksum
 * (the first 3 bytes of BLAKE2b-256("cloudseal-recovery-v1" || key)), 35
 * bytes = 280 bits, written in Crockford base32 (0-9 A-Z without I L O U) as
 * 14 groups of 4 characters joined by dashes:
 *     K7Q2-9XHD-...-M4TA   (56 characters + 13 dashes)
 * The parser ignores case, spaces and dashes and reads I/L as 1 and O as 0,
 * as Crockford specifies; a typo is caught by the checksum (2^-24 chance of
 * passing) instead of looking like a wrong key.
 */
#ifndef CS_CRYPTO_RECOVERY_H
#define CS_CRYPTO_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#define CS_RECOVERY_KEY_BYTES 32
#define CS_RECOVERY_CODE_CHARS 56
#define CS_RECOVERY_CODE_MAX (CS_RECOVERY_CODE_CHARS + 13 + 1) /* with dashes and NUL */
/* Longest input the parser accepts (generous room for spaces). */
#define CS_RECOVERY_INPUT_MAX 256

/* Fill key with 32 random bytes (key should be secure memory). */
void cs_recovery_generate(uint8_t key[CS_RECOVERY_KEY_BYTES]);

/* Write the dashed code for key into code (which should be secure memory). */
void cs_recovery_encode(const uint8_t key[CS_RECOVERY_KEY_BYTES], char code[CS_RECOVERY_CODE_MAX]);

/* Parse a typed code.  Returns 0 and key, or
 *   -EINVAL  a character that is not Crockford base32, or too long/short
 *   -EILSEQ  checksum mismatch: a typo somewhere in the code */
int cs_recovery_parse(const char *text, size_t len, uint8_t key[CS_RECOVERY_KEY_BYTES]);

#endif
