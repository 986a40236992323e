/* SPDX-License-Identifier: MIT */
/* pam_cloudseal.so: unlock the user's cloudseal keys with the login password.
 *
 *   auth      piggyback after pam_unix: keeps PAM_AUTHTOK in locked memory
 *             (pam_set_data) for session open; no helper run, so sudo,
 *             polkit and screen lockers that authenticate without opening a
 *             session pay nothing.  Never decides authentication: always
 *             PAM_IGNORE.
 *             With option authoritative (fleet.c): fleet users without a
 *             local password hash; decides, from the keybag and the signed
 *             fleet directory's pinned key.
 *   account   authoritative only: is the fleet user enabled (fleet.c); a
 *             password an administrator set is expired (PAM_NEW_AUTHTOK_REQD).
 *             Also in systemd-user: a fleet user's user manager needs it.
 *   session   open: ONE helper run (login) unwraps with the kept password
 *             and hands the key to the user's @u keyring; password drift
 *             (the login password no longer unwraps: changed outside PAM):
 *             ask once through the conversation for the previous password
 *             or recovery key, then the helper re-wraps to the login
 *             password, which the stack has accepted by now.
 *             close: helper revoke --session (revokes only at the user's
 *             last session, lock=logout).
 *   password  PAM_UPDATE_AUTHTOK: old + new authtok -> helper rewrap.
 *             With option authoritative: the fleet user's own change
 *             (asks for what the stack lacks; the key of this handle's
 *             login stands for the old password: fleet.c).
 *
 * Outside authoritative mode a failure never blocks anything: one pam_syslog
 * line, and the login goes on.  In the systemd-user service (no password,
 * never closed) only the authoritative account step runs.  Links libpam and
 * libc only; the work is in cloudseal-helper. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_cloudseal.h"
#include "basic/user_name.h"

/* The user the modules before us have set (never prompt for a name). */
static bool stack_user(pam_handle_t *pamh, const cs_pam_opts *o, const char **user)
{
    const void *u = NULL;

    if (pam_get_item(pamh, PAM_USER, &u) != PAM_SUCCESS || !u || !*(const char *)u) {
        if (o->debug)
            pam_syslog(pamh, LOG_DEBUG, "no user name set by the stack: nothing to do");
        return false;
    }
    if (!cs_user_name_valid(u, CS_USER_NAME_LOGIN)) {
        /* the helper would refuse it (cloudseal-helper(8)): never run it */
        if (o->debug)
            pam_syslog(pamh, LOG_DEBUG, "'%s' is not a login name cloudseal serves: nothing to do",
                       (const char *)u);
        return false;
    }
    *user = u;
    return true;
}

/* Find the user; false when this module has nothing to do here (the
 * systemd-user service: no password, never closed; no user). */
static bool applies_to(pam_handle_t *pamh, const cs_pam_opts *o, const char **user)
{
    const void *service = NULL;

    if (pam_get_item(pamh, PAM_SERVICE, &service) == PAM_SUCCESS && service &&
        strcmp(service, "systemd-user") == 0)
        return false;
    return stack_user(pamh, o, user);
}

static bool applies(pam_handle_t *pamh, int argc, const char **argv, cs_pam_opts *o, const char **user)
{
    cs_pam_parse_opts(pamh, argc, argv, o);
    return applies_to(pamh, o, user);
}

const char *cs_pam_reason(int code)
{
    switch (code) {
    case CS_HELPER_WRONG_PASSWORD: return "the password does not unwrap them";
    case CS_HELPER_NOT_ENROLLED: return "user not enrolled";
    case CS_HELPER_CORRUPT: return "the keybag is corrupt or was tampered with";
    case CS_HELPER_ROLLBACK: return "the keybag is older than one seen before (rollback refused)";
    case CS_HELPER_UNAVAILABLE: return "storage unreachable and no cached keybag";
    case CS_HELPER_DENIED: return "the helper refused to act for this user";
    case CS_HELPER_NO_KEY: return "no key in the keyring";
    case CS_HELPER_USAGE: return "the helper rejected its arguments (version mismatch?)";
    case CS_HELPER_NOT_IN_FLEET: return "not a user of the fleet directory";
    case CS_HELPER_FLEET_DENIED: return "refused by the fleet directory (disabled, no approved key, or expired directory)";
    case CS_HELPER_NOT_PINNED: return "the keybag belongs to another account than the one the fleet directory pins (planted keybag?)";
    case CS_HELPER_PASSWORD_EXPIRED: return "unlocked, but the password was set by an administrator and must be changed";
    case CS_HELPER_WRONG_ACCOUNT: return "the key is another account's, not this user's (refused)";
    case CS_HELPER_CONFIG: return "invalid or unreadable configuration file";
    case CS_HELPER_SECURITY_KEY: return "the keys need the security key too, and it did not answer";
    default: return "internal error in the helper";
    }
}

