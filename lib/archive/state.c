/* SPDX-License-Identifier: MIT */
/* The archive CRDT: instance table, merge rules, (de)serialisation. */
#include "archive/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include "util/alloc.h"
#include "util/bytes.h"

#define STATE_MAGIC "CSAS"
#define STATE_VERSION 3 /* 3: claims, collected names; 2: Maildir identity, deletion stamps; 1 and 2 are still read */
#define STATE_SUM_BYTES 32

/* ---- instances and the key hash ---- */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: keys are local, not attacker-chosen in bulk */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void inst_free(cs_arch_inst *in)
{
    if (!in)
        return;
    free(in->key);
    free(in->folder);
    free(in->flagw);
    free(in->local_folder);
    free(in->local_name);
    free(in);
}

void cs_arch_state_free(cs_arch_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ninst; i++)
        inst_free(st->inst[i]);
    free(st->inst);
    free(st->hash);
    for (size_t i = 0; i < st->ndevs; i++)
        free(st->devs[i].front);
    free(st->devs);
    free(st->collected);
    for (size_t i = 0; i < st->nfolders; i++)
        free(st->folders[i].name);
    free(st->folders);
    free(st);
}

cs_arch_folder *cs_arch_state_folder(cs_arch_state *st, const char *name)
{
    for (size_t i = 0; i < st->nfolders; i++) /* few: one per folder a user has */
        if (strcmp(st->folders[i].name, name) == 0)
            return &st->folders[i];
    return NULL;
}

