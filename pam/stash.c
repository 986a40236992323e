/* The stash between auth and session open (pam_cloudseal.h): one locked
 * page per handle, wiped by pam_end's cleanup if the session never opens. */
#include <unistd.h>
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

cs_pam_stash *cs_pam_stash_new(void)
{
    return cs_pam_locked_alloc(stash_size()); /* zero-filled by mmap */
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

cs_pam_stash *cs_pam_stash_get(pam_handle_t *pamh)
{
    const void *data = NULL;

    if (pam_get_data(pamh, STASH_NAME, &data) != PAM_SUCCESS)
        return NULL;
    return (cs_pam_stash *)data;
}

void cs_pam_stash_drop(pam_handle_t *pamh)
{
    /* replacing the data runs the cleanup of the old: wiped and unmapped */
    if (cs_pam_stash_get(pamh))
        pam_set_data(pamh, STASH_NAME, NULL, NULL);
}