static int priority_of(int code)
{
    switch (code) {
    case CS_HELPER_WRONG_PASSWORD: return LOG_NOTICE;
    case CS_HELPER_NOT_ENROLLED: case CS_HELPER_NO_KEY: return LOG_DEBUG;
    case CS_HELPER_UNAVAILABLE: return LOG_WARNING;
    case CS_HELPER_ROLLBACK: return LOG_CRIT; /* someone may be replaying an old keybag */
    case CS_HELPER_NOT_PINNED: return LOG_CRIT; /* someone may have planted a keybag */
    case CS_HELPER_NOT_IN_FLEET: return LOG_DEBUG;
    case CS_HELPER_FLEET_DENIED: return LOG_NOTICE;
    case CS_HELPER_SECURITY_KEY: return LOG_NOTICE; /* a person without their key, not a fault */
    default: return LOG_ERR;
    }
}

void cs_pam_log_failure(pam_handle_t *pamh, const cs_pam_opts *opts, const char *user,
                        const char *what, int r, const cs_pam_run *run)
{
    const char *msg = run->msg;
    /* outside authoritative mode nothing is blocked; in it, nothing passes */
    const char *after = opts->authoritative ? "fails closed" : "the login goes on";
    int prio;

    long long added = run->allowed_ms - (long long)opts->timeout_sec * 1000;

    if (r == -ETIMEDOUT && added > 0) { /* a prompt gave it more: say the real bound */
        pam_syslog(pamh, LOG_WARNING, "%s for %s: %s did not finish within %lld.%lld s (timeout=%u s, "
                   "prompts added %lld.%lld s, at most prompt_timeout=%u s) and was killed; %s", what, user,
                   opts->helper, run->allowed_ms / 1000, run->allowed_ms % 1000 / 100, opts->timeout_sec,
                   added / 1000, added % 1000 / 100, opts->prompt_timeout, after);
    } else if (r == -ETIMEDOUT) {
        pam_syslog(pamh, LOG_WARNING, "%s for %s: %s did not finish within %u s and was killed; %s",
                   what, user, opts->helper, opts->timeout_sec, after);
    } else if (r == -ECHILD) {
        pam_syslog(pamh, LOG_ERR, "%s for %s: %s crashed; %s", what, user, opts->helper, after);
    } else if (r == -ENOEXEC) {
        pam_syslog(pamh, LOG_ERR, "%s for %s: cannot run %s (is cloudseal installed?)", what, user, opts->helper);
    } else if (r < 0) {
        pam_syslog(pamh, LOG_ERR, "%s for %s: cannot start %s: %s", what, user, opts->helper, strerror(-r));
    } else if (run->exit_code == CS_HELPER_CONFIG) {
        /* never a guess: the helper's line names the file, line and form */
        pam_syslog(pamh, LOG_ERR, "%s for %s: %s %s: fix it (cloudseal.conf(5)); %s%s%s%s", what, user,
                   cs_pam_reason(run->exit_code), opts->config ? opts->config : CS_PAM_DEFAULT_CONFIG, after,
                   *msg ? " [" : "", msg, *msg ? "]" : "");
    } else {
        prio = priority_of(run->exit_code);
        if (prio == LOG_DEBUG && !opts->debug)
            return;
        pam_syslog(pamh, prio, "%s for %s: %s%s%s%s", what, user, cs_pam_reason(run->exit_code),
                   *msg ? " [" : "", msg, *msg ? "]" : "");
    }
}

/* Run `command` with the given frames; true when the helper said ok.
 * With `what`, a failure is logged; run->result keeps the run's result. */
static bool helper_ok(pam_handle_t *pamh, const cs_pam_opts *o, const char *user, const char *what,
                      cs_pam_run *run)
{
    int r = cs_pam_run_helper(pamh, o, user, run);

    run->result = r;
    if (r == 0 && run->exit_code == CS_HELPER_OK)
        return true;
    if (what)
        cs_pam_log_failure(pamh, o, user, what, r, run);
    return false;
}

