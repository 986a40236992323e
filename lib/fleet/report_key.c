/* SPDX-License-Identifier: MIT */
/* The fleet's report key, for an agent about to file a health report
 * (docs/reports.md).  The installed directory cache does not carry it (its
 * header has no room that older readers would ignore), so the agent reads
 * the signed directory itself and accepts it exactly as directory-sync does:
 * the fleet key's signature, not expired, not older than the serial this
 * workstation pinned (the state's or the installed cache's, cs_fleet_pin_read).  A bucket writer can therefore neither name a key of
 * theirs nor bring back an older directory's. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fleet/report.h"
#include "util/buf.h"

int cs_fleet_report_key(const cs_config *cfg, cs_storage *st, uint8_t pk[CS_FLEET_ESCROW_PK_BYTES])
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    _cleanup_directory_ cs_directory *d = NULL;
    cs_fleet_sync_status pinned = { 0 };
    cs_fleet_err err = { "" };
    int r;

    if (!cs_fleet_configured(cfg))
        return -ENOENT; /* not a fleet workstation */
    r = cs_storage_get(st, CS_FLEET_STORAGE_KEY, 0, 0, (size_t)cs_config_int(cfg, "fleet", "max_size"), &b);
    if (r < 0)
        return r;
    r = cs_fleet_pin_read(cfg, &pinned);
    if (r < 0)
        return r;
    r = cs_fleet_accept(cfg, b.data, b.len, pinned.serial, (int64_t)time(NULL), &d, &err);
    if (r < 0)
        return r;
    if (!d->has_report)
        return -ENOENT;
    memcpy(pk, d->report_pk, CS_FLEET_ESCROW_PK_BYTES);
    return 0;
}