int cs_arch_state_folder_get(cs_arch_state *st, const char *name, cs_arch_folder **out)
{
    cs_arch_folder *n;

    if ((*out = cs_arch_state_folder(st, name)))
        return 0;
    if (st->nfolders >= CS_ARCH_MAX_FOLDERS)
        return -E2BIG;
    n = realloc(st->folders, (st->nfolders + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    st->folders = n;
    n = &st->folders[st->nfolders];
    memset(n, 0, sizeof(*n));
    if (!(n->name = strdup(name)))
        return -ENOMEM;
    st->nfolders++;
    st->dirty = true;
    *out = n;
    return 0;
}

int cs_arch_state_new(cs_arch_state **out)
{
    cs_arch_state *st = calloc(1, sizeof(*st));

    if (!st)
        return -ENOMEM;
    st->devs = calloc(1, sizeof(*st->devs));
    if (!st->devs) {
        free(st);
        return -ENOMEM;
    }
    randombytes_buf(st->devs[0].id, CS_ARCH_DEV_BYTES);
    st->ndevs = 1;
    st->dirty = true;
    *out = st;
    return 0;
}

static void hash_insert(cs_arch_state *st, size_t idx)
{
    size_t m = st->hcap - 1, h = (size_t)hash_key(st->inst[idx]->key) & m;

    while (st->hash[h])
        h = (h + 1) & m;
    st->hash[h] = (uint32_t)(idx + 1);
}

static int hash_grow(cs_arch_state *st)
{
    size_t ncap = st->hcap ? st->hcap * 2 : 1024;
    uint32_t *n = calloc(ncap, sizeof(*n));

    if (!n)
        return -ENOMEM;
    free(st->hash);
    st->hash = n;
    st->hcap = ncap;
    for (size_t i = 0; i < st->ninst; i++)
        hash_insert(st, i);
    return 0;
}

cs_arch_inst *cs_arch_state_find(const cs_arch_state *st, const char *key)
{
    size_t m, h;

    if (!st->hcap)
        return NULL;
    m = st->hcap - 1;
    for (h = (size_t)hash_key(key) & m; st->hash[h]; h = (h + 1) & m) {
        cs_arch_inst *in = st->inst[st->hash[h] - 1];

        if (strcmp(in->key, key) == 0)
            return in;
    }
    return NULL;
}

int cs_arch_state_get(cs_arch_state *st, const char *key, cs_arch_inst **out)
{
    cs_arch_inst *in = cs_arch_state_find(st, key);
    int r;

    if (in) {
        *out = in;
        return 0;
    }
    if (st->ninst >= CS_ARCH_MAX_INSTANCES)
        return -E2BIG;
    if ((st->ninst + 1) * 2 > st->hcap && (r = hash_grow(st)) < 0)
        return r;
    if (CS_GREEDY_REALLOC(st->inst, st->cap, st->ninst + 1) < 0)
        return -ENOMEM;
    in = calloc(1, sizeof(*in));
    if (!in || !(in->key = strdup(key))) {
        free(in);
        return -ENOMEM;
    }
    st->inst[st->ninst++] = in;
    hash_insert(st, st->ninst - 1);
    st->dirty = true;
    *out = in;
    return 0;
}

int cs_arch_state_remove(cs_arch_state *st, const bool *drop)
{
    size_t n = 0;

    for (size_t i = 0; i < st->ninst; i++) {
        if (drop[i])
            inst_free(st->inst[i]);
        else
            st->inst[n++] = st->inst[i];
    }
    if (n == st->ninst)
        return 0;
    st->ninst = n;
    st->dirty = true;
    memset(st->hash, 0, st->hcap * sizeof(*st->hash)); /* open addressing: rebuild rather than delete */
    for (size_t i = 0; i < st->ninst; i++)
        hash_insert(st, i);
    return 0;
}

int cs_arch_state_dev(cs_arch_state *st, const uint8_t id[CS_ARCH_DEV_BYTES])
{
    cs_arch_dev *n;

    for (size_t i = 0; i < st->ndevs; i++)
        if (memcmp(st->devs[i].id, id, CS_ARCH_DEV_BYTES) == 0)
            return (int)i;
    if (st->ndevs >= CS_ARCH_MAX_DEVICES)
        return -E2BIG;
    n = realloc(st->devs, (st->ndevs + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    st->devs = n;
    memset(&n[st->ndevs], 0, sizeof(*n));
    memcpy(n[st->ndevs].id, id, CS_ARCH_DEV_BYTES);
    st->dirty = true;
    return (int)st->ndevs++;
}

/* ---- merge ---- */

int cs_lww_cmp(const cs_arch_state *st, cs_lww a, cs_lww b)
{
    if (a.hlc != b.hlc)
        return a.hlc < b.hlc ? -1 : 1;
    if (a.hlc == 0) /* both unset */
        return 0;
    return memcmp(st->devs[a.dev].id, st->devs[b.dev].id, CS_ARCH_DEV_BYTES);
}

static int set_str(char **dst, const char *src)
{
    char *n = strdup(src);

    if (!n)
        return -ENOMEM;
    free(*dst);
    *dst = n;
    return 0;
}

static cs_flag_stamp *flag_entry(cs_arch_inst *in, int bit)
{
    for (size_t i = 0; i < in->nflagw; i++)
        if (in->flagw[i].bit == bit)
            return &in->flagw[i];
    return NULL;
}

static cs_lww flag_stamp(cs_arch_inst *in, int bit)
{
    cs_flag_stamp *f = flag_entry(in, bit);

    return f ? f->w : in->flags_base_w;
}

static void set_bit(uint64_t *flags, int bit, bool on)
{
    if (on)
        *flags |= UINT64_C(1) << bit;
    else
        *flags &= ~(UINT64_C(1) << bit);
}

/* An ADD writes every flag register at once. */
static int write_all_flags(cs_arch_state *st, cs_arch_inst *in, cs_lww w, uint64_t values)
{
    size_t j = 0;

    if (cs_lww_cmp(st, w, in->flags_base_w) <= 0)
        return 0; /* every flag already has a write at least as new */
    for (int b = 0; b < 52; b++)
        if (cs_lww_cmp(st, w, flag_stamp(in, b)) > 0)
            set_bit(&in->flags, b, values & (UINT64_C(1) << b));
    in->flags_base_w = w;
    for (size_t i = 0; i < in->nflagw; i++) /* keep only writes newer than the new base */
        if (cs_lww_cmp(st, in->flagw[i].w, w) > 0)
            in->flagw[j++] = in->flagw[i];
    in->nflagw = (uint8_t)j;
    return 1;
}

static int write_some_flags(cs_arch_state *st, cs_arch_inst *in, cs_lww w, uint64_t mask, uint64_t values)
{
    int changed = 0;

    for (int b = 0; b < 52; b++) {
        cs_flag_stamp *f;

        if (!(mask & (UINT64_C(1) << b)) || cs_lww_cmp(st, w, flag_stamp(in, b)) <= 0)
            continue;
        set_bit(&in->flags, b, values & (UINT64_C(1) << b));
        f = flag_entry(in, b);
        if (!f) {
            cs_flag_stamp *n = realloc(in->flagw, (in->nflagw + 1u) * sizeof(*n));

            if (!n)
                return -ENOMEM;
            size_t pos = in->nflagw;

            in->flagw = n;
            /* kept sorted by bit: equal states must encode identically */
            while (pos > 0 && n[pos - 1].bit > b) {
                n[pos] = n[pos - 1];
                pos--;
            }
            in->nflagw++;
            f = &n[pos];
            f->bit = (uint8_t)b;
        }
        f->w = w;
        changed = 1;
    }
    return changed;
}

static int write_registers(cs_arch_state *st, cs_arch_inst *in, cs_lww w, const cs_arch_entry *e)
{
    int changed = 0, r;

    if ((e->mask & CS_AE_FOLDER) && (!in->folder || cs_lww_cmp(st, w, in->folder_w) > 0)) {
        if ((r = set_str(&in->folder, e->folder)) < 0)
            return r;
        in->folder_w = w;
        changed = 1;
    }
    if ((e->mask & CS_AE_SUBDIR) && cs_lww_cmp(st, w, in->subdir_w) > 0) {
        in->subdir = e->subdir;
        in->subdir_w = w;
        changed = 1;
    }
    if (e->mask & CS_AE_FLAGS) {
        r = e->type == CS_AE_ADD ? write_all_flags(st, in, w, e->flags)
                                 : write_some_flags(st, in, w, e->flag_mask, e->flags);
        if (r < 0)
            return r;
        changed |= r;
    }
    return changed;
}

int cs_arch_state_apply(cs_arch_state *st, uint16_t dev, const cs_arch_entry *e)
{
    cs_lww w = { e->hlc, dev };
    cs_arch_inst *in;
    int changed = 0, r;

    if (dev >= st->ndevs || e->hlc == 0)
        return -EINVAL;
    if (e->hlc > st->devs[dev].seen)
        st->devs[dev].seen = e->hlc;
    if (e->type != CS_AE_DIR && st->ncollected && cs_arch_collected(st, e->key))
        return 0; /* collected: every log holds at most a DEL of it (R4) */
    if (e->type == CS_AE_DIR) {
        cs_arch_folder *f;

        if ((r = cs_arch_state_folder_get(st, e->folder, &f)) < 0)
            return r;
        if (cs_lww_cmp(st, w, f->w) <= 0)
            return 0;
        f->exists = e->exists;
        f->w = w;
        st->dirty = true;
        return 1;
    }
    r = cs_arch_state_get(st, e->key, &in);
    if (r < 0)
        return r;
    switch (e->type) {
    case CS_AE_DEL:
        /* remove-wins: a tombstone is never lifted.  Its stamp is the first
         * deletion's (min is order-free like the registers' max): the start
         * of the keep period, and the device that deleted. */
        if (!in->deleted || cs_lww_cmp(st, w, in->del_w) < 0) {
            in->del_w = w;
            changed = 1;
        }
        in->deleted = true;
        break;
    case CS_AE_ADD:
        if (!in->has_add || cs_lww_cmp(st, w, in->add_w) < 0) {
            if (in->has_add && in->local_present && memcmp(in->id, e->id, CS_ARCH_ID_BYTES) != 0)
                in->local_stale = true; /* our file holds the losing content */
            memcpy(in->id, e->id, CS_ARCH_ID_BYTES);
            in->ref = e->ref;
            in->mtime = e->mtime;
            in->add_w = w;
            in->has_add = true;
            changed = 1;
        }
        /* an ADD also writes every register */
        __attribute__((fallthrough));
    case CS_AE_SET:
        r = write_registers(st, in, w, e);
        if (r < 0)
            return r;
        changed |= r;
        break;
    default:
        return -EINVAL;
    }
    if (changed)
        st->dirty = true;
    return changed;
}

int cs_arch_inst_set_local(cs_arch_inst *in, const char *folder, int subdir, const char *name)
{
    int r = set_str(&in->local_folder, folder);

    if (r == 0)
        r = set_str(&in->local_name, name);
    if (r < 0)
        return r;
    in->local_subdir = (uint8_t)subdir;
    in->local_present = true;
    return 0;
}

void cs_arch_inst_set_stat(cs_arch_inst *in, const struct stat *st)
{
    in->local_ino = (uint64_t)st->st_ino;
    in->local_size = (uint64_t)st->st_size;
    in->local_mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

bool cs_arch_inst_stat_changed(const cs_arch_inst *in, const struct stat *st)
{
    if (!in->local_ino && !in->local_size && !in->local_mtime_ns)
        return false;
    return in->local_ino != (uint64_t)st->st_ino || in->local_size != (uint64_t)st->st_size ||
           in->local_mtime_ns != (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

void cs_arch_inst_clear_local(cs_arch_inst *in)
{
    in->local_ino = in->local_size = 0;
    in->local_mtime_ns = 0;
    in->local_present = false;
    in->local_stale = false;
    free(in->local_folder);
    free(in->local_name);
    in->local_folder = in->local_name = NULL;
}

/* ---- serialisation ---- */

enum { F_ADD = 1, F_DELETED = 2, F_LOCAL = 4, F_STALE = 8, F_FOLDER = 16 };

static int put_w(cs_buf *b, cs_lww w)
{
    int r = cs_put_le64(b, w.hlc);

    return r < 0 ? r : cs_put_le16(b, w.dev);
}

static int encode_inst(const cs_arch_inst *in, uint8_t ver, cs_buf *b)
{
    uint8_t f = (in->has_add ? F_ADD : 0) | (in->deleted ? F_DELETED : 0) |
                (in->local_present ? F_LOCAL : 0) | (in->local_stale ? F_STALE : 0) |
                (in->folder ? F_FOLDER : 0);
    int r = cs_put_str8(b, in->key);

    if (r == 0) r = cs_put_u8(b, f);
    if (r == 0 && in->deleted)
        r = put_w(b, in->del_w);
    if (r == 0 && in->deleted && ver >= 3)
        r = cs_put_le64(b, in->collect_since);
    if (r == 0 && in->has_add) {
        r = put_w(b, in->add_w);
        if (r == 0) r = cs_buf_append(b, in->id, CS_ARCH_ID_BYTES);
        if (r == 0) r = cs_buf_append(b, in->ref.pack, CS_ARCH_PACK_BYTES);
        if (r == 0) r = cs_put_le32(b, in->ref.offset);
        if (r == 0) r = cs_put_le32(b, in->ref.length);
        if (r == 0) r = cs_put_le32(b, in->ref.size);
        if (r == 0) r = cs_put_le64(b, (uint64_t)in->mtime);
    }
    if (r == 0 && in->folder) r = cs_put_str8(b, in->folder);
    if (r == 0) r = put_w(b, in->folder_w);
    if (r == 0) r = cs_put_u8(b, in->subdir);
    if (r == 0) r = put_w(b, in->subdir_w);
    if (r == 0) r = cs_put_le64(b, in->flags);
    if (r == 0) r = put_w(b, in->flags_base_w);
    if (r == 0) r = cs_put_u8(b, in->nflagw);
    for (size_t i = 0; r == 0 && i < in->nflagw; i++) {
        r = cs_put_u8(b, in->flagw[i].bit);
        if (r == 0) r = put_w(b, in->flagw[i].w);
    }
    if (r == 0 && in->local_present) {
        r = cs_put_str8(b, in->local_folder);
        if (r == 0) r = cs_put_u8(b, in->local_subdir);
        if (r == 0) r = cs_put_str8(b, in->local_name);
        if (r == 0) r = cs_put_le64(b, in->local_ino);
        if (r == 0) r = cs_put_le64(b, in->local_size);
        if (r == 0) r = cs_put_le64(b, (uint64_t)in->local_mtime_ns);
    }
    return r;
}

/* Version 3: what every device claimed, and the collected names. */
static int encode_collection(const cs_arch_state *st, cs_buf *out)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < st->ndevs; i++) {
        const cs_arch_dev *d = &st->devs[i];

        r = cs_put_u8(out, (uint8_t)(d->retired | d->claimed << 1));
        if (r == 0) r = cs_put_le64(out, d->seen);
        if (r == 0) r = cs_put_le64(out, d->lowest);
        if (r == 0 && d->claimed) {
            r = cs_put_le64(out, d->claim_seq);
            if (r == 0) r = cs_put_le64(out, d->claim_t);
            if (r == 0) r = cs_put_le16(out, d->nfront);
            for (size_t j = 0; r == 0 && j < d->nfront; j++) {
                r = cs_put_le16(out, d->front[j].dev);
                if (r == 0) r = cs_put_le64(out, d->front[j].hlc);
            }
        }
    }
    if (r == 0) r = cs_put_le32(out, (uint32_t)st->ncollected);
    for (size_t i = 0; r == 0 && i < st->ncollected; i++)
        r = cs_put_le64(out, st->collected[i]);
    return r;
}

int cs_arch_state_encode(const cs_arch_state *st, cs_buf *out)
{
    return cs_arch_state_encode_as(st, STATE_VERSION, out);
}

int cs_arch_state_encode_as(const cs_arch_state *st, uint8_t ver, cs_buf *out)
{
    size_t start = out->len;
    int r = ver == 2 || ver == STATE_VERSION ? cs_buf_append(out, STATE_MAGIC, 4) : -EINVAL;

    if (r == 0) r = cs_put_u8(out, ver);
    if (r == 0) r = cs_put_le64(out, st->clock);
    if (r == 0) r = cs_put_u8(out, st->md_bound);
    if (r == 0) r = cs_buf_append(out, st->md_id, CS_ARCH_MD_ID_BYTES);
    if (r == 0) r = cs_put_le64(out, st->md_dev);
    if (r == 0) r = cs_put_le32(out, (uint32_t)st->ndevs);
    for (size_t i = 0; r == 0 && i < st->ndevs; i++) {
        r = cs_buf_append(out, st->devs[i].id, CS_ARCH_DEV_BYTES);
        if (r == 0) r = cs_put_le64(out, st->devs[i].applied);
        if (r == 0) r = cs_put_le64(out, st->devs[i].floor);
    }
    if (r == 0) r = cs_put_le32(out, (uint32_t)st->ninst);
    for (size_t i = 0; r == 0 && i < st->ninst; i++)
        r = encode_inst(st->inst[i], ver, out);
    if (r == 0) r = cs_put_le32(out, (uint32_t)st->nfolders);
    for (size_t i = 0; r == 0 && i < st->nfolders; i++) {
        const cs_arch_folder *f = &st->folders[i];

        r = cs_put_str8(out, f->name);
        if (r == 0) r = cs_put_u8(out, (uint8_t)(f->exists | f->local << 1));
        if (r == 0) r = put_w(out, f->w);
    }
    if (r == 0 && ver >= 3) r = encode_collection(st, out);
    if (r == 0) r = cs_buf_reserve(out, STATE_SUM_BYTES);
    if (r == 0) {
        crypto_generichash(out->data + out->len, STATE_SUM_BYTES, out->data + start, out->len - start, NULL, 0);
        out->len += STATE_SUM_BYTES;
    }
    return r;
}

static int get_w(cs_reader *rd, const cs_arch_state *st, cs_lww *w)
{
    int r = cs_get_le64(rd, &w->hlc);

    if (r == 0) r = cs_get_le16(rd, &w->dev);
    if (r == 0 && w->dev >= st->ndevs)
        r = -EBADMSG;
    return r;
}

static int decode_str(cs_reader *rd, char **dst)
{
    char tmp[256];
    int r = cs_get_str8(rd, tmp, sizeof(tmp));

    return r < 0 ? r : set_str(dst, tmp);
}

static int decode_inst(cs_reader *rd, cs_arch_state *st, uint8_t ver)
{
    char key[256];
    uint8_t f;
    cs_arch_inst *in;
    int r = cs_get_str8(rd, key, sizeof(key));

    if (r < 0 || cs_md_unique_valid(key) < 0 || cs_arch_state_find(st, key))
        return -EBADMSG;
    if ((r = cs_arch_state_get(st, key, &in)) < 0)
        return r;
    if ((r = cs_get_u8(rd, &f)) < 0)
        return r;
    if (f & ~(F_ADD | F_DELETED | F_LOCAL | F_STALE | F_FOLDER))
        return -EBADMSG;
    in->has_add = f & F_ADD;
    in->deleted = f & F_DELETED;
    in->local_stale = f & F_STALE;
    if (in->deleted && ver >= 2)
        r = get_w(rd, st, &in->del_w);
    else if (in->deleted) /* version 1 kept no stamp: the keep period starts at the upgrade */
        in->del_w = (cs_lww){ st->clock, 0 };
    if (r == 0 && in->deleted && ver >= 3)
        r = cs_get_le64(rd, &in->collect_since);
    if (r == 0 && in->has_add) {
        r = get_w(rd, st, &in->add_w);
        if (r == 0) r = cs_get_copy(rd, in->id, CS_ARCH_ID_BYTES);
        if (r == 0) r = cs_get_copy(rd, in->ref.pack, CS_ARCH_PACK_BYTES);
        if (r == 0) r = cs_get_le32(rd, &in->ref.offset);
        if (r == 0) r = cs_get_le32(rd, &in->ref.length);
        if (r == 0) r = cs_get_le32(rd, &in->ref.size);
        if (r == 0) r = cs_get_le64(rd, (uint64_t *)&in->mtime);
        if (r == 0 && (in->mtime < 0 || in->mtime > (INT64_C(1) << 40)))
            r = -EBADMSG;
    }
    if (r == 0 && (f & F_FOLDER)) {
        r = decode_str(rd, &in->folder);
        if (r == 0 && cs_md_folder_valid(in->folder) < 0)
            r = -EBADMSG;
    }
    if (r == 0) r = get_w(rd, st, &in->folder_w);
    if (r == 0) r = cs_get_u8(rd, &in->subdir);
    if (r == 0) r = get_w(rd, st, &in->subdir_w);
    if (r == 0) r = cs_get_le64(rd, &in->flags);
    if (r == 0) r = get_w(rd, st, &in->flags_base_w);
    if (r == 0) r = cs_get_u8(rd, &in->nflagw);
    if (r == 0 && (in->subdir > CS_MD_CUR || (in->flags & ~CS_MD_FLAGS_ALL) || in->nflagw > 52))
        r = -EBADMSG;
    if (r == 0 && in->nflagw && !(in->flagw = calloc(in->nflagw, sizeof(*in->flagw))))
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < in->nflagw; i++) {
        r = cs_get_u8(rd, &in->flagw[i].bit);
        if (r == 0) r = get_w(rd, st, &in->flagw[i].w);
        if (r == 0 && (in->flagw[i].bit >= 52 || (i > 0 && in->flagw[i].bit <= in->flagw[i - 1].bit)))
            r = -EBADMSG; /* canonical: sorted, no duplicates */
    }
    if (r == 0 && (f & F_LOCAL)) {
        char name[256], folder[256];
        uint8_t sub;
        uint64_t fl;
        char uniq[CS_MD_UNIQUE_MAX + 1];

        r = cs_get_str8(rd, folder, sizeof(folder));
        if (r == 0) r = cs_get_u8(rd, &sub);
        if (r == 0) r = cs_get_str8(rd, name, sizeof(name));
        if (r == 0 && (cs_md_folder_valid(folder) < 0 || sub > CS_MD_CUR ||
                       cs_md_parse_name(name, uniq, &fl) < 0 || strcmp(uniq, key) != 0))
            r = -EBADMSG;
        if (r == 0)
            r = cs_arch_inst_set_local(in, folder, sub, name);
        if (r == 0 && ver >= 2) {
            r = cs_get_le64(rd, &in->local_ino);
            if (r == 0) r = cs_get_le64(rd, &in->local_size);
            if (r == 0) r = cs_get_le64(rd, (uint64_t *)&in->local_mtime_ns);
        }
    }
    return r == -ENOMEM ? r : (r < 0 ? -EBADMSG : 0);
}

static int decode_folders(cs_reader *rd, cs_arch_state *st)
{
    uint32_t n;
    int r = cs_get_le32(rd, &n);

    /* each takes at least 12 bytes: bound the count by the input */
    if (r < 0 || n > CS_ARCH_MAX_FOLDERS || (size_t)n > cs_rd_left(rd) / 12)
        return -EBADMSG;
    for (uint32_t i = 0; i < n; i++) {
        char name[256];
        uint8_t fl;
        cs_arch_folder *f;

        if (cs_get_str8(rd, name, sizeof(name)) < 0 || !name[0] || cs_md_folder_valid(name) < 0 ||
            cs_arch_state_folder(st, name) || cs_get_u8(rd, &fl) < 0 || fl > 3)
            return -EBADMSG;
        if ((r = cs_arch_state_folder_get(st, name, &f)) < 0)
            return r;
        f->exists = fl & 1;
        f->local = fl & 2;
        if (get_w(rd, st, &f->w) < 0)
            return -EBADMSG;
    }
    return 0;
}

/* A state from before version 3 did not keep the highest stamp merged
 * from each device: the highest its registers hold is a frontier that
 * covers every deletion it holds (a tombstone's first deletion is one of
 * them), so a device that writes nothing new still lets collection go. */
static void note_seen(cs_arch_state *st, cs_lww w)
{
    if (w.hlc > st->devs[w.dev].seen)
        st->devs[w.dev].seen = w.hlc;
}

static void seen_from_registers(cs_arch_state *st)
{
    for (size_t i = 0; i < st->ninst; i++) {
        const cs_arch_inst *in = st->inst[i];

        if (in->deleted)
            note_seen(st, in->del_w);
        if (in->has_add)
            note_seen(st, in->add_w);
        note_seen(st, in->folder_w);
        note_seen(st, in->subdir_w);
        note_seen(st, in->flags_base_w);
        for (size_t j = 0; j < in->nflagw; j++)
            note_seen(st, in->flagw[j].w);
    }
    for (size_t i = 0; i < st->nfolders; i++)
        note_seen(st, st->folders[i].w);
}

static int decode_claim(cs_reader *rd, cs_arch_state *st, cs_arch_dev *d)
{
    if (cs_get_le64(rd, &d->claim_seq) < 0 || cs_get_le64(rd, &d->claim_t) < 0 || cs_get_le16(rd, &d->nfront) < 0 ||
        d->claim_seq == 0 || d->nfront > st->ndevs || (size_t)d->nfront * 10 > cs_rd_left(rd))
        return -EBADMSG;
    if (d->nfront && !(d->front = calloc(d->nfront, sizeof(*d->front))))
        return -ENOMEM;
    for (size_t j = 0; j < d->nfront; j++)
        if (cs_get_le16(rd, &d->front[j].dev) < 0 || cs_get_le64(rd, &d->front[j].hlc) < 0 ||
            d->front[j].dev >= st->ndevs || (j > 0 && d->front[j].dev <= d->front[j - 1].dev))
            return -EBADMSG; /* canonical: sorted, no duplicates */
    return 0;
}

static int decode_collection(cs_reader *rd, cs_arch_state *st)
{
    uint32_t n;
    int r;

    for (size_t i = 0; i < st->ndevs; i++) {
        cs_arch_dev *d = &st->devs[i];
        uint8_t fl;

        if (cs_get_u8(rd, &fl) < 0 || fl > 3 || cs_get_le64(rd, &d->seen) < 0 || cs_get_le64(rd, &d->lowest) < 0)
            return -EBADMSG;
        d->retired = fl & 1;
        d->claimed = fl & 2;
        if (d->claimed && (r = decode_claim(rd, st, d)) < 0)
            return r;
    }
    if (cs_get_le32(rd, &n) < 0 || n > CS_ARCH_MAX_COLLECTED || (size_t)n * 8 != cs_rd_left(rd))
        return -EBADMSG;
    if (n && !(st->collected = malloc((size_t)n * sizeof(*st->collected))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (cs_get_le64(rd, &st->collected[i]) < 0 || (i > 0 && st->collected[i] <= st->collected[i - 1]))
            return -EBADMSG;
    st->ncollected = n;
    return 0;
}

int cs_arch_state_decode(const uint8_t *data, size_t len, cs_arch_state **out)
{
    cs_reader rd;
    uint8_t sum[STATE_SUM_BYTES], ver = 0;
    uint32_t n;
    cs_arch_state *st = NULL;
    int r = -EBADMSG;

    if (len > CS_ARCH_STATE_MAX)
        return -EMSGSIZE;
    if (len < 4 + 1 + STATE_SUM_BYTES || memcmp(data, STATE_MAGIC, 4) != 0)
        return -EBADMSG;
    crypto_generichash(sum, sizeof(sum), data, len - STATE_SUM_BYTES, NULL, 0);
    if (sodium_memcmp(sum, data + len - STATE_SUM_BYTES, STATE_SUM_BYTES) != 0)
        return -EBADMSG;
    rd = cs_rd_init(data + 4, len - 4 - STATE_SUM_BYTES); /* after the magic, before the sum */
    if (cs_get_u8(&rd, &ver) < 0 || ver < 1 || ver > STATE_VERSION)
        return ver > STATE_VERSION ? -EPROTONOSUPPORT : -EBADMSG;
    st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    if (cs_get_le64(&rd, &st->clock) < 0)
        goto out;
    if (ver >= 2) {
        uint8_t bound;

        if (cs_get_u8(&rd, &bound) < 0 || bound > 1 || cs_get_copy(&rd, st->md_id, CS_ARCH_MD_ID_BYTES) < 0 ||
            cs_get_le64(&rd, &st->md_dev) < 0)
            goto out;
        st->md_bound = bound;
    }
    if (cs_get_le32(&rd, &n) < 0 || n == 0 || n > CS_ARCH_MAX_DEVICES ||
        (size_t)n * 24 > cs_rd_left(&rd))
        goto out;
    st->devs = calloc(n, sizeof(*st->devs));
    if (!st->devs) {
        r = -ENOMEM;
        goto out;
    }
    st->ndevs = n;
    for (size_t i = 0; i < n; i++) {
        if (cs_get_copy(&rd, st->devs[i].id, CS_ARCH_DEV_BYTES) < 0 || cs_get_le64(&rd, &st->devs[i].applied) < 0 ||
            cs_get_le64(&rd, &st->devs[i].floor) < 0 || st->devs[i].floor > st->devs[i].applied)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (memcmp(st->devs[i].id, st->devs[j].id, CS_ARCH_DEV_BYTES) == 0)
                goto out;
    }
    /* each instance takes at least ~40 bytes: bound the count by the input */
    if (cs_get_le32(&rd, &n) < 0 || n > CS_ARCH_MAX_INSTANCES || (size_t)n > cs_rd_left(&rd) / 40)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((r = decode_inst(&rd, st, ver)) < 0)
            goto out;
    r = ver >= 2 ? decode_folders(&rd, st) : 0;
    if (r == 0 && ver >= 3)
        r = decode_collection(&rd, st);
    else if (r == 0)
        seen_from_registers(st);
    if (r == 0)
        r = cs_rd_left(&rd) == 0 ? 0 : -EBADMSG;
out:
    if (r < 0) {
        cs_arch_state_free(st);
        return r;
    }
    st->dirty = false;
    *out = st;
    return 0;
}
