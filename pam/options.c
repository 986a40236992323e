/* SPDX-License-Identifier: MIT */
/* Module arguments (documented in pam_cloudseal(8)). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>

#include "pam_cloudseal.h"

static const char *value_of(const char *arg, const char *key)
{
    size_t n = strlen(key);

    return strncmp(arg, key, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

/* KEY=1..max seconds; anything else is logged and the default kept */
static void seconds(pam_handle_t *pamh, const char *arg, const char *v, unsigned long max, unsigned *out)
{
    char *end;
    unsigned long t;

    errno = 0;
    t = strtoul(v, &end, 10);
    if (errno || end == v || *end || t < 1 || t > max)
        pam_syslog(pamh, LOG_ERR, "ignoring %s: %.*s wants 1..%lu seconds", arg, (int)(v - 1 - arg), arg, max);
    else
        *out = (unsigned)t;
}

void cs_pam_parse_opts(pam_handle_t *pamh, int argc, const char **argv, cs_pam_opts *opts)
{
    *opts = (cs_pam_opts){ .timeout_sec = 10, .park_timeout = 20, .prompt_timeout = 60, .helper = CS_PAM_DEFAULT_HELPER, .pass = CS_PASS_USE_FIRST };

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;

        if (strcmp(a, "debug") == 0)
            opts->debug = true;
        else if (strcmp(a, "authoritative") == 0)
            opts->authoritative = true;
        else if (strcmp(a, "quiet") == 0)
            opts->quiet = true;
        else if (strcmp(a, "try_first_pass") == 0)
            opts->pass = CS_PASS_TRY_FIRST, opts->pass_explicit = true;
        else if (strcmp(a, "use_first_pass") == 0)
            opts->pass = CS_PASS_USE_FIRST, opts->pass_explicit = true;
        else if (strcmp(a, "park") == 0)
            opts->park = CS_PARK_ON;
        else if (strcmp(a, "nopark") == 0)
            opts->park = CS_PARK_OFF;
        else if ((v = value_of(a, "park_timeout")))
            seconds(pamh, a, v, 600, &opts->park_timeout);
        else if ((v = value_of(a, "prompt_timeout")))
            seconds(pamh, a, v, 600, &opts->prompt_timeout);
        else if ((v = value_of(a, "timeout")))
            seconds(pamh, a, v, 300, &opts->timeout_sec);
        else if ((v = value_of(a, "lock"))) {
            if (strcmp(v, "logout") == 0 || strcmp(v, "reboot") == 0)
                opts->lock = v;
            else
                pam_syslog(pamh, LOG_ERR, "ignoring %s: lock wants logout or reboot", a);
        } else if ((v = value_of(a, "config"))) {
            if (v[0] == '/')
                opts->config = v;
            else
                pam_syslog(pamh, LOG_ERR, "ignoring %s: config wants an absolute path", a);
        } else if ((v = value_of(a, "helper"))) {
            if (v[0] == '/')
                opts->helper = v;
            else
                pam_syslog(pamh, LOG_ERR, "ignoring %s: helper wants an absolute path", a);
        } else {
            pam_syslog(pamh, LOG_ERR, "ignoring unknown option '%s'; see pam_cloudseal(8)", a);
        }
    }
    /* An authoritative module may be the first of the stack (pam-auth-update
     * "Auth-Initial"): it prompts unless told use_first_pass. */
    if (opts->authoritative && !opts->pass_explicit)
        opts->pass = CS_PASS_TRY_FIRST;
}
