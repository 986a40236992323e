/* pam_cloudseal.so: unlock the user's cloudseal keys with the login password.
 *
 *   auth      piggyback after pam_unix: PAM_AUTHTOK -> cloudseal-helper unlock
 *             -> the account key, kept in locked memory with pam_set_data.
 *             Never decides authentication: always PAM_IGNORE.
 *             Password drift (the login password no longer unwraps: changed
 *             outside PAM): ask once for the previous password or recovery
 *             key; the re-wrap to the login password waits for session open,
 *             when the stack has proven the login password right.
 *   session   open: hand the key to the user's @u keyring (helper handoff,
 *             as the user) and wipe our copy; close: helper revoke --session
 *             (revokes only at the user's last session, lock=logout).
 *   password  PAM_UPDATE_AUTHTOK: old + new authtok -> helper rewrap.
 *
 * A failure never blocks anything: one pam_syslog line, and the login goes
 * on.  Does nothing in the systemd-user service (no password, never closed).
 * Links libpam and libc only; the work is in cloudseal-helper. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_cloudseal.h"

#define AMK_DATA_NAME "pam_cloudseal:amk"

/* What auth leaves for session open, in one locked page. */
typedef struct amk_data {
    uint8_t key[CS_HELPER_AMK_BYTES];
    size_t len;
    /* Drift repair: wrap to this login password at session open.  A copy,
     * because libpam clears PAM_AUTHTOK when pam_authenticate returns. */
    int rewrap_pending;
    size_t login_len;
    char login[CS_HELPER_FRAME_MAX];
} amk_data;

/* whole pages, so that mlock and munmap cover exactly the data */
static size_t amk_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    size_t page = p > 0 ? (size_t)p : 4096;

    return (sizeof(amk_data) + page - 1) / page * page;
}

static void amk_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
    (void)pamh;
    (void)error_status;
    cs_pam_locked_free(data, amk_page());
}

/* Parse options and find the user; false when this module has nothing to do
 * here (the systemd-user service, no user). */
static bool applies(pam_handle_t *pamh, int argc, const char **argv, cs_pam_opts *o, const char **user)
{
    const void *service = NULL, *u = NULL;

    cs_pam_parse_opts(pamh, argc, argv, o);
    if (pam_get_item(pamh, PAM_SERVICE, &service) == PAM_SUCCESS && service &&
        strcmp(service, "systemd-user") == 0)
        return false;
    /* never prompt for a user name: the modules before us have set it */
    if (pam_get_item(pamh, PAM_USER, &u) != PAM_SUCCESS || !u || !*(const char *)u) {
        if (o->debug)
            pam_syslog(pamh, LOG_DEBUG, "no user name set by the stack: nothing to do");
        return false;
    }
    *user = u;
    return true;
}

static const char *reason_of(int code)
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
    default: return LOG_ERR;
    }
}

