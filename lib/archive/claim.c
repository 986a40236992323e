/* SPDX-License-Identifier: MIT */
/* Claims: wire format, the body of compacted segments, making and
 * recording them (docs/archive.md section 8, R2 and R6). */
#include "archive/claim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_RETIRED 0x1

int cs_arch_claim_encode(const cs_arch_claim *c, cs_buf *out)
{
    int r = cs_put_u8(out, c->retired ? CLAIM_RETIRED : 0);

    if (r == 0) r = cs_put_le64(out, c->t);
    if (r == 0 && c->retired) r = cs_buf_append(out, c->retired_by, CS_ARCH_DEV_BYTES);
    if (r == 0) r = cs_put_le16(out, c->nfront);
    for (size_t i = 0; r == 0 && i < c->nfront; i++) {
        r = cs_buf_append(out, c->front[i].dev, CS_ARCH_DEV_BYTES);
        if (r == 0) r = cs_put_le64(out, c->front[i].hlc);
    }
    if (r == 0) r = cs_put_le32(out, c->ncollected);
    for (size_t i = 0; r == 0 && i < c->ncollected; i++)
        r = cs_put_le64(out, c->collected[i]);
    return r;
}

void cs_arch_claim_free(cs_arch_claim *c)
{
    free(c->front);
    free(c->collected);
    memset(c, 0, sizeof(*c));
}

static int decode(cs_reader *rd, cs_arch_claim *c)
{
    uint8_t fl;

    if (cs_get_u8(rd, &fl) < 0 || (fl & ~CLAIM_RETIRED) || cs_get_le64(rd, &c->t) < 0 || c->t == 0)
        return -EBADMSG;
    c->retired = fl & CLAIM_RETIRED;
    if (c->retired && cs_get_copy(rd, c->retired_by, CS_ARCH_DEV_BYTES) < 0)
        return -EBADMSG;
    /* counts are bounded by the limits and by the bytes left, before allocating */
    if (cs_get_le16(rd, &c->nfront) < 0 || c->nfront > CS_ARCH_MAX_DEVICES || (size_t)c->nfront * 16 > cs_rd_left(rd))
        return -EBADMSG;
    if (c->nfront && !(c->front = calloc(c->nfront, sizeof(*c->front))))
        return -ENOMEM;
    for (size_t i = 0; i < c->nfront; i++)
        if (cs_get_copy(rd, c->front[i].dev, CS_ARCH_DEV_BYTES) < 0 || cs_get_le64(rd, &c->front[i].hlc) < 0 ||
            (i > 0 && memcmp(c->front[i].dev, c->front[i - 1].dev, CS_ARCH_DEV_BYTES) <= 0))
            return -EBADMSG; /* canonical: sorted, no duplicates */
    if (cs_get_le32(rd, &c->ncollected) < 0 || c->ncollected > CS_ARCH_MAX_COLLECTED ||
        (size_t)c->ncollected * 8 > cs_rd_left(rd))
        return -EBADMSG;
    if (c->ncollected && !(c->collected = malloc((size_t)c->ncollected * sizeof(*c->collected))))
        return -ENOMEM;
    for (size_t i = 0; i < c->ncollected; i++)
        if (cs_get_le64(rd, &c->collected[i]) < 0 || (i > 0 && c->collected[i] <= c->collected[i - 1]))
            return -EBADMSG;
    return 0;
}

int cs_arch_claim_decode(cs_reader *rd, cs_arch_claim *c)
{
    int r;

    memset(c, 0, sizeof(*c));
    r = decode(rd, c);
    if (r < 0)
        cs_arch_claim_free(c);
    return r;
}

int cs_arch_segment_body(const uint8_t *plain, size_t len, uint8_t flags, uint64_t seq, uint64_t *first,
                         cs_arch_claim *claim, size_t *entries)
{
    cs_reader rd = cs_rd_init(plain, len);
    cs_arch_claim scratch;
    int r;

    if (claim)
        memset(claim, 0, sizeof(*claim));
    *first = seq;
    *entries = 0;
    if (!(flags & CS_ARCH_SEG_COMPACTED))
        return 0;
    if (cs_get_le64(&rd, first) < 0 || *first == 0 || *first > seq)
        return -EBADMSG;
    if (flags & CS_ARCH_SEG_CLAIM) {
        r = cs_arch_claim_decode(&rd, claim ? claim : &scratch);
        if (r < 0)
            return r;
        if (!claim)
            cs_arch_claim_free(&scratch);
    }
    *entries = len - cs_rd_left(&rd);
    return 0;
}

