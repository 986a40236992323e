/* SPDX-License-Identifier: MIT */
/* Before READY: can the storage be reached, and is there a repository?
 * Needs no key (only whether the repository's config object exists), and
 * makes one short try like the login path, so that a cloud outage delays
 * the agent's start by at most [storage] login_timeout.  The result is
 * reported (log, STATUS) but never fatal: the scheduler retries anyway. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "storage/storage.h"
#include "storage/storage_s3.h"
#include "util/log.h"
#include "util/secmem.h"


static bool network_error(int r)
{
    return r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -ECONNRESET || r == -ECONNREFUSED ||
           r == -ENETUNREACH || r == -EIO;
}

/* Whether two configurations name different storage: then what the start
 * check and the backoff learnt about the old one says nothing of the new. */
bool repo_storage_changed(const cs_config *old, const cs_config *new)
{
    static const char *const where[] = { "url", "region", "path_style", "ca_file", "access_key", "secret_key_file" };

    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        const char *x = cs_config_str(old, "storage", where[i]), *y = cs_config_str(new, "storage", where[i]);
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
            return true;
    }
    return false;
}

void repo_check(agent *a)
{
    cs_storage *st = NULL;
    cs_object_stat os;
    char key[300];
    int r;

    if (!a->jobs[JOB_BACKUP].enabled)
        return;
    r = cs_storage_open_config_login(a->cfg, &st); /* a quick look, never a long wait */
    if (r < 0) {
        log_warning_errno(r, "cannot open the storage named in [storage] url");
        cs_format_errno(a->error, sizeof(a->error), r, "cannot open the storage: %m");
        return;
    }
    snprintf(key, sizeof(key), "users/%s/backup/config", a->user);
    r = cs_storage_stat(st, key, &os);
    if (r == 0) {
        log_info("backup repository found");
        a->repo_checked = true;
    } else if (r == -ENOENT) {
        log_info("no backup repository yet: the first backup creates it");
        a->repo_checked = true;
    } else if (r == -EACCES || r == -EPERM) {
        /* the machine's credentials may be meant for keybags only, users
         * keeping their own in the keybag (cloudseal storage credentials):
         * the first backup, run with those, tells */
        log_info("the machine's storage credentials may not read your repository (yours may be in your "
                 "keybag); the first backup will tell");
    } else if (network_error(r)) {
        log_warning_errno(r, "storage unreachable at start (%m); backups retry");
        snprintf(a->error, sizeof(a->error), "storage unreachable");
    } else {
        log_warning_errno(r, "cannot check the backup repository");
        cs_format_errno(a->error, sizeof(a->error), r, "cannot check the backup repository: %m");
    }
    cs_storage_close(st);
}
