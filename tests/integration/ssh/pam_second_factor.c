/* SPDX-License-Identifier: MIT */
/* A stand-in second factor for the ssh tests: asks for a code after the
 * password (a separate keyboard-interactive round) and accepts 123456. */
#include <stdlib.h>
#include <string.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    char *code = NULL;
    int ok;

    if (pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &code, "Verification code: ") != PAM_SUCCESS || !code)
        return PAM_AUTH_ERR;
    ok = strcmp(code, "123456") == 0;
    free(code);
    return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return PAM_SUCCESS;
}
