/* SPDX-License-Identifier: MIT */
/* Prompts through pam_cloudseal's conversation (ui.h, helper_protocol.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "ui.h"
#include "util/fileio.h"
#include "util/log.h"

static int prompt_send(unsigned char type, const char *text)
{
    unsigned char hdr[CS_HELPER_FRAME_HDR];
    size_t len = strlen(text);
    int r;

    if (len > CS_HELPER_PROMPT_MAX)
        return -EMSGSIZE;
    cs_helper_prompt_hdr_put(hdr, type, (unsigned)len);
    r = cs_write_all(STDOUT_FILENO, hdr, sizeof(hdr));
    return r < 0 ? r : cs_write_all(STDOUT_FILENO, text, len);
}

int helper_prompt_info(const char *text)
{
    return prompt_send(CS_HELPER_PROMPT_INFO, text);
}

int helper_prompt_secret(const char *text, cs_secret **answer)
{
    _cleanup_secret_ cs_secret *frame = NULL, *s = NULL;
    int r = prompt_send(CS_HELPER_PROMPT_SECRET, text);

    if (r < 0)
        return log_error_errno(r, "could not ask through pam_cloudseal");
    r = helper_read_secret(STDIN_FILENO, &frame);
    if (r == -EPROTO)
        return log_error_errno(-EPROTONOSUPPORT, "pam_cloudseal did not answer the prompt (a module older "
                               "than this helper?): update libpam-cloudseal");
    if (r < 0)
        return log_error_errno(r, "could not read the answer from pam_cloudseal");
    if (frame->len < 1 || frame->len > CS_HELPER_ANSWER_MAX)
        return log_error_errno(-EBADMSG, "pam_cloudseal answered %zu bytes", frame->len);
    if (frame->data[0] == CS_HELPER_ANSWER_CANCEL)
        return -ECANCELED;
    if (frame->data[0] != CS_HELPER_ANSWER_OK)
        return log_error_errno(-EBADMSG, "pam_cloudseal answered with status %u", (unsigned char)frame->data[0]);
    r = cs_secret_new(&s);
    if (r >= 0)
        r = cs_secret_set(s, frame->data + 1, frame->len - 1);
    if (r < 0)
        return r;
    *answer = CS_TAKE_PTR(s);
    return 0;
}

static int ask_pin(void *userdata, cs_secret **pin)
{
    return helper_prompt_secret("Security key PIN: ", pin);
}

static void notify(void *userdata, const char *message)
{
    (void)helper_prompt_info(message);
}

void helper_fido2_ui(cs_fido2_ui *ui, int timeout_ms)
{
    *ui = (cs_fido2_ui){ .ask_pin = ask_pin, .notify = notify, .timeout_ms = timeout_ms };
}
