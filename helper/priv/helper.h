/* SPDX-License-Identifier: MIT */
/* Shared pieces of cloudseal-helper, the privileged steps pam_cloudseal.so
 * (and system units) exec.  See protocol.h for the wire format. */
#ifndef CS_HELPER_HELPER_H
#define CS_HELPER_HELPER_H

#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config/config.h"
#include "account/account.h"
#include "util/macros.h"
#include "crypto/keys.h"
#include "util/secmem.h"
#include "util/verbs.h"
#include "basic/helper_protocol.h"

typedef struct helper_globals {
    const char *config_path; /* --config; NULL = the default path */
    bool debug;
    unsigned timeout_sec;    /* --timeout: the whole run is bounded by alarm() */
} helper_globals;

extern helper_globals helper;

/* The configuration, loaded once; exits CS_HELPER_CONFIG when invalid. */
const cs_config *helper_config(void);

/* Map a negative errno from lib/ to an exit code of protocol.h. */
int helper_exit_code(int r);
/* The words a person reads for an exit code ("wrong password", ...). */
const char *helper_exit_reason(int code);

/* Framing on fds (protocol.h).  Reading a frame longer than max is -EMSGSIZE;
 * a short stream is -EPROTO. */
int helper_read_secret(int fd, cs_secret **out);
int helper_read_amk(int fd, cs_amk **out);
int helper_write_frame(int fd, const void *data, size_t len);

/* Resolve and vet --user: a name of a known account, and the caller's own
 * name unless the caller is root.  Returns 0 or an exit code (and logs). */
int helper_resolve_user(const char *name, struct passwd *pw, char *buf, size_t buflen);

/* Run fn(arg) as the user (a forked child that drops to the user's uid and
 * gid with an empty group list),
 * or directly when we already are that uid.  Returns fn's result (0 or a
 * negative errno); -ECHILD when the child died abnormally. */
int helper_as_user(const struct passwd *pw, int (*fn)(void *), void *arg);

/* Session bookkeeping for lock = logout (sessions.c): one entry per open
 * session, identified by the PAM application's pid and start time.
 * add returns the number of live sessions after adding; remove removes the
 * caller's entry, drops entries of processes that are gone, and returns the
 * number of live sessions left.  Both are root-only (-EPERM otherwise). */
int helper_session_add(const cs_config *cfg, const char *user);
int helper_session_remove(const cs_config *cfg, const char *user);

/* Wait (at most half of --timeout) until no other helper derives a
 * password for user, then hold that until exit; root only, a no-op for
 * other callers.  0, -EBUSY when the wait ran out, or -errno.  userlock.c. */
int helper_serialise_user(const cs_config *cfg, const char *user);

/* Unwrap with a secret of the given kind: "password", "recovery" or
 * "either" (recovery code tried first: it fails fast when the text is not
 * one).  Flags as cs_account_unlock.  cmd_unlock.c. */
int helper_unlock_kind(const cs_config *cfg, const char *user, const cs_secret *secret,
                       const char *kind, int flags, cs_amk **amk);
/* The same for a keybag that must be the expected account's (fleet). */
int helper_unlock_expect(const cs_config *cfg, const char *user, const cs_secret *secret, const char *kind,
                         int flags, const cs_account_expect *expect, cs_amk **amk);

/* A password unlock (cs_account_unlock_expect) that also asks the
 * security key when the account's policy is both.  security_key.c. */
int helper_unlock_password(const cs_config *cfg, const char *user, const cs_secret *password, int flags,
                           const cs_account_expect *expect, cs_amk **amk);

/* Store the AMK in the user's @u keyring as the user (cmd_handoff.c);
 * key_timeout 0 = never expires.  0 or -errno. */
int helper_store_key(const struct passwd *pw, const char *account_id, const cs_amk *amk,
                     unsigned key_timeout);
/* After checking that amk is user's account key: record the caller's
 * session (session), store amk in the user's @u (amk NULL: only the
 * session; with tell_locked CS_HELPER_NO_KEY when @u holds no key).  An
 * exit code of protocol.h (cmd_handoff.c). */
int helper_give_key(const struct passwd *pw, const char *user, const cs_amk *amk, bool session,
                    unsigned timeout, bool tell_locked);
/* Wrap the password slot to password, as the user, like `cloudseal enroll`
 * wrote the keybag (cmd_rewrap.c).  0 or -errno. */
int helper_set_password(const struct passwd *pw, const char *user, const cs_amk *amk,
                        const cs_secret *password);
/* Root: create the directories the user's own `cloudseal enroll` needs
 * (cmd_prepare.c); what went wrong is logged at log_priority.  -EPERM when
 * not root; nothing for system accounts (uid < 1000). */
int helper_prepare_user(const cs_config *cfg, const struct passwd *pw, int log_priority);
/* Record the caller's session of user (lock = logout bookkeeping); root
 * only, a failure is logged and otherwise ignored (cmd_handoff.c). */
void helper_record_session(const char *user);

/* Fleet users (cmd_fleet_check.c), from the local directory cache only (so
 * that logins work offline).  Return an exit code of protocol.h and log why
 * when it is not CS_HELPER_OK:
 *   status: may the user log in at all?  OK (in the directory, enabled,
 *           directory not expired), NOT_IN_FLEET, FLEET_DENIED, INTERNAL;
 *   check_amk: is the account key derived from amk the pinned one?  OK,
 *           NOT_PINNED, or as status. */
int helper_fleet_status(const char *user);
int helper_fleet_check_amk(const char *user, const cs_amk *amk);
/* What cs_account_unlock_expect must prove of a fleet user's keybag before
 * storage's copy is trusted: the pinned key.  An exit code as check_amk. */
/* The user's NSS entry (what login(1) will use) has the uid and gid the
 * installed directory gives: no local account shadows the fleet user. */
int helper_fleet_nss_check(const char *user);
int helper_fleet_expect(const char *user, cs_account_expect *e);

/* The verbs (commands.def).  They parse their options with cs_verb_getopt()
 * (util/verbs.h); helper_opt_exit() is the exit code for what it returned
 * and the verb did not take: 0 after --help, CS_HELPER_USAGE else. */
#define HELPER_COMMAND(name, min, max, flags, fn, summary, usage) int fn(int argc, char **argv);
#include "commands.def"
#undef HELPER_COMMAND
int helper_opt_exit(int c);

#endif
