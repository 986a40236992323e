/* SPDX-License-Identifier: MIT */
/* Own-log compaction. */
#include "archive/compact.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "util/bytes.h"
#include "util/log.h"

static void base_entry(cs_arch_entry *e, const cs_arch_inst *in, uint8_t type, cs_hlc t)
{
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->hlc = t;
    snprintf(e->key, sizeof(e->key), "%s", in->key);
}

/* The entries whose join is this instance's state (all writes of one
 * device, so stamps alone order them). */
static int condense_inst(const cs_arch_inst *in, cs_buf *out)
{
    cs_arch_entry e;
    int r = 0;

    if (in->has_add) {
        /* the ADD at its stamp carries the registers' current values: where
         * a later write exists it follows as a SET and wins, as before */
        base_entry(&e, in, CS_AE_ADD, in->add_w.hlc);
        memcpy(e.id, in->id, CS_ARCH_ID_BYTES);
        e.ref = in->ref;
        e.mtime = in->mtime;
        e.mask = CS_AE_FOLDER | CS_AE_SUBDIR | CS_AE_FLAGS;
        snprintf(e.folder, sizeof(e.folder), "%s", in->folder ? in->folder : "");
        e.subdir = in->subdir;
        e.flag_mask = CS_MD_FLAGS_ALL;
        e.flags = in->flags;
        if ((r = cs_arch_entry_encode(&e, out)) < 0)
            return r;
    }
    if (in->folder && in->folder_w.hlc > (in->has_add ? in->add_w.hlc : 0)) {
        base_entry(&e, in, CS_AE_SET, in->folder_w.hlc);
        e.mask = CS_AE_FOLDER;
        snprintf(e.folder, sizeof(e.folder), "%s", in->folder);
        if ((r = cs_arch_entry_encode(&e, out)) < 0)
            return r;
    }
    if (in->subdir_w.hlc > (in->has_add ? in->add_w.hlc : 0)) {
        base_entry(&e, in, CS_AE_SET, in->subdir_w.hlc);
        e.mask = CS_AE_SUBDIR;
        e.subdir = in->subdir;
        if ((r = cs_arch_entry_encode(&e, out)) < 0)
            return r;
    }
    if (in->flags_base_w.hlc > (in->has_add ? in->add_w.hlc : 0)) {
        uint64_t mask = CS_MD_FLAGS_ALL;

        for (size_t i = 0; i < in->nflagw; i++) /* those are written below at their own stamps */
            mask &= ~(UINT64_C(1) << in->flagw[i].bit);
        if (mask) {
            base_entry(&e, in, CS_AE_SET, in->flags_base_w.hlc);
            e.mask = CS_AE_FLAGS;
            e.flag_mask = mask;
            e.flags = in->flags & mask;
            if ((r = cs_arch_entry_encode(&e, out)) < 0)
                return r;
        }
    }
    for (size_t i = 0; i < in->nflagw; i++) {
        uint64_t bit = UINT64_C(1) << in->flagw[i].bit;

        base_entry(&e, in, CS_AE_SET, in->flagw[i].w.hlc);
        e.mask = CS_AE_FLAGS;
        e.flag_mask = bit;
        e.flags = in->flags & bit;
        if ((r = cs_arch_entry_encode(&e, out)) < 0)
            return r;
    }
    if (in->deleted) { /* its first stamp: when the keep period started */
        base_entry(&e, in, CS_AE_DEL, in->del_w.hlc ? in->del_w.hlc : 1);
        r = cs_arch_entry_encode(&e, out);
    }
    return r;
}

/* R1: what the log must still say of in, given the merged state: 0 as
 * condensed, 1 nothing (collected), 2 a DEL only (deleted past the keep
 * period: its ADD and SETs matter to nobody any more). */
static int reduce(const cs_arch_inst *in, const cs_arch_compact_ctx *x)
{
    const cs_arch_inst *m;

    if (!x)
        return 0;
    if (cs_arch_collected(x->merged, in->key))
        return 1;
    m = cs_arch_state_find(x->merged, in->key);
    if (!m || !m->deleted || CS_HLC_MS(m->del_w.hlc) + x->keep_ms > x->now_ms)
        return 0;
    return 2;
}

