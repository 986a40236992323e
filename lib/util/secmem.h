/* SPDX-License-Identifier: MIT */
/* Secure memory: locked, guarded allocations for keys and passwords.
 *
 * Every secret in cloudseal lives in memory from cs_secure_alloc(): it is
 * mlock()ed (never swapped), surrounded by guard pages, excluded from core
 * dumps, and zeroed by cs_secure_free().  Processes that hold secrets call
 * cs_process_harden() first so that no core dump or ptrace peer can read them.
 */
#ifndef CS_UTIL_SECMEM_H
#define CS_UTIL_SECMEM_H

#include <stddef.h>

/* Initialise libsodium.  Returns 0 or -EIO.  Safe to call repeatedly. */
int cs_crypto_init(void);

/* Disable core dumps and ptrace by other processes of the same uid
 * (PR_SET_DUMPABLE 0, RLIMIT_CORE 0).  Returns 0 or a negative errno. */
int cs_process_harden(void);

/* Locked, guarded, zero-filled allocation; NULL on failure.  When the pages
 * cannot be locked (RLIMIT_MEMLOCK) the allocation still succeeds, and the
 * first such failure in the process is logged once at warning: a resource
 * limit must not lock a user out of their login, but must not pass in
 * silence either. */
void *cs_secure_alloc(size_t len);
/* Zeroes and frees; NULL is a no-op. */
void cs_secure_free(void *p);
/* Zero a buffer in a way the compiler cannot elide. */
void cs_wipe(void *p, size_t len);
/* Constant-time comparison: 0 when equal. */
int cs_memeq_ct(const void *a, const void *b, size_t len);

/* A password or other secret string of at most CS_SECRET_MAX bytes,
 * always NUL-terminated, always in secure memory. */
#define CS_SECRET_MAX 4096
typedef struct cs_secret {
    char *data; /* secure memory, CS_SECRET_MAX + 1 bytes */
    size_t len;
} cs_secret;

int cs_secret_new(cs_secret **out);
/* Copies len bytes of src; -EMSGSIZE if longer than CS_SECRET_MAX. */
int cs_secret_set(cs_secret *s, const char *src, size_t len);
void cs_secret_free(cs_secret *s);

/* Read a secret from fd until EOF or newline (newline stripped).
 * At most CS_SECRET_MAX bytes; -EMSGSIZE beyond.  No echo handling: see
 * cs_secret_prompt for terminals. */
int cs_secret_read_fd(int fd, cs_secret **out);
/* A secret kept in a file: first line, trailing blanks dropped; -EPERM
 * (with a message naming `what` and the chmod to run) when other users may
 * read it, -EACCES without a message when this user may not open it. */
int cs_secret_read_file(const char *path, const char *what, cs_secret **out);
/* Prompt on /dev/tty with echo off; falls back to stdin when it is not a
 * terminal (one line).  -ENOTTY if neither is usable. */
int cs_secret_prompt(const char *prompt, cs_secret **out);

/* cleanup helpers for __attribute__((cleanup)) */
static inline void cs_secret_freep(cs_secret **s) { if (*s) cs_secret_free(*s); }
#define _cleanup_secret_ __attribute__((cleanup(cs_secret_freep)))

#endif