/* For steps whose keybag errors the auth step has reported already: log
 * only a helper that could not run, crashed, hung or failed internally
 * (and everything with debug). */
static void log_helper_breakage(pam_handle_t *pamh, const cs_pam_opts *o, const char *user,
                                const char *what, const cs_pam_run *run)
{
    if (run->result < 0 || run->exit_code == CS_HELPER_INTERNAL || run->exit_code == CS_HELPER_USAGE ||
        run->exit_code == CS_HELPER_DENIED || run->exit_code == CS_HELPER_CONFIG)
        cs_pam_log_failure(pamh, o, user, what, run->result, run);
    else if (o->debug)
        pam_syslog(pamh, LOG_DEBUG, "%s for %s: %s", what, user, cs_pam_reason(run->exit_code));
}

void cs_pam_free_answer(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

const char *cs_pam_password(pam_handle_t *pamh, const cs_pam_opts *o, char **prompted)
{
    const void *tok = NULL;

    *prompted = NULL;
    if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS)
        tok = NULL;
    if ((!tok || !*(const char *)tok) && o->pass == CS_PASS_TRY_FIRST &&
        pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, prompted, "Password: ") == PAM_SUCCESS)
        tok = *prompted;
    return tok && *(const char *)tok ? tok : NULL;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    const char *user, *tok;
    char *prompted = NULL;
    cs_pam_stash *st;
    cs_pam_opts o;
    size_t len;

    cs_pam_parse_opts(pamh, argc, argv, &o);
    if (o.authoritative)
        return cs_pam_fleet_authenticate(pamh, flags, &o, NULL);
    if (!applies_to(pamh, &o, &user))
        return PAM_IGNORE;
    /* an authoritative line of this stack has unwrapped the key already; a
     * password kept by an earlier pam_authenticate of this handle (a screen
     * locker asking again) is wiped now and replaced by the current one */
    st = cs_pam_stash_get(pamh);
    if (st && st->kind == CS_STASH_KEY)
        return PAM_IGNORE;
    cs_pam_stash_drop(pamh);
    tok = cs_pam_password(pamh, &o, &prompted);
    if (!tok) {
        if (o.debug)
            pam_syslog(pamh, LOG_DEBUG, "no password from the stack for %s: keys stay locked "
                       "('cloudseal unlock' unlocks them later)", user);
        cs_pam_free_answer(&prompted);
        return PAM_IGNORE;
    }
    len = strlen(tok);
    if (len > CS_HELPER_FRAME_MAX) {
        pam_syslog(pamh, LOG_NOTICE, "keys not unlocked for %s: the password is longer than %d bytes",
                   user, CS_HELPER_FRAME_MAX);
        cs_pam_free_answer(&prompted);
        return PAM_IGNORE;
    }
    /* sshd: the session may open in another process (park.c); a password
     * that does not unwrap is kept as before (drift repair in-process) */
    if (cs_pam_park(pamh, &o, user, "password", tok, len)) {
        cs_pam_free_answer(&prompted);
        return PAM_IGNORE;
    }
    st = cs_pam_stash_new(user);
    if (!st) {
        pam_syslog(pamh, LOG_ERR, "keys of %s not unlocked: cannot lock memory for the password", user);
        cs_pam_free_answer(&prompted);
        return PAM_IGNORE;
    }
    st->kind = CS_STASH_PASSWORD;
    /* pam_unix accepted PAM_AUTHTOK before us (in a correct stack we run
     * only after it succeeded); our own prompt's answer nobody checked */
    st->from_stack = !prompted;
    st->len = len;
    memcpy(st->data, tok, len);
    cs_pam_free_answer(&prompted);
    if (cs_pam_stash_keep(pamh, st) != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "keys of %s not unlocked: cannot keep the password for session open", user);
        return PAM_IGNORE;
    }
    if (o.debug)
        pam_syslog(pamh, LOG_DEBUG, "password of %s kept: the keys are unwrapped at session open", user);
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    const char *user;
    cs_pam_opts o;

    cs_pam_parse_opts(pamh, argc, argv, &o);
    if (!o.authoritative)
        return PAM_IGNORE; /* the piggyback module has no say in accounts */
    /* Also in systemd-user: user@.service runs this account stack, where
     * pam_unix does not know a fleet user and pam_deny follows us, so only
     * our yes starts the user manager (and it must stay a no for a disabled
     * user).  No user: nobody to say yes for. */
    if (!stack_user(pamh, &o, &user))
        return PAM_USER_UNKNOWN;
    return cs_pam_fleet_account(pamh, flags, &o, user);
}

