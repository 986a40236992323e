/* SPDX-License-Identifier: MIT */
/* Fleet upkeep after the first unlock of an agent run.
 *
 * Key escrow: when the fleet's signed directory names an escrow key and
 * storage has no escrow object for this account (enrolled before the fleet
 * escrowed keys, or the object was deleted or replaced), file it.
 *
 * Keybag seal: when storage has no seal of the keybag cached here, or an
 * older one (enrolled before seals existed, deleted or replayed), file it,
 * so that the next `admin publish` retires the user's older keybags
 * (docs/keybag.md, "Replay of an old keybag").
 *
 * Both once per agent run, with the short login timeouts: a cloud outage
 * costs at most [storage] login_timeout, and the next agent start tries
 * again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "account/account.h"
#include "fleet/escrow.h"
#include "storage/storage_s3.h"
#include "util/buf.h"
#include "util/log.h"

void escrow_check(agent *a)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    uint8_t epk[CS_FLEET_ESCROW_PK_BYTES];
    char key[128];
    cs_storage *st = NULL;
    int r;

    if (a->escrow_checked || !a->amk || !a->enrolled || cs_fleet_escrow_key(a->cfg, epk) < 0)
        return; /* not unlocked yet, or no fleet escrow policy here */
    a->escrow_checked = true;
    r = cs_fleet_user_object(a->user, "escrow", key, sizeof(key));
    if (r == 0)
        r = cs_storage_open_config_login(a->cfg, &st);
    if (r == 0)
        r = cs_storage_get(st, key, 0, 0, CS_ESCROW_OBJECT_MAX, &b);
    if (r == 0 && cs_escrow_matches(b.data, b.len, a->user, a->account_id, epk) == 0)
        goto out; /* in place */
    if (r < 0 && r != -ENOENT && r != -EMSGSIZE && r != -E2BIG) {
        log_info_errno(r, "cannot check the escrow of your account key now (%m); the next start tries again");
        a->escrow_checked = false;
        goto out;
    }
    r = cs_escrow_file(st, a->user, a->amk, epk);
    if (r == 0)
        log_notice("filed the escrow of your account key, as the fleet's policy asks (%s)", key);
    else
        log_warning_errno(r, "cannot file the escrow of your account key");
out:
    cs_storage_close(st);
}

void seal_check(agent *a)
{
    int r;

    if (a->seal_checked || !a->amk || !a->enrolled)
        return;
    a->seal_checked = true;
    r = cs_account_reseal(a->cfg, a->user, a->amk);
    if (r == 1)
        log_notice("filed the seal of your current keybag, so that the fleet retires your older ones");
    else if (r < 0 && r != -ENOENT)
        log_info_errno(r, "cannot check the seal of your keybag now (%m); the next start tries again");
}
