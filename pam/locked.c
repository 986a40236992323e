/* SPDX-License-Identifier: MIT */
/* Locked memory for the account key between auth and session open.
 * mmap'd (not malloc'd) so that it can be mlock()ed and kept out of core
 * dumps and out of the application's children without touching the
 * application's heap. */
#include <string.h>
#include <sys/mman.h>

#include "pam_cloudseal.h"

void *cs_pam_locked_alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
    /* Never swapped: refuse rather than hold a key in swappable memory. */
    if (mlock(p, len) < 0) {
        munmap(p, len);
        return NULL;
    }
    (void)madvise(p, len, MADV_DONTDUMP);
    /* A child the application forks gets zeros, not a copy that would
     * outlive our wipe (our own helper gets the key through its fd 0).
     * MADV_WIPEONFORK rather than MADV_DONTFORK: a child that calls pam_end
     * runs our cleanup, which must find the page mapped. */
    if (madvise(p, len, MADV_WIPEONFORK) < 0) {
        cs_pam_locked_free(p, len);
        return NULL;
    }
    return p;
}

void cs_pam_locked_free(void *p, size_t len)
{
    if (!p)
        return;
    explicit_bzero(p, len);
    munlock(p, len);
    munmap(p, len);
}