/* Password drift: the login password (accepted by the stack) no longer
 * unwraps the keybag.  Ask once for the previous password or the recovery
 * key; the helper unwraps with it, re-wraps to the login password and hands
 * the key off, in one run.  True when the key reached the keyring. */
static bool repair_drift(pam_handle_t *pamh, const cs_pam_opts *o, int flags, const char *user,
                         const cs_pam_stash *st)
{
    const char *const previous[] = { "--previous", NULL };
    char *answer = NULL;
    cs_pam_run run = { .command = "login", .args = previous };
    bool ok;

    if (!(flags & PAM_SILENT) && !o->quiet)
        pam_info(pamh, "Your login password no longer unlocks your cloudseal keys "
                       "(it was changed outside cloudseal).");
    if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer,
                   "Previous password or cloudseal recovery key (Enter to skip): ") != PAM_SUCCESS ||
        !answer || !*answer) {
        cs_pam_free_answer(&answer);
        pam_syslog(pamh, LOG_NOTICE, "keys of %s not unlocked: the login password no longer unwraps them "
                   "and no previous password was given ('cloudseal recover' repairs it)", user);
        return false;
    }
    if (strlen(answer) > CS_HELPER_FRAME_MAX) {
        cs_pam_free_answer(&answer);
        pam_syslog(pamh, LOG_NOTICE, "keys of %s not unlocked: the previous password is too long", user);
        return false;
    }
    run.in = (cs_pam_frame[]){ { st->data, st->len }, { answer, strlen(answer) } };
    run.n_in = 2;
    ok = helper_ok(pamh, o, user, "password drift not repaired (previous password or recovery key)", &run);
    cs_pam_free_answer(&answer);
    if (ok)
        pam_syslog(pamh, LOG_NOTICE, "password drift repaired: the keys of %s now open with the login password", user);
    return ok;
}

/* The piggyback session step: one helper run unwraps with the kept
 * password and hands the key off (and records the session). */
static bool login_with_password(pam_handle_t *pamh, const cs_pam_opts *o, int flags, const char *user,
                                const cs_pam_stash *st)
{
    const char *const session[] = { "--session", NULL };
    cs_pam_run run = { .command = "login", .args = session };
    int r;

    run.in = &(cs_pam_frame){ st->data, st->len };
    run.n_in = 1;
    r = cs_pam_run_helper(pamh, o, user, &run);
    if (r == 0 && run.exit_code == CS_HELPER_OK)
        return true;
    if (r == 0 && run.exit_code == CS_HELPER_WRONG_PASSWORD && st->from_stack)
        return repair_drift(pamh, o, flags, user, st);
    cs_pam_log_failure(pamh, o, user, "keys not unlocked", r, &run);
    return false;
}

/* A login without a password (an SSH key): the keys stay locked.  sshd
 * shows session-time messages on interactive (pty) sessions only, never to
 * scp, sftp or a command: that is where the user can act on it. */
static void hint_locked(pam_handle_t *pamh, const cs_pam_opts *o, int flags)
{
    if (!(flags & PAM_SILENT) && !o->quiet)
        pam_info(pamh, "Your cloudseal keys are locked (this login gave no password to unlock them): "
                       "run 'cloudseal unlock' to unlock them.");
}

