/* SPDX-License-Identifier: MIT */
/* Internals of pam_cloudseal.so (libpam and libc only; nothing of lib/).
 * Nothing here is exported: exports.map keeps only pam_sm_*. */
#ifndef CS_PAM_CLOUDSEAL_H
#define CS_PAM_CLOUDSEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <security/pam_modules.h>

#include "basic/helper_protocol.h"

#ifndef CS_LIBEXECDIR
#define CS_LIBEXECDIR "/usr/libexec/cloudseal"
#endif
#define CS_PAM_DEFAULT_HELPER CS_LIBEXECDIR "/cloudseal-helper"
#define CS_PAM_DEFAULT_CONFIG "/etc/cloudseal/cloudseal.conf" /* == CS_CONFIG_DEFAULT_PATH */

/* options.c: the module arguments of one pam.d line */
typedef enum cs_pam_pass_mode {
    CS_PASS_USE_FIRST, /* default: PAM_AUTHTOK or nothing, never prompt */
    CS_PASS_TRY_FIRST, /* PAM_AUTHTOK, else prompt for the password */
} cs_pam_pass_mode;

typedef enum cs_pam_park_mode {
    CS_PARK_AUTO, /* park at auth when the service is sshd */
    CS_PARK_ON,
    CS_PARK_OFF,
} cs_pam_park_mode;

typedef struct cs_pam_opts {
    bool authoritative;    /* fleet users: decide authentication (see pam_cloudseal(8)) */
    bool pass_explicit;    /* use_first_pass or try_first_pass was given */
    bool debug;
    bool quiet;
    unsigned timeout_sec;  /* timeout=, default 10 */
    const char *lock;      /* lock=logout|reboot; NULL = the config's [session] lock */
    const char *config;    /* config=; NULL = the helper's default */
    const char *helper;    /* helper= */
    cs_pam_pass_mode pass;
    cs_pam_park_mode park; /* park / nopark; default: only for sshd */
    unsigned park_timeout; /* park_timeout=, default 20 */
    unsigned prompt_timeout; /* prompt_timeout=, default 60: what each prompt of the
                              * helper adds (run.c, helper_protocol.h) */
} cs_pam_opts;

/* Fills opts from argv; an unknown or malformed argument is logged and
 * ignored (a typo in pam.d must not lock anyone out). */
void cs_pam_parse_opts(pam_handle_t *pamh, int argc, const char **argv, cs_pam_opts *opts);

/* locked.c: one page of mlock()ed memory, kept out of core dumps and out
 * of children forked by the application, wiped with explicit_bzero before
 * it is unmapped. */
void *cs_pam_locked_alloc(size_t len);
void cs_pam_locked_free(void *p, size_t len);

/* stash.c: what auth leaves for session open, in one locked page kept with
 * pam_set_data and wiped by its cleanup (pam_end) or at session open.
 * It belongs to the user auth ran for: sudo -u B authenticates A and then
 * sets PAM_USER to B, a login retry loop may change the user; a stash whose
 * user is not the current PAM_USER is never used (cs_pam_stash_get). */
#define CS_PAM_USER_MAX 256 /* LOGIN_NAME_MAX, with its NUL */

typedef enum cs_pam_stash_kind {
    CS_STASH_PASSWORD = 1, /* piggyback: the login password, unwrapped at session open */
    CS_STASH_KEY = 2,      /* authoritative: the account key, already checked */
} cs_pam_stash_kind;

typedef struct cs_pam_stash {
    cs_pam_stash_kind kind;
    /* password: it came from the stack (PAM_AUTHTOK), which accepted it, not
     * from our own prompt: a password that does not unwrap is drift */
    bool from_stack;
    /* key: the authoritative auth step checked the user against the fleet
     * directory (the account hook need not ask again) */
    bool fleet_checked;
    /* key: the password an administrator set (helper exit 21): the account
     * hook returns PAM_NEW_AUTHTOK_REQD until chauthtok replaced it */
    bool password_expired;
    char user[CS_PAM_USER_MAX]; /* whose password or key it is */
    size_t len;
    uint8_t data[CS_HELPER_FRAME_MAX];
} cs_pam_stash;

/* A zeroed stash for user in locked memory, NULL when memory cannot be
 * locked (or the name is longer than CS_PAM_USER_MAX - 1). */
cs_pam_stash *cs_pam_stash_new(const char *user);
void cs_pam_stash_free(cs_pam_stash *s);
/* Hand it to the PAM handle (freed on failure).  PAM_SUCCESS or an error. */
int cs_pam_stash_keep(pam_handle_t *pamh, cs_pam_stash *s);
/* The handle's stash if it was made for the current PAM_USER, or NULL.  A
 * stash of another user is wiped and forgotten here (logged once). */
cs_pam_stash *cs_pam_stash_get(pam_handle_t *pamh);
/* Wipe and forget the handle's stash now. */
void cs_pam_stash_drop(pam_handle_t *pamh);

/* pam_cloudseal.c, shared with fleet.c */
const char *cs_pam_reason(int exit_code);
/* The password the stack has (PAM_AUTHTOK), else with try_first_pass a
 * prompt (*prompted is then set and must be freed with cs_pam_free_answer).
 * NULL when there is none. */
const char *cs_pam_password(pam_handle_t *pamh, const cs_pam_opts *o, char **prompted);
void cs_pam_free_answer(char **s);

/* fleet.c: option authoritative (fleet users without a local password hash) */
int cs_pam_fleet_authenticate(pam_handle_t *pamh, int flags, const cs_pam_opts *o, const char *user);
/* account: PAM_NEW_AUTHTOK_REQD while the password is one an administrator set */
int cs_pam_fleet_account(pam_handle_t *pamh, int flags, const cs_pam_opts *o, const char *user);
/* password: the fleet user's own password change (passwd, or the change an
 * expired password forces at login); marks the handle so that the
 * piggyback line does not re-wrap a second time (cs_pam_rewrapped). */
int cs_pam_fleet_chauthtok(pam_handle_t *pamh, int flags, const cs_pam_opts *o, const char *user);
bool cs_pam_rewrapped(pam_handle_t *pamh);

/* park.c: sshd's keyboard-interactive authenticates in a child process and
 * opens the session in its parent, so the stash does not reach the session.
 * The auth step parks the key in root's keyring (cloudseal-helper park) and
 * leaves only a handle in the PAM environment, which sshd carries to the
 * parent; the session step collects it and removes the handle.
 * cs_pam_park: true when the key (kind "password": unwrapped by the helper
 * from the password; "key": as is) was parked; false when parking does not
 * apply here or failed (logged). */
bool cs_pam_park_applies(pam_handle_t *pamh, const cs_pam_opts *o); /* sshd, or option park */
bool cs_pam_park(pam_handle_t *pamh, const cs_pam_opts *o, const char *user, const char *kind,
                 const void *data, size_t len);
/* 1 the parked key reached the user's @u (and the session is recorded), 0
 * it did not (logged), -1 no handle in the PAM environment.  The handle is
 * removed from the PAM environment in every case. */
int cs_pam_collect(pam_handle_t *pamh, const cs_pam_opts *o, const char *user);

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
    long long allowed_ms;           /* set: how long the helper was allowed: timeout_sec, plus
                                     * what its prompts added (up to prompt_timeout) */
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
