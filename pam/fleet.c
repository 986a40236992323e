/* SPDX-License-Identifier: MIT */
/* Option authoritative: password login of fleet users, who have no local
 * password hash (their passwd entry comes from the signed fleet directory
 * through libnss_cloudseal).
 *
 * Success only when the keybag unwraps with the password AND the account
 * public key derived from the unwrapped key is the one the directory pins
 * for this enabled user: the helper (`unlock --fleet`) checks both, against
 * the cached keybag and the cached directory, so it works offline.  Anyone
 * who can write the bucket can plant a keybag under a password of their
 * choice; only the pinned key tells it apart.
 *
 * Fails closed: anything but the helper's explicit yes (crash, timeout,
 * garbage) is a refusal.  Return codes, for a stack that lets other modules
 * decide about the rest (pam-auth-update profile cloudseal-fleet):
 *   PAM_SUCCESS           the fleet user proved the password
 *   PAM_USER_UNKNOWN      not a fleet user: the stack's other modules decide
 *   PAM_AUTH_ERR          a fleet user, refused (wrong password, disabled,
 *                         planted keybag, not enrolled, corrupt keybag)
 *   PAM_AUTHINFO_UNAVAIL  could not tell (helper failed, storage down and
 *                         no cached keybag): refused as well */
#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_cloudseal.h"

/* How a refusal is logged: a planted keybag or a rollback is an attack. */
static int refusal_priority(int code)
{
    switch (code) {
    case CS_HELPER_NOT_PINNED: case CS_HELPER_ROLLBACK: return LOG_CRIT;
    case CS_HELPER_CORRUPT: return LOG_ERR;
    default: return LOG_NOTICE;
    }
}

static int auth_result(pam_handle_t *pamh, const cs_pam_opts *o, const char *user, int r,
                       const cs_pam_run *run)
{
    if (r < 0) {
        cs_pam_log_failure(pamh, o, user, "fleet login refused", r, run);
        return PAM_AUTHINFO_UNAVAIL;
    }
    switch (run->exit_code) {
    case CS_HELPER_NOT_IN_FLEET:
        if (o->debug)
            pam_syslog(pamh, LOG_DEBUG, "%s is not a fleet user: left to the other modules", user);
        return PAM_USER_UNKNOWN;
    case CS_HELPER_WRONG_PASSWORD: case CS_HELPER_NOT_ENROLLED: case CS_HELPER_CORRUPT:
    case CS_HELPER_ROLLBACK: case CS_HELPER_FLEET_DENIED: case CS_HELPER_NOT_PINNED:
    case CS_HELPER_SECURITY_KEY: /* the second factor the account requires did not answer */
        pam_syslog(pamh, refusal_priority(run->exit_code), "fleet login refused for %s: %s%s%s%s", user,
                   cs_pam_reason(run->exit_code), *run->msg ? " [" : "", run->msg, *run->msg ? "]" : "");
        return PAM_AUTH_ERR;
    default: /* storage down without cache, internal error, version mismatch */
        cs_pam_log_failure(pamh, o, user, "fleet login refused", r, run);
        return PAM_AUTHINFO_UNAVAIL;
    }
}

int cs_pam_fleet_authenticate(pam_handle_t *pamh, int flags, const cs_pam_opts *o, const char *user)
{
    const char *const fleet[] = { "--fleet", NULL };
    const void *service = NULL;
    const char *tok;
    char *prompted = NULL;
    cs_pam_stash *st;
    cs_pam_run run = { .command = "unlock", .args = fleet };
    int r, ret;

    (void)flags;
    if (pam_get_item(pamh, PAM_SERVICE, &service) == PAM_SUCCESS && service &&
        strcmp(service, "systemd-user") == 0)
        return PAM_IGNORE;
    /* we may be the first module of the stack: ask for the name if need be */
    if (!user && (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user))
        return PAM_USER_UNKNOWN;
    /* what an earlier authentication of this handle kept (a retried login,
     * perhaps under another name) is not this one's */
    cs_pam_stash_drop(pamh);
    tok = cs_pam_password(pamh, o, &prompted);
    if (!tok || strlen(tok) > CS_HELPER_FRAME_MAX) {
        pam_syslog(pamh, LOG_NOTICE, "fleet login refused for %s: %s", user,
                   tok ? "the password is too long" : "no password");
        cs_pam_free_answer(&prompted);
        return PAM_AUTH_ERR;
    }
    /* the modules after us (the piggyback line, a keyring module) want it */
    if (prompted)
        (void)pam_set_item(pamh, PAM_AUTHTOK, prompted);
    st = cs_pam_stash_new(user);
    if (!st) {
        pam_syslog(pamh, LOG_ERR, "fleet login refused for %s: cannot lock memory for the key", user);
        cs_pam_free_answer(&prompted);
        return PAM_AUTHINFO_UNAVAIL;
    }
    run.in = &(cs_pam_frame){ tok, strlen(tok) };
    run.n_in = 1;
    run.out = st->data;
    run.out_cap = CS_HELPER_AMK_BYTES;
    r = cs_pam_run_helper(pamh, o, user, &run);
    cs_pam_free_answer(&prompted);
    /* the only yes: a clean exit 0 (or 21: yes, but the password must be
     * changed) with a whole key (run.c checked the frame) */
    if (r == 0 && cs_helper_exit_is_success(run.exit_code) && run.out_len == CS_HELPER_AMK_BYTES) {
        st->kind = CS_STASH_KEY;
        st->fleet_checked = true;
        st->password_expired = run.exit_code == CS_HELPER_PASSWORD_EXPIRED;
        st->len = run.out_len;
        /* sshd: the session may open in another process (park.c) */
        (void)cs_pam_park(pamh, o, user, "key", st->data, st->len);
        /* keeping the key for the session is a convenience: the login
         * stands even if it cannot be kept (the keys stay locked) */
        if (cs_pam_stash_keep(pamh, st) != PAM_SUCCESS)
            pam_syslog(pamh, LOG_ERR, "keys of %s not kept for the session", user);
        if (!o->quiet)
            pam_syslog(pamh, LOG_INFO, "fleet user %s authenticated with the pinned account key", user);
        return PAM_SUCCESS;
    }
    cs_pam_stash_free(st);
    ret = auth_result(pamh, o, user, r, &run);
    return ret == PAM_SUCCESS ? PAM_AUTH_ERR : ret; /* never a success by accident */
}