void cs_pam_log_failure(pam_handle_t *pamh, const cs_pam_opts *opts, const char *user,
                        const char *what, int r, const cs_pam_run *run)
{
    const char *msg = run->msg;
    int prio;

    if (r == -ETIMEDOUT) {
        pam_syslog(pamh, LOG_WARNING, "%s for %s: %s did not finish within %u s and was killed; the login goes on",
                   what, user, opts->helper, opts->timeout_sec);
    } else if (r == -ECHILD) {
        pam_syslog(pamh, LOG_ERR, "%s for %s: %s crashed; the login goes on", what, user, opts->helper);
    } else if (r == -ENOEXEC) {
        pam_syslog(pamh, LOG_ERR, "%s for %s: cannot run %s (is cloudseal installed?)", what, user, opts->helper);
    } else if (r < 0) {
        pam_syslog(pamh, LOG_ERR, "%s for %s: cannot start %s: %s", what, user, opts->helper, strerror(-r));
    } else {
        prio = priority_of(run->exit_code);
        if (prio == LOG_DEBUG && !opts->debug)
            return;
        pam_syslog(pamh, prio, "%s for %s: %s%s%s%s", what, user, reason_of(run->exit_code),
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
        run->exit_code == CS_HELPER_DENIED)
        cs_pam_log_failure(pamh, o, user, what, run->result, run);
    else if (o->debug)
        pam_syslog(pamh, LOG_DEBUG, "%s for %s: %s", what, user, reason_of(run->exit_code));
}

static void free_answer(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

/* The login password no longer unwraps the keybag: ask once for the previous
 * password or the recovery key.  The re-wrap itself waits for session open. */
static void repair_drift(pam_handle_t *pamh, const cs_pam_opts *o, int flags, const char *user,
                         const char *login, amk_data *d)
{
    const char *const either[] = { "--secret", "either", NULL };
    char *answer = NULL;
    cs_pam_run run = { .command = "unlock", .args = either, .out = d->key, .out_cap = sizeof(d->key) };
    bool ok;

    if (!(flags & PAM_SILENT) && !o->quiet)
        pam_info(pamh, "Your login password no longer unlocks your cloudseal keys "
                       "(it was changed outside cloudseal).");
    if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer,
                   "Previous password or cloudseal recovery key (Enter to skip): ") != PAM_SUCCESS ||
        !answer || !*answer) {
        free_answer(&answer);
        pam_syslog(pamh, LOG_NOTICE, "keys of %s not unlocked: the login password no longer unwraps them "
                   "and no previous password was given ('cloudseal recover' repairs it)", user);
        return;
    }
    run.in = &(cs_pam_frame){ answer, strlen(answer) };
    run.n_in = 1;
    ok = helper_ok(pamh, o, user, "keys not unlocked (previous password or recovery key)", &run);
    free_answer(&answer);
    if (!ok)
        return;
    d->len = run.out_len;
    d->login_len = strlen(login);
    if (d->login_len > sizeof(d->login)) {
        d->login_len = 0;
        return; /* cannot happen: the helper took it as a frame already */
    }
    memcpy(d->login, login, d->login_len);
    d->rewrap_pending = 1;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    const char *user, *tok = NULL;
    char *prompted = NULL;
    amk_data *d;
    cs_pam_opts o;
    cs_pam_run run = { .command = "unlock" };
    int rr;

    if (!applies(pamh, argc, argv, &o, &user))
        return PAM_IGNORE;
    if (pam_get_item(pamh, PAM_AUTHTOK, (const void **)&tok) != PAM_SUCCESS)
        tok = NULL;
    if ((!tok || !*tok) && o.pass == CS_PASS_TRY_FIRST &&
        pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &prompted, "Password: ") == PAM_SUCCESS)
        tok = prompted;
    if (!tok || !*tok) {
        if (o.debug)
            pam_syslog(pamh, LOG_DEBUG, "no password from the stack for %s: keys stay locked "
                       "('cloudseal unlock' unlocks them later)", user);
        free_answer(&prompted);
        return PAM_IGNORE;
    }
    if (strlen(tok) > CS_HELPER_FRAME_MAX) {
        pam_syslog(pamh, LOG_NOTICE, "keys not unlocked for %s: the password is longer than %d bytes",
                   user, CS_HELPER_FRAME_MAX);
        free_answer(&prompted);
        return PAM_IGNORE;
    }
    d = cs_pam_locked_alloc(amk_page());
    if (!d) {
        pam_syslog(pamh, LOG_ERR, "keys of %s not unlocked: cannot lock memory for them", user);
        free_answer(&prompted);
        return PAM_IGNORE;
    }
    run.in = &(cs_pam_frame){ tok, strlen(tok) };
    run.n_in = 1;
    run.out = d->key;
    run.out_cap = sizeof(d->key);
    rr = cs_pam_run_helper(pamh, &o, user, &run);
    if (rr == 0 && run.exit_code == CS_HELPER_OK) {
        d->len = run.out_len;
    } else if (rr == 0 && run.exit_code == CS_HELPER_WRONG_PASSWORD && !prompted) {
        /* pam_unix accepted this password (in a correct stack we only run
         * after it succeeded), yet it does not unwrap: drift */
        repair_drift(pamh, &o, flags, user, tok, d);
    } else {
        cs_pam_log_failure(pamh, &o, user, "keys not unlocked", rr, &run);
    }
    free_answer(&prompted);
    if (d->len != CS_HELPER_AMK_BYTES ||
        pam_set_data(pamh, AMK_DATA_NAME, d, amk_cleanup) != PAM_SUCCESS) {
        cs_pam_locked_free(d, amk_page());
        return PAM_IGNORE;
    }
    if (o.debug)
        pam_syslog(pamh, LOG_DEBUG, "keys of %s unwrapped; they go to the keyring at session open", user);
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return PAM_IGNORE;
}

/* Drift repair, second half: authentication has succeeded (the session is
 * opening), so the login password is the right one: wrap the keys to it. */
static void finish_drift_repair(pam_handle_t *pamh, const cs_pam_opts *o, const char *user, amk_data *d)
{
    const char *const old_key[] = { "--old", "key", NULL };
    cs_pam_run run = { .command = "rewrap", .args = old_key };

    run.in = (cs_pam_frame[]){ { d->key, d->len }, { d->login, d->login_len } };
    run.n_in = 2;
    if (helper_ok(pamh, o, user, "password drift not repaired", &run))
        pam_syslog(pamh, LOG_NOTICE, "password drift repaired: the keys of %s now open with the login password", user);
    explicit_bzero(d->login, sizeof(d->login));
    d->login_len = 0;
    d->rewrap_pending = 0;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    const char *const with_key[] = { "--session", NULL }, *const no_key[] = { "--session", "--no-key", NULL };
    const char *user;
    const void *data = NULL;
    amk_data *d;
    cs_pam_opts o;
    cs_pam_run run = { .command = "handoff" };
    cs_pam_frame key_frame;
    bool ok;

    if (!applies(pamh, argc, argv, &o, &user))
        return PAM_IGNORE;
    if (pam_get_data(pamh, AMK_DATA_NAME, &data) != PAM_SUCCESS)
        data = NULL;
    d = (amk_data *)data;
    if (d && d->rewrap_pending)
        finish_drift_repair(pamh, &o, user, d);
    /* Without a key (no password, e.g. an SSH key login) the session is still
     * recorded, so that a later 'cloudseal unlock' is not revoked by another
     * session's logout while this one is open. */
    run.args = d ? with_key : no_key;
    if (d) {
        key_frame = (cs_pam_frame){ d->key, d->len };
        run.in = &key_frame;
        run.n_in = 1;
    }
    /* Without a key, whatever went wrong was reported by auth already (or
     * the user is not enrolled): one line per login is enough. */
    ok = helper_ok(pamh, &o, user, d ? "keys not handed to the keyring" : NULL, &run);
    if (!ok && !d && o.debug)
        cs_pam_log_failure(pamh, &o, user, "session not recorded", run.result, &run);
    /* our copy is no longer needed either way: wipe it now (cleanup runs) */
    if (d)
        pam_set_data(pamh, AMK_DATA_NAME, NULL, NULL);
    if (ok && d && !o.quiet)
        pam_syslog(pamh, LOG_INFO, "keys of %s unlocked into the user keyring", user);
    return ok && d ? PAM_SUCCESS : PAM_IGNORE;
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

    /* PAM_PRELIM_CHECK: nothing to check that would be worth a KDF run */
    if (!(flags & PAM_UPDATE_AUTHTOK) || !applies(pamh, argc, argv, &o, &user))
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
