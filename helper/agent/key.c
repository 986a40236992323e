/* SPDX-License-Identifier: MIT */
/* The key: reading it from the kernel keyring into locked memory, noticing
 * when it appears (unlock) or goes away (cloudseal lock), and locking it
 * when the user's last session ends with [session] lock = logout.
 *
 * Without the key (an SSH key login, 'cloudseal lock') the agent waits:
 * ready, no job, STATUS "locked: waiting for the key".  `cloudseal unlock`
 * tells us at once with the "unlock-notify" request on the control socket.
 * The kernel keyring has no change notification and a later password login
 * (pam_cloudseal talks to no user process) cannot tell us, so we also look:
 * one keyctl search every [agent] keyring_poll seconds (5 s, cheap). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent.h"
#include "crypto/keyring.h"
#include "util/log.h"
#include "util/secmem.h"

/* Is logind running here at all?  Without it (containers without systemd,
 * tests) nothing can say whether the user is logged in. */
static bool logind_present(void)
{
    /* sd_booted(): /run may be a plain directory with stale leftovers */
    return sd_booted() > 0 && access("/run/systemd/seats/", F_OK) == 0;
}

/* True when the user has no session left (only lingering, or closing).
 * unknown_means answers when logind cannot tell. */
bool key_user_logged_out(agent *a, bool unknown_means)
{
    char *state = NULL;
    bool out;

    if (!logind_present() || sd_uid_get_state(a->uid, &state) < 0 || !state) {
        free(state);
        return unknown_means;
    }
    out = strcmp(state, "lingering") == 0 || strcmp(state, "closing") == 0 || strcmp(state, "offline") == 0;
    free(state);
    return out;
}

void key_lock(agent *a, bool revoke, const char *why)
{
    if (revoke && a->enrolled) {
        int r = cs_keyring_revoke(a->account_id);
        if (r < 0 && r != -ENOKEY)
            log_error_errno(r, "cannot revoke the key in the keyring");
        else if (r == 0)
            log_notice("revoked the key in the keyring");
    }
    if (a->amk) {
        cs_amk_free(a->amk); /* wipes */
        a->amk = NULL;
        log_notice("locked: %s", why);
    }
    if (a->running)
        job_stop(a, a->running);
    jobs_drop_requests(a);
    jobs_reschedule(a);
}

static bool resolve_account(agent *a)
{
    int r;

    if (a->enrolled)
        return true;
    r = cs_account_id(a->cfg, a->user, a->account_id);
    if (r < 0) {
        if (r != -ENOENT)
            log_debug_errno(r, "cannot find the account id yet");
        snprintf(a->error, sizeof(a->error), "%s", r == -ENOENT ? "not enrolled: run 'cloudseal enroll'"
                                                               : "cannot read the keybag");
        return false;
    }
    a->enrolled = true;
    if (strncmp(a->error, "not enrolled", 12) == 0 || strncmp(a->error, "cannot read the keybag", 22) == 0)
        a->error[0] = '\0';
    log_info("account %s", a->account_id);
    return true;
}

void key_check(agent *a)
{
    cs_amk *k = NULL;
    int r;

    if (a->shutting_down || !resolve_account(a))
        goto out;
    r = cs_keyring_load(a->account_id, &k);
    if (r == -ENOKEY) {
        if (a->amk)
            key_lock(a, false, "the key is no longer in the keyring (cloudseal lock?)");
        goto out;
    }
    if (r < 0) {
        log_warning_errno(r, "cannot read the keyring");
        goto out;
    }
    if (a->lock_on_logout && key_user_logged_out(a, false)) {
        /* a key left behind after the last logout: lock = logout means gone */
        cs_amk_free(k);
        k = NULL;
        key_lock(a, true, "no session is left and lock = logout");
        goto out;
    }
    if (a->amk && cs_memeq_ct(a->amk->key, k->key, CS_KEY_BYTES) == 0)
        goto out; /* unchanged */
    if (a->amk)
        cs_amk_free(a->amk);
    else
        log_notice("unlocked: the key is in the keyring");
    a->amk = k;
    k = NULL;
    escrow_check(a);
    seal_check(a);
    jobs_reschedule(a);
out:
    if (k)
        cs_amk_free(k);
    status_update(a);
}

static int on_key_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    agent *a = userdata;
    uint64_t period = (uint64_t)cs_config_int(a->cfg, "agent", "keyring_poll") * 1000000ULL;

    key_check(a);
    sd_event_source_set_time(s, usec + period);
    return 0;
}

static int on_login_change(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    agent *a = userdata;

    sd_login_monitor_flush(a->login_mon);
    if (a->lock_on_logout && a->amk && key_user_logged_out(a, false))
        key_lock(a, true, "the last session ended and lock = logout");
    return 0;
}

int key_init(agent *a)
{
    uint64_t now, period = (uint64_t)cs_config_int(a->cfg, "agent", "keyring_poll") * 1000000ULL;
    int r;

    /* logind tells us when the last session ends (lingering keeps us alive) */
    if (logind_present() && sd_login_monitor_new("uid", &a->login_mon) >= 0) {
        r = sd_event_add_io(a->event, &a->login_src, sd_login_monitor_get_fd(a->login_mon),
                            (uint32_t)sd_login_monitor_get_events(a->login_mon), on_login_change, a);
        if (r < 0)
            log_warning_errno(r, "cannot watch logins");
    }
    key_check(a);
    r = sd_event_now(a->event, CLOCK_MONOTONIC, &now);
    if (r < 0)
        return r;
    r = sd_event_add_time(a->event, &a->key_timer, CLOCK_MONOTONIC, now + period, 200000, on_key_timer, a);
    if (r < 0)
        return r;
    return sd_event_source_set_enabled(a->key_timer, SD_EVENT_ON);
}

/* After a reload: the new keyring_poll from now on, and a new lock mode
 * applied at once (lock = logout with no session left locks now). */
void key_reload(agent *a)
{
    uint64_t now, period = (uint64_t)cs_config_int(a->cfg, "agent", "keyring_poll") * 1000000ULL;

    if (a->key_timer && sd_event_now(a->event, CLOCK_MONOTONIC, &now) >= 0)
        sd_event_source_set_time(a->key_timer, now + period);
    key_check(a);
}

/* Stopping: with lock = logout and no session left (or no logind to ask),
 * the stop is the logout: revoke the keyring key too.  A restart inside a
 * session (upgrade, systemctl --user restart) keeps it. */
void key_on_stop(agent *a)
{
    bool revoke = a->lock_on_logout && key_user_logged_out(a, true);

    if (revoke && a->enrolled) {
        int r = cs_keyring_revoke(a->account_id);
        if (r == 0)
            log_notice("logged out and lock = logout: revoked the key in the keyring");
        else if (r != -ENOKEY)
            log_error_errno(r, "cannot revoke the key in the keyring");
    }
    if (a->amk) {
        cs_amk_free(a->amk);
        a->amk = NULL;
    }
}