int cs_arch_condense(const cs_arch_state *st, const cs_arch_compact_ctx *x, cs_buf *out)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < st->ninst; i++) {
        const cs_arch_inst *in = st->inst[i];
        cs_arch_entry e;

        switch (reduce(in, x)) {
        case 0:
            r = condense_inst(in, out);
            break;
        case 2: /* a DEL of the log's own keeps its stamp; else one of now */
            base_entry(&e, in, CS_AE_DEL, in->deleted && in->del_w.hlc ? in->del_w.hlc : x->del_hlc);
            r = cs_arch_entry_encode(&e, out);
            break;
        }
    }
    for (size_t i = 0; r == 0 && i < st->nfolders; i++) {
        cs_arch_entry e = { .type = CS_AE_DIR, .hlc = st->folders[i].w.hlc, .exists = st->folders[i].exists };

        snprintf(e.folder, sizeof(e.folder), "%s", st->folders[i].name);
        r = cs_arch_entry_encode(&e, out);
    }
    return r;
}

/* Read a device's segments back and merge them into a scratch state. */
static int merge_own(cs_storage *s, const char *prefix, const cs_arch_keys *k,
                     const uint8_t dev[CS_ARCH_DEV_BYTES], const uint64_t *seqs, size_t n, cs_arch_state *st,
                     uint64_t *first)
{
    char key[400], devhex[17];
    cs_buf raw = CS_BUF_INIT, plain = CS_BUF_INIT;
    int r = 0;

    sodium_bin2hex(devhex, sizeof(devhex), dev, CS_ARCH_DEV_BYTES);
    for (size_t i = 0; r == 0 && i < n; i++) {
        uint8_t flags = 0;
        size_t skip = 0;

        snprintf(key, sizeof(key), "%slog/%s/%016" PRIx64, prefix, devhex, seqs[i]);
        raw.len = 0;
        r = cs_storage_get(s, key, 0, 0, CS_ARCH_SEG_MAX, &raw);
        if (r == 0)
            r = cs_arch_segment_open_ex(k, dev, seqs[i], raw.data, raw.len, &plain, &flags);
        if (r == 0) {
            uint64_t f;

            r = cs_arch_segment_body(plain.data, plain.len, flags, seqs[i], &f, NULL, &skip);
            if (r == 0 && f < *first)
                *first = f; /* it stood for earlier segments already: so does the new one */
        }
        if (r == 0)
            r = cs_arch_apply_segment(st, 0, plain.data + skip, plain.len - skip, NULL);
    }
    cs_buf_free(&raw);
    cs_buf_free(&plain);
    return r;
}

int cs_arch_compact_own(cs_storage *s, const char *prefix, const cs_arch_keys *k,
                        const uint8_t dev[CS_ARCH_DEV_BYTES], const uint64_t *seqs, size_t n,
                        uint64_t new_seq, const cs_arch_compact_ctx *x)
{
    char key[400], devhex[17];
    cs_arch_state *st = NULL;
    cs_buf entries = CS_BUF_INIT, sealed = CS_BUF_INIT;
    int r;

    if (n == 0 || new_seq <= seqs[n - 1])
        return -EINVAL;
    r = cs_arch_state_new(&st);
    if (r < 0)
        return r;
    memcpy(st->devs[0].id, dev, CS_ARCH_DEV_BYTES);
    uint64_t first = seqs[0];

    r = merge_own(s, prefix, k, dev, seqs, n, st, &first);
    if (r == 0)
        r = cs_put_le64(&entries, first); /* supersedes first .. new_seq - 1 */
    if (r == 0 && x && x->claim)
        r = cs_arch_claim_encode(x->claim, &entries);
    if (r == 0)
        r = cs_arch_condense(st, x, &entries);
    if (r == 0)
        r = cs_arch_segment_seal_ex(k, dev, new_seq,
                                    CS_ARCH_SEG_COMPACTED | (st->nfolders ? CS_ARCH_SEG_V2 : 0) |
                                        (x && x->claim ? CS_ARCH_SEG_CLAIM : 0),
                                    entries.data, entries.len, &sealed);
    sodium_bin2hex(devhex, sizeof(devhex), dev, CS_ARCH_DEV_BYTES);
    snprintf(key, sizeof(key), "%slog/%s/%016" PRIx64, prefix, devhex, new_seq);
    if (r == 0)
        r = cs_storage_put(s, key, sealed.data, sealed.len, CS_PUT_IMMUTABLE);
    if (r == 0) {
        for (size_t i = n; i-- > 0;) {
            int d;

            snprintf(key, sizeof(key), "%slog/%s/%016" PRIx64, prefix, devhex, seqs[i]);
            d = cs_storage_del(s, key);
            if (d < 0 && d != -ENOENT)
                log_warning("archive: cannot delete the compacted segment %s: %s", key, strerror(-d));
        }
        log_debug("archive: compacted %zu segments into %" PRIu64, n, new_seq);
    } else {
        log_warning("archive: compaction skipped: %s", strerror(-r));
    }
    cs_buf_free(&entries);
    cs_buf_free(&sealed);
    cs_arch_state_free(st);
    return r;
}
