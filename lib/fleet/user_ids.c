/* SPDX-License-Identifier: MIT */
/* The uid and gid the installed directory gives a fleet user: what the
 * helper compares with the NSS entry login(1) will use (getpwnam), so that
 * a local /etc/passwd line or another NSS source listed before cloudseal
 * cannot borrow a fleet user's name, password and key for another uid. */
#include "fleet/fleet.h"

#include <errno.h>
#include "basic/dircache.h"

int cs_fleet_user_ids(const cs_config *cfg, const char *user, uint32_t *uid, uint32_t *gid)
{
    cs_dircache dc;
    int idx, r = cs_dircache_map(cs_config_str(cfg, "fleet", "cache"), &dc, NULL);

    if (r < 0)
        return r;
    idx = cs_dircache_user_by_name(&dc, user);
    if (idx >= 0) {
        *uid = dc.users[idx].uid;
        *gid = dc.users[idx].gid;
    }
    cs_dircache_unmap(&dc);
    return idx < 0 ? -ENOENT : 0;
}
