/* SPDX-License-Identifier: MIT */
/* The key from auth to session across processes (pam_cloudseal.h, park.c;
 * pam_cloudseal(8) "SSH LOGINS").  Only a handle travels in the PAM
 * environment; the key stays in root's keyring, bound to the user and to
 * the process that opens the session, for park_timeout seconds at most. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_cloudseal.h"

#define HANDLE_VAR "CLOUDSEAL_PARKED"
#define HANDLE_LEN 32 /* parked.h PARKED_TOKEN_HEX */

bool cs_pam_park_applies(pam_handle_t *pamh, const cs_pam_opts *o)
{
    const void *service = NULL;

    if (o->park != CS_PARK_AUTO)
        return o->park == CS_PARK_ON;
    return pam_get_item(pamh, PAM_SERVICE, &service) == PAM_SUCCESS && service &&
           strcmp(service, "sshd") == 0;
}

bool cs_pam_park(pam_handle_t *pamh, const cs_pam_opts *o, const char *user, const char *kind,
                 const void *data, size_t len)
{
    char bind[32], timeout[16], handle[HANDLE_LEN + sizeof(HANDLE_VAR) + 2];
    const char *args[] = { "--secret", kind, "--bind", bind, "--timeout-park", timeout, NULL };
    uint8_t out[HANDLE_LEN];
    cs_pam_run run = { .command = "park", .args = args, .out = out, .out_cap = sizeof(out) };
    int r;

    if (!cs_pam_park_applies(pamh, o))
        return false;
    /* the session opens in this process (sshd "password") or in its parent
     * (sshd "keyboard-interactive" authenticates in a child) */
    snprintf(bind, sizeof(bind), "%d,%d", (int)getpid(), (int)getppid());
    snprintf(timeout, sizeof(timeout), "%u", o->park_timeout);
    run.in = &(cs_pam_frame){ data, len };
    run.n_in = 1;
    r = cs_pam_run_helper(pamh, o, user, &run);
    if (r < 0 || run.exit_code != CS_HELPER_OK || run.out_len != HANDLE_LEN) {
        cs_pam_log_failure(pamh, o, user, "keys not parked for the session", r, &run);
        return false;
    }
    snprintf(handle, sizeof(handle), HANDLE_VAR "=%.*s", HANDLE_LEN, (const char *)out);
    r = pam_putenv(pamh, handle);
    explicit_bzero(handle, sizeof(handle));
    if (r != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "keys of %s not parked: cannot set the PAM environment", user);
        return false; /* the parked key expires by itself */
    }
    if (o->debug)
        pam_syslog(pamh, LOG_DEBUG, "key of %s parked for the session (%u s at most)", user, o->park_timeout);
    return true;
}

int cs_pam_collect(pam_handle_t *pamh, const cs_pam_opts *o, const char *user)
{
    const char *const session[] = { "--session", NULL };
    const char *v = pam_getenv(pamh, HANDLE_VAR);
    char handle[HANDLE_LEN];
    cs_pam_run run = { .command = "collect", .args = session };
    size_t n;
    int r;

    if (!v)
        return -1;
    n = strnlen(v, sizeof(handle) + 1);
    if (n == HANDLE_LEN)
        memcpy(handle, v, n);
    /* never into the user's session, whatever happens next */
    (void)pam_putenv(pamh, HANDLE_VAR);
    if (n != HANDLE_LEN) {
        pam_syslog(pamh, LOG_ERR, "keys of %s not collected: malformed %s in the PAM environment", user, HANDLE_VAR);
        return 0;
    }
    run.in = &(cs_pam_frame){ handle, n };
    run.n_in = 1;
    r = cs_pam_run_helper(pamh, o, user, &run);
    explicit_bzero(handle, sizeof(handle));
    if (r == 0 && run.exit_code == CS_HELPER_OK)
        return 1;
    cs_pam_log_failure(pamh, o, user, "parked keys not collected", r, &run);
    return 0;
}
