/* SPDX-License-Identifier: MIT */
/* The helper's side of the prompt wire (lib/basic/helper_protocol.h): what
 * a command run by pam_cloudseal.so says to, and asks of, the person
 * logging in, through the module's PAM conversation.  Only for commands the
 * module runs: the prompts go to fd 1 and the answers come on fd 0. */
#ifndef CS_HELPER_UI_H
#define CS_HELPER_UI_H

#include "crypto/fido2.h"
#include "util/secmem.h"

/* Show text (PAM_TEXT_INFO).  0 or a negative errno. */
int helper_prompt_info(const char *text);

/* Ask with echo off (PAM_PROMPT_ECHO_OFF); *answer is a cs_secret.
 * -ECANCELED when the person or the application refused to answer,
 * -EPROTONOSUPPORT (logged, with what to do) when the module does not relay
 * prompts (one older than this helper closes fd 0 instead of answering). */
int helper_prompt_secret(const char *text, cs_secret **answer);

/* A cs_fido2_ui over the wire: "Security key PIN: " and the library's
 * notices ("Touch your security key."); a touch is waited for at most
 * timeout_ms (0: the library's default). */
void helper_fido2_ui(cs_fido2_ui *ui, int timeout_ms);

#endif