/* The key itself (authoritative auth unwrapped it), or no key at all. */
static bool handoff(pam_handle_t *pamh, const cs_pam_opts *o, int flags, const char *user, const cs_pam_stash *st)
{
    const char *const with_key[] = { "--session", NULL }, *const no_key[] = { "--session", "--no-key", NULL },
                      *const tell[] = { "--session", "--no-key", "--tell-locked", NULL };
    cs_pam_run run = { .command = "handoff",
                       .args = st ? with_key : cs_pam_park_applies(pamh, o) ? tell : no_key };
    cs_pam_frame key_frame; /* not a compound literal in the if: it must outlive the block */
    bool ok;

    if (st) {
        key_frame = (cs_pam_frame){ st->data, st->len };
        run.in = &key_frame;
        run.n_in = 1;
    }
    /* Without a key, whatever went wrong was reported by auth already (or
     * the user is not enrolled): one line per login is enough. */
    ok = helper_ok(pamh, o, user, st ? "keys not handed to the keyring" : NULL, &run);
    if (!st && run.result == 0 && run.exit_code == CS_HELPER_NO_KEY) {
        hint_locked(pamh, o, flags);
        return true;
    }
    if (!ok && !st && o->debug)
        cs_pam_log_failure(pamh, o, user, "session not recorded", run.result, &run);
    return ok;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    const char *user;
    cs_pam_stash *st;
    cs_pam_opts o;
    bool ok, had_stash;

    if (!applies(pamh, argc, argv, &o, &user))
        return PAM_IGNORE;
    /* a key parked by auth in another process (sshd: park.c) */
    if (cs_pam_collect(pamh, &o, user) == 1) {
        cs_pam_stash_drop(pamh);
        if (!o.quiet)
            pam_syslog(pamh, LOG_INFO, "keys of %s unlocked into the user keyring", user);
        return PAM_SUCCESS;
    }
    st = cs_pam_stash_get(pamh);
    had_stash = st != NULL;
    /* Without a password (an SSH key login) the session is still recorded,
     * so that a later 'cloudseal unlock' is not revoked by another session's
     * logout while this one is open. */
    if (st && st->kind == CS_STASH_PASSWORD)
        ok = login_with_password(pamh, &o, flags, user, st);
    else
        ok = handoff(pamh, &o, flags, user, st && st->kind == CS_STASH_KEY && st->len == CS_HELPER_AMK_BYTES ? st : NULL);
    /* our copy is no longer needed either way: wipe it now */
    cs_pam_stash_drop(pamh);
    if (ok && had_stash && !o.quiet)
        pam_syslog(pamh, LOG_INFO, "keys of %s unlocked into the user keyring", user);
    return ok && had_stash ? PAM_SUCCESS : PAM_IGNORE;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    const char *args[4] = { "--session", NULL, NULL, NULL };
    const char *user;
    cs_pam_opts o;
    cs_pam_run run = { .command = "revoke", .args = args };

    if (!applies(pamh, argc, argv, &o, &user))
        return PAM_IGNORE;
    if (o.lock) {
        args[1] = "--lock";
        args[2] = o.lock;
    }
    if (helper_ok(pamh, &o, user, NULL, &run))
        return PAM_SUCCESS;
    log_helper_breakage(pamh, &o, user, "key not revoked at session close", &run);
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    const char *const old_pw[] = { "--old", "password", NULL };
    const char *user, *old_tok = NULL, *new_tok = NULL;
    cs_pam_opts o;
    cs_pam_run run = { .command = "rewrap", .args = old_pw };

    if (!applies(pamh, argc, argv, &o, &user))
        return PAM_IGNORE;
    if (o.authoritative)
        return cs_pam_fleet_chauthtok(pamh, flags, &o, user);
    /* PAM_PRELIM_CHECK: nothing to check that would be worth a KDF run;
     * the authoritative line of this stack may have re-wrapped already */
    if (!(flags & PAM_UPDATE_AUTHTOK) || cs_pam_rewrapped(pamh))
        return PAM_IGNORE;
    if (pam_get_item(pamh, PAM_AUTHTOK, (const void **)&new_tok) != PAM_SUCCESS || !new_tok || !*new_tok)
        return PAM_IGNORE;
    if (pam_get_item(pamh, PAM_OLDAUTHTOK, (const void **)&old_tok) != PAM_SUCCESS || !old_tok || !*old_tok) {
        /* root changing someone's password: no old one to unwrap with */
        if (o.debug)
            pam_syslog(pamh, LOG_DEBUG, "password of %s changed without the old one: its keys will ask for "
                       "the previous password at the next login", user);
        return PAM_IGNORE;
    }
    run.in = (cs_pam_frame[]){ { old_tok, strlen(old_tok) }, { new_tok, strlen(new_tok) } };
    run.n_in = 2;
    if (!helper_ok(pamh, &o, user, "keys not re-wrapped to the new password", &run))
        return PAM_IGNORE;
    if (!o.quiet)
        pam_syslog(pamh, LOG_INFO, "keys of %s re-wrapped to the new password", user);
    return PAM_SUCCESS;
}
