/* SPDX-License-Identifier: MIT */
/* Tombstone collection: the R4 check and the drop. */
#include "archive/collect.h"

#include <errno.h>
#include <stdlib.h>

static bool past_keep(const cs_arch_inst *in, uint64_t now_ms, uint64_t keep_ms)
{
    return in->deleted && CS_HLC_MS(in->del_w.hlc) + keep_ms <= now_ms;
}

bool cs_arch_claim_covers(const cs_arch_state *st, size_t dev, const cs_arch_inst *in, uint64_t keep_ms)
{
    const cs_arch_dev *d = &st->devs[dev];

    /* older segments of its log (with ADDs) can still be read until the
     * compacted segment holding the claim is its lowest (closes 2) */
    if (!d->claimed || d->lowest != d->claim_seq)
        return false;
    /* its compaction came after the keep period: R1 condensed the message */
    if (d->claim_t < CS_HLC_MS(in->del_w.hlc) + keep_ms)
        return false;
    for (size_t i = 0; i < d->nfront; i++)
        if (d->front[i].dev == in->del_w.dev)
            return d->front[i].hlc >= in->del_w.hlc; /* it merged the deletion, no file left (1, 3) */
    return false;
}

bool cs_arch_claim_due(const cs_arch_state *st, uint64_t now_ms, uint64_t keep_ms)
{
    for (size_t i = 0; i < st->ninst; i++) {
        const cs_arch_inst *in = st->inst[i];

        if (past_keep(in, now_ms, keep_ms) && !in->local_present && !cs_arch_claim_covers(st, 0, in, keep_ms))
            return true;
    }
    return false;
}

/* Every device of the table (R3) covers it; each that does not is
 * counted in blocking. */
static bool all_cover(const cs_arch_state *st, const cs_arch_inst *in, uint64_t keep_ms, uint64_t *blocking)
{
    bool all = true;

    for (size_t b = 0; b < st->ndevs && (all || blocking); b++)
        if (!cs_arch_claim_covers(st, b, in, keep_ms)) {
            if (blocking)
                blocking[b]++;
            all = false;
        }
    return all;
}

int cs_arch_collect_tombstones(cs_arch_state *st, uint64_t now_ms, uint64_t keep_ms, uint64_t grace_ms,
                               bool dry_run, cs_arch_collect_stats *out, uint64_t *blocking)
{
    bool *drop = NULL;
    uint64_t *h = NULL;
    size_t n = 0;
    int r = 0;

    *out = (cs_arch_collect_stats){ 0 };
    if (!dry_run && st->ninst &&
        (!(drop = calloc(st->ninst, sizeof(*drop))) || !(h = malloc(st->ninst * sizeof(*h))))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < st->ninst; i++) {
        cs_arch_inst *in = st->inst[i];
        bool ok = past_keep(in, now_ms, keep_ms) && !in->local_present;

        if (!ok || !all_cover(st, in, keep_ms, ok ? blocking : NULL)) {
            out->blocked += ok;
            if (in->collect_since && !dry_run) { /* must hold at both observations */
                in->collect_since = 0;
                st->dirty = true;
            }
            continue;
        }
        /* the first time, only noted: a sync in flight elsewhere that listed
         * the logs before the last write of the message has long ended by
         * the next collection past the grace (closes 4) */
        if (!in->collect_since || now_ms < in->collect_since || now_ms - in->collect_since < grace_ms) {
            out->waiting++;
            if (!in->collect_since && !dry_run) {
                in->collect_since = now_ms;
                st->dirty = true;
            }
            continue;
        }
        out->collected++;
        if (!dry_run) {
            drop[i] = true;
            h[n++] = cs_arch_key_hash(in->key);
        }
    }
    if (n == 0)
        goto out;
    /* names first: a full set stops collection, the tombstones stay */
    r = cs_arch_collected_add(st, h, n);
    if (r == 0)
        r = cs_arch_state_remove(st, drop);
    if (r == -E2BIG) {
        out->collected = 0;
        r = 0;
    }
out:
    free(drop);
    free(h);
    return r;
}