/* Is user an enabled user of the fleet directory?  The key of this handle's
 * auth step says so already; otherwise one helper fleet-check run reads the
 * directory cache.  PAM_SUCCESS, PAM_USER_UNKNOWN (not a fleet user),
 * PAM_PERM_DENIED (disabled, no key, expired directory) or
 * PAM_AUTHINFO_UNAVAIL. */
static int fleet_check(pam_handle_t *pamh, const cs_pam_opts *o, const char *user)
{
    const cs_pam_stash *st = cs_pam_stash_get(pamh);
    cs_pam_run run = { .command = "fleet-check" };
    int r;

    if (st && st->kind == CS_STASH_KEY && st->fleet_checked)
        return PAM_SUCCESS;
    r = cs_pam_run_helper(pamh, o, user, &run);
    if (r == 0 && run.exit_code == CS_HELPER_OK)
        return PAM_SUCCESS;
    if (r == 0 && run.exit_code == CS_HELPER_NOT_IN_FLEET)
        return PAM_USER_UNKNOWN;
    if (r == 0 && run.exit_code == CS_HELPER_FLEET_DENIED) {
        pam_syslog(pamh, LOG_NOTICE, "fleet account %s refused: %s%s%s%s", user, cs_pam_reason(run.exit_code),
                   *run.msg ? " [" : "", run.msg, *run.msg ? "]" : "");
        return PAM_PERM_DENIED;
    }
    cs_pam_log_failure(pamh, o, user, "fleet account not checked", r, &run);
    return PAM_AUTHINFO_UNAVAIL;
}

int cs_pam_fleet_account(pam_handle_t *pamh, int flags, const cs_pam_opts *o, const char *user)
{
    const cs_pam_stash *st = cs_pam_stash_get(pamh);

    /* authenticated by this module a moment ago (the directory was read
     * then), with a password an administrator set */
    if (st && st->kind == CS_STASH_KEY && st->fleet_checked && st->password_expired) {
        /* login(1), sshd, gdm now run pam_chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK) */
        if (!(flags & PAM_SILENT))
            pam_info(pamh, "Your password was set by an administrator: choose your own now.");
        pam_syslog(pamh, LOG_NOTICE, "fleet user %s logs in with a password set by an administrator: "
                   "a new one is required", user);
        return PAM_NEW_AUTHTOK_REQD;
    }
    return fleet_check(pamh, o, user);
}

/* ---- password change ---- */

#define REWRAPPED_NAME "pam_cloudseal:rewrapped"
#define PRELIM_CHECKED_NAME "pam_cloudseal:prelim-checked"

bool cs_pam_rewrapped(pam_handle_t *pamh)
{
    const void *d = NULL;

    return pam_get_data(pamh, REWRAPPED_NAME, &d) == PAM_SUCCESS && d;
}

/* A token from the stack's item, or asked with `prompt` (set as the item
 * then, for the modules after us).  NULL: none, or the conversation failed. */
static const char *get_token(pam_handle_t *pamh, int item, const char *prompt)
{
    const void *tok = NULL;
    char *answer = NULL;

    if (pam_get_item(pamh, item, &tok) == PAM_SUCCESS && tok && *(const char *)tok)
        return tok;
    if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", prompt) != PAM_SUCCESS || !answer || !*answer) {
        cs_pam_free_answer(&answer);
        return NULL;
    }
    /* libpam keeps its own copy (wiped at pam_end) */
    (void)pam_set_item(pamh, item, answer);
    cs_pam_free_answer(&answer);
    return pam_get_item(pamh, item, &tok) == PAM_SUCCESS ? tok : NULL;
}

