/* SPDX-License-Identifier: MIT */
/* The stash between auth and session open (pam_cloudseal.h): one locked
 * page per handle, wiped by pam_end's cleanup if the session never opens. */
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_cloudseal.h"

#define STASH_NAME "pam_cloudseal:stash"

/* whole pages, so that mlock and munmap cover exactly the data */
static size_t stash_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    size_t page = p > 0 ? (size_t)p : 4096;

    return (sizeof(cs_pam_stash) + page - 1) / page * page;
}

cs_pam_stash *cs_pam_stash_new(const char *user)
{
    size_t n = strlen(user);
    cs_pam_stash *s;

    if (n >= sizeof(s->user))
        return NULL;
    s = cs_pam_locked_alloc(stash_size()); /* zero-filled by mmap */
    if (s)
        memcpy(s->user, user, n);
    return s;
}

void cs_pam_stash_free(cs_pam_stash *s)
{
    cs_pam_locked_free(s, stash_size());
}

static void cleanup(pam_handle_t *pamh, void *data, int error_status)
{
    (void)pamh;
    (void)error_status;
    cs_pam_stash_free(data);
}

int cs_pam_stash_keep(pam_handle_t *pamh, cs_pam_stash *s)
{
    int r = pam_set_data(pamh, STASH_NAME, s, cleanup);

    if (r != PAM_SUCCESS)
        cs_pam_stash_free(s);
    return r;
}

static cs_pam_stash *stash_of_handle(pam_handle_t *pamh)
{
    const void *data = NULL;

    if (pam_get_data(pamh, STASH_NAME, &data) != PAM_SUCCESS)
        return NULL;
    return (cs_pam_stash *)data;
}

cs_pam_stash *cs_pam_stash_get(pam_handle_t *pamh)
{
    cs_pam_stash *s = stash_of_handle(pamh);
    const void *item = NULL;
    const char *user;

    if (!s)
        return NULL;
    if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || !item)
        item = "";
    user = item;
    if (s->kind && strcmp(user, s->user) == 0)
        return s;
    if (!s->kind) /* a child the application forked after auth: the page reads as zeros (MADV_WIPEONFORK) */
        pam_syslog(pamh, LOG_INFO, "what authentication kept for %s does not pass to a process forked after it: "
                   "the keys stay locked ('cloudseal unlock' unlocks them)", user);
    else /* sudo -u B after authenticating A, or a retried login under another
          * name: A's password or key must never reach B's session */
        pam_syslog(pamh, LOG_INFO, "the %s kept at authentication for %s is dropped: the PAM user is now %s "
                   "(sudo -u, or a login retried under another name); nothing is unlocked with it",
                   s->kind == CS_STASH_KEY ? "key" : "password", s->user, *user ? user : "unset");
    cs_pam_stash_drop(pamh);
    return NULL;
}

void cs_pam_stash_drop(pam_handle_t *pamh)
{
    /* replacing the data runs the cleanup of the old: wiped and unmapped */
    if (stash_of_handle(pamh))
        pam_set_data(pamh, STASH_NAME, NULL, NULL);
}
