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

static int open_short(const cs_config *cfg, cs_storage **out)
{
    int ms = (int)cs_config_int(cfg, "storage", "login_timeout") * 1000;
    cs_storage_opts o;
    cs_secret *secret = NULL;
    int r = cs_storage_opts_from_config(cfg, &o, &secret);

    if (r < 0)
        return r;
    o.connect_timeout_ms = ms;
    o.request_timeout_ms = ms;
    o.max_retries = 0;
    r = cs_storage_open(cs_config_str(cfg, "storage", "url"), &o, out);
    cs_secret_free(secret);
    if (r == 0) {
        cs_s3_limits lim = { .list_max_keys = 1000, .retry_time_ms = ms, .conditional_put = -1 };
        (void)cs_s3_set_limits(*out, &lim); /* -EINVAL: not S3, nothing to limit */
    }
    return r;
}

static bool network_error(int r)
{
    return r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -ECONNRESET || r == -ECONNREFUSED ||
           r == -ENETUNREACH || r == -EIO;
}

void repo_check(agent *a)
{
    cs_storage *st = NULL;
    cs_object_stat os;
    char key[300];
    int r;

    if (!a->jobs[JOB_BACKUP].enabled)
        return;
    r = open_short(a->cfg, &st);
    if (r < 0) {
        log_warning("cannot open the storage named in [storage] url: %s", strerror(-r));
        snprintf(a->error, sizeof(a->error), "cannot open the storage: %s", strerror(-r));
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
    } else if (network_error(r)) {
        log_warning("storage unreachable at start (%s); backups retry", strerror(-r));
        snprintf(a->error, sizeof(a->error), "storage unreachable");
    } else {
        log_warning("cannot check the backup repository: %s", strerror(-r));
        snprintf(a->error, sizeof(a->error), "cannot check the backup repository: %s", strerror(-r));
    }
    cs_storage_close(st);
}