/* The new password: the stack's, or asked twice. */
static const char *new_token(pam_handle_t *pamh, const char *user)
{
    const void *tok = NULL;
    char *again = NULL;
    const char *first;
    bool same;

    if (pam_get_item(pamh, PAM_AUTHTOK, &tok) == PAM_SUCCESS && tok && *(const char *)tok)
        return tok;
    first = get_token(pamh, PAM_AUTHTOK, "New password: ");
    if (!first)
        return NULL;
    if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &again, "Retype new password: ") != PAM_SUCCESS || !again) {
        cs_pam_free_answer(&again);
        (void)pam_set_item(pamh, PAM_AUTHTOK, NULL);
        return NULL;
    }
    same = strcmp(first, again) == 0;
    cs_pam_free_answer(&again);
    if (!same) {
        pam_error(pamh, "Sorry, passwords do not match.");
        pam_syslog(pamh, LOG_NOTICE, "password of fleet user %s not changed: the two entries differ", user);
        (void)pam_set_item(pamh, PAM_AUTHTOK, NULL);
        return NULL;
    }
    return first;
}

int cs_pam_fleet_chauthtok(pam_handle_t *pamh, int flags, const cs_pam_opts *o, const char *user)
{
    const char *const with_key[] = { "--old", "key", NULL }, *const with_password[] = { "--old", "password", NULL };
    cs_pam_stash *st = cs_pam_stash_get(pamh);
    bool have_key = st && st->kind == CS_STASH_KEY && st->len == CS_HELPER_AMK_BYTES;
    cs_pam_run run = { .command = "rewrap" };
    cs_pam_frame frames[2];
    const char *old_tok = NULL, *new_tok;
    const void *checked = NULL;
    int ret = PAM_SUCCESS, r;

    /* pam_chauthtok calls us twice (prelim, then update): one directory
     * check for both (kept in the handle for this password change only) */
    if (!(flags & PAM_UPDATE_AUTHTOK) || pam_get_data(pamh, PRELIM_CHECKED_NAME, &checked) != PAM_SUCCESS ||
        !checked)
        ret = fleet_check(pamh, o, user);
    (void)pam_set_data(pamh, PRELIM_CHECKED_NAME, (void *)(uintptr_t)((flags & PAM_PRELIM_CHECK) && ret == PAM_SUCCESS),
                       NULL);
    if (ret != PAM_SUCCESS)
        return ret;
    /* "only if it has expired" (pam_chauthtok(3)): ours has not */
    if ((flags & PAM_CHANGE_EXPIRED_AUTHTOK) && have_key && !st->password_expired)
        return PAM_SUCCESS;
    /* Prelim: the old secret now (as pam_unix asks before the new one); the
     * rewrap checks it, a KDF run here would only double the wait. */
    if (flags & PAM_PRELIM_CHECK) {
        if (!have_key && !get_token(pamh, PAM_OLDAUTHTOK, "Current password: "))
            return PAM_AUTHTOK_RECOVERY_ERR;
        return PAM_SUCCESS;
    }
    if (!have_key && !(old_tok = get_token(pamh, PAM_OLDAUTHTOK, "Current password: ")))
        return PAM_AUTHTOK_RECOVERY_ERR;
    if (!(new_tok = new_token(pamh, user)))
        return PAM_AUTHTOK_ERR;
    if (strlen(new_tok) > CS_HELPER_FRAME_MAX || (old_tok && strlen(old_tok) > CS_HELPER_FRAME_MAX)) {
        pam_error(pamh, "The password is too long.");
        return PAM_AUTHTOK_ERR;
    }
    frames[0] = have_key ? (cs_pam_frame){ st->data, st->len } : (cs_pam_frame){ old_tok, strlen(old_tok) };
    frames[1] = (cs_pam_frame){ new_tok, strlen(new_tok) };
    run.args = have_key ? with_key : with_password;
    run.in = frames;
    run.n_in = 2;
    r = cs_pam_run_helper(pamh, o, user, &run);
    if (r == 0 && run.exit_code == CS_HELPER_OK) {
        if (st)
            st->password_expired = false;
        (void)pam_set_data(pamh, REWRAPPED_NAME, (void *)1, NULL);
        if (!o->quiet)
            pam_syslog(pamh, LOG_INFO, "password of fleet user %s changed (keybag re-wrapped)", user);
        return PAM_SUCCESS;
    }
    if (r == 0 && run.exit_code == CS_HELPER_WRONG_PASSWORD) {
        pam_error(pamh, "Authentication token manipulation error: the current password is wrong.");
        pam_syslog(pamh, LOG_NOTICE, "password of fleet user %s not changed: wrong current password", user);
        return PAM_AUTHTOK_RECOVERY_ERR;
    }
    cs_pam_log_failure(pamh, o, user, "password of the fleet user not changed", r, &run);
    return PAM_AUTHTOK_ERR;
}