static int front_cmp(const void *a, const void *b)
{
    return memcmp(((const cs_arch_claim_front *)a)->dev, ((const cs_arch_claim_front *)b)->dev, CS_ARCH_DEV_BYTES);
}

int cs_arch_claim_make(const cs_arch_state *st, uint64_t now_ms, cs_arch_claim *out)
{
    cs_hlc cap = UINT64_MAX;

    memset(out, 0, sizeof(*out));
    out->t = now_ms;
    /* a deletion not yet done on this disk (held, or an unlink skipped):
     * nothing deleted at or after it counts as applied here (closes 3) */
    for (size_t i = 0; i < st->ninst; i++) {
        const cs_arch_inst *in = st->inst[i];

        if (in->deleted && in->local_present && in->del_w.hlc <= cap)
            cap = in->del_w.hlc ? in->del_w.hlc - 1 : 0;
    }
    out->front = calloc(st->ndevs, sizeof(*out->front));
    if (!out->front)
        return -ENOMEM;
    for (size_t i = 0; i < st->ndevs; i++) {
        cs_hlc f = i == 0 ? st->clock : st->devs[i].seen;

        memcpy(out->front[out->nfront].dev, st->devs[i].id, CS_ARCH_DEV_BYTES);
        out->front[out->nfront++].hlc = f < cap ? f : cap;
    }
    qsort(out->front, out->nfront, sizeof(*out->front), front_cmp);
    if (st->ncollected) {
        out->collected = malloc(st->ncollected * sizeof(*out->collected));
        if (!out->collected) {
            cs_arch_claim_free(out);
            return -ENOMEM;
        }
        memcpy(out->collected, st->collected, st->ncollected * sizeof(*out->collected));
        out->ncollected = (uint32_t)st->ncollected;
    }
    return 0;
}

/* Tombstones of names another device collected: a DEL read before the
 * claim naming it (a device reading the logs from the start), or one this
 * device could not collect itself because a workstation that joined after
 * the collection elsewhere has no claim (and nothing of the message to
 * claim).  The collector's R4 covered this device's claim and log, so they
 * go here too, unless the file is still on this disk. */
static int drop_collected(cs_arch_state *st, uint64_t *dropped)
{
    bool *drop = calloc(st->ninst ? st->ninst : 1, sizeof(*drop));
    bool any = false;
    int r;

    if (!drop)
        return -ENOMEM;
    for (size_t i = 0; i < st->ninst; i++) {
        const cs_arch_inst *in = st->inst[i];

        drop[i] = in->deleted && !in->local_present && cs_arch_collected(st, in->key);
        any |= drop[i];
        if (drop[i] && dropped)
            (*dropped)++;
    }
    r = any ? cs_arch_state_remove(st, drop) : 0;
    free(drop);
    return r;
}

static int idx_cmp(const void *a, const void *b)
{
    return (int)((const cs_arch_front *)a)->dev - (int)((const cs_arch_front *)b)->dev;
}

int cs_arch_claim_record(cs_arch_state *st, uint16_t dev, uint64_t seq, const cs_arch_claim *c, uint64_t *dropped)
{
    cs_arch_dev *d = &st->devs[dev];
    cs_arch_front *front = calloc(c->nfront ? c->nfront : 1, sizeof(*front));
    uint16_t n = 0;
    int r;

    if (!front)
        return -ENOMEM;
    /* only devices whose logs we read: an unknown one cannot cover anything */
    for (size_t i = 0; i < c->nfront; i++)
        for (size_t j = 0; j < st->ndevs; j++)
            if (memcmp(st->devs[j].id, c->front[i].dev, CS_ARCH_DEV_BYTES) == 0) {
                front[n++] = (cs_arch_front){ (uint16_t)j, c->front[i].hlc };
                break;
            }
    qsort(front, n, sizeof(*front), idx_cmp);
    r = cs_arch_collected_add(st, c->collected, c->ncollected);
    if (r < 0 && r != -E2BIG) {
        free(front);
        return r;
    }
    if (r == 0 && c->ncollected && (r = drop_collected(st, dropped)) < 0) {
        free(front);
        return r;
    }
    free(d->front);
    d->front = front;
    d->nfront = n;
    d->claimed = true;
    d->claim_seq = seq;
    d->claim_t = c->t;
    d->retired |= c->retired;
    st->dirty = true;
    return 0;
}
