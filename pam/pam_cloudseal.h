/* Internals of pam_cloudseal.so (libpam and libc only; nothing of lib/).
 * Nothing here is exported: exports.map keeps only pam_sm_*. */
#ifndef CS_PAM_CLOUDSEAL_H
#define CS_PAM_CLOUDSEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <security/pam_modules.h>

#include "../helper/priv/protocol.h"

#ifndef CS_LIBEXECDIR
#define CS_LIBEXECDIR "/usr/libexec/cloudseal"
#endif
#define CS_PAM_DEFAULT_HELPER CS_LIBEXECDIR "/cloudseal-helper"

/* options.c: the module arguments of one pam.d line */
typedef enum cs_pam_pass_mode {
    CS_PASS_USE_FIRST, /* default: PAM_AUTHTOK or nothing, never prompt */
    CS_PASS_TRY_FIRST, /* PAM_AUTHTOK, else prompt for the password */
} cs_pam_pass_mode;

typedef struct cs_pam_opts {
    bool debug;
    bool quiet;
    unsigned timeout_sec;  /* timeout=, default 10 */
    const char *lock;      /* lock=logout|reboot; NULL = the config's [session] lock */
    const char *config;    /* config=; NULL = the helper's default */
    const char *helper;    /* helper= */
    cs_pam_pass_mode pass;
} cs_pam_opts;

/* Fills opts from argv; an unknown or malformed argument is logged and
 * ignored (a typo in pam.d must not lock anyone out). */
void cs_pam_parse_opts(pam_handle_t *pamh, int argc, const char **argv, cs_pam_opts *opts);

/* locked.c: one page of mlock()ed memory, kept out of core dumps, wiped
 * with explicit_bzero before it is unmapped. */
void *cs_pam_locked_alloc(size_t len);
void cs_pam_locked_free(void *p, size_t len);

/* run.c: exec cloudseal-helper with a clean environment, send frames on its
 * fd 0, read at most one frame back from its fd 1 into `out` (caller's
 * locked memory), collect its stderr, all under the timeout. */
typedef struct cs_pam_frame {
    const void *data;
    size_t len;
} cs_pam_frame;

typedef struct cs_pam_run {
    const char *command;            /* helper subcommand */
    const char *const *args;        /* extra arguments after --user, NULL-terminated (or NULL) */
    const cs_pam_frame *in;         /* frames to write */
    size_t n_in;
    uint8_t *out;                   /* where the reply frame goes (or NULL) */
    size_t out_cap;
    size_t out_len;                 /* set: bytes of the reply frame received */
    int exit_code;                  /* set: the helper's exit code (protocol.h) */
    char msg[CS_HELPER_MSG_MAX];    /* set: the helper's first line on stderr */
    int result;                     /* set by callers: what cs_pam_run_helper returned */
} cs_pam_run;

/* Returns 0 when the helper ran and exited (see run->exit_code),
 * -ETIMEDOUT when it was killed at the timeout, -ECHILD when it died of a
 * signal, -ENOEXEC when it could not be executed, another -errno when it
 * could not be started. */
int cs_pam_run_helper(pam_handle_t *pamh, const cs_pam_opts *opts, const char *user, cs_pam_run *run);

/* Log the one line a failed helper run deserves, at the right priority.
 * `what` says what did not happen ("keys not unlocked"). */
void cs_pam_log_failure(pam_handle_t *pamh, const cs_pam_opts *opts, const char *user,
                        const char *what, int r, const cs_pam_run *run);

#endif
