/* SPDX-License-Identifier: MIT */
/* Reader of the compiled directory cache (format in lib/basic/dircache.h).
 *
 * This file is the single implementation used by libnss_cloudseal.so.2, by
 * lib/fleet (the compiler checks its own output with it) and by the fuzz
 * target.  It runs inside every process that resolves a user name, so it
 * uses libc only, allocates nothing, and trusts nothing in the file: one
 * pass in cs_dircache_parse() bounds every offset, after which lookups can
 * index without further checks.
 */
#include "basic/dircache.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECKSUM_FIELD_OFFSET 24 /* offsetof(struct cs_dc_header, checksum) */
_Static_assert(offsetof(struct cs_dc_header, checksum) == CHECKSUM_FIELD_OFFSET, "checksum offset");

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t cs_dc_checksum(const uint8_t *data, size_t len)
{
    const uint64_t k1 = 0x87c37b91114253d5ull, k2 = 0x4cf5ad432745937full;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t w = 0;

        if (i != CHECKSUM_FIELD_OFFSET)
            memcpy(&w, data + i, 8);
        h ^= rotl64(w * k1, 31) * k2;
        h = rotl64(h, 27) * 5 + 0x52dce729;
    }
    if (i < len) {
        uint64_t w = 0;

        memcpy(&w, data + i, len - i);
        h ^= rotl64(w * k1, 31) * k2;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* A section lies inside the file, is 8-byte aligned and holds whole
 * elements of elem bytes. */
static int section_ok(const struct cs_dc_section *s, size_t file_size, size_t elem)
{
    if (s->offset > file_size || s->size > file_size - s->offset)
        return 0;
    if (s->offset % 8 != 0 || s->offset < sizeof(struct cs_dc_header))
        return 0;
    return s->size % elem == 0;
}

/* A hash index: a power-of-two count of slots, each 0 or a record number. */
static int index_ok(const cs_dircache *dc, const struct cs_dc_section *s, uint32_t n_records, int which,
                    cs_dircache *out)
{
    uint64_t nslots = s->size / 4;
    const uint32_t *slots = (const uint32_t *)(dc->base + s->offset);

    if (nslots == 0 || nslots > (1u << 28) || (nslots & (nslots - 1)) != 0)
        return 0;
    for (uint64_t i = 0; i < nslots; i++)
        if (slots[i] > n_records)
            return 0;
    out->idx[which] = slots;
    out->idx_mask[which] = (uint32_t)(nslots - 1);
    return 1;
}

static int string_ok(const cs_dircache *dc, uint32_t off)
{
    return off < dc->strings_size;
}

static int range_ok(const cs_dircache *dc, uint32_t first, uint32_t count)
{
    return first <= dc->n_u32s && count <= dc->n_u32s - first;
}

static int records_ok(const cs_dircache *dc)
{
    const struct cs_dc_header *h = dc->h;

    for (uint32_t i = 0; i < h->n_users; i++) {
        const struct cs_dc_user *u = &dc->users[i];

        if (!string_ok(dc, u->name) || !string_ok(dc, u->gecos) || !string_ok(dc, u->home) ||
            !string_ok(dc, u->shell) || dc->strings[u->name] == '\0')
            return 0;
        if (u->n_gids > CS_DC_MAX_GIDS || !range_ok(dc, u->gids, u->n_gids))
            return 0;
        if ((u->flags & CS_DC_USER_HAS_KEYBAG) && !range_ok(dc, u->keybag, CS_DC_KEYBAG_U32S))
            return 0;
    }
    for (uint32_t i = 0; i < h->n_groups; i++) {
        const struct cs_dc_group *g = &dc->groups[i];

        if (!string_ok(dc, g->name) || dc->strings[g->name] == '\0')
            return 0;
        if (!range_ok(dc, g->members, g->n_members))
            return 0;
        for (uint32_t m = 0; m < g->n_members; m++)
            if (!string_ok(dc, dc->u32s[g->members + m]))
                return 0;
    }
    return 1;
}

int cs_dircache_parse(const void *data, size_t size, cs_dircache *out)
{
    cs_dircache dc;
    const struct cs_dc_header *h = data;

    memset(out, 0, sizeof(*out));
    if (!data || (uintptr_t)data % 8 != 0)
        return -EINVAL;
    if (size < sizeof(*h) || size > CS_DC_MAX_FILE)
        return -EBADMSG;
    if (memcmp(h->magic, CS_DC_MAGIC, CS_DC_MAGIC_LEN) != 0 || h->version != CS_DC_VERSION ||
        h->bom != CS_DC_BOM || h->file_size != size)
        return -EBADMSG;
    if (cs_dc_checksum(data, size) != h->checksum)
        return -EBADMSG;
    if (!section_ok(&h->users, size, sizeof(struct cs_dc_user)) ||
        h->users.size / sizeof(struct cs_dc_user) != h->n_users ||
        !section_ok(&h->groups, size, sizeof(struct cs_dc_group)) ||
        h->groups.size / sizeof(struct cs_dc_group) != h->n_groups ||
        !section_ok(&h->u32s, size, 4) || !section_ok(&h->strings, size, 1) ||
        h->strings.size == 0 || h->strings.size > UINT32_MAX ||
        !section_ok(&h->user_by_name, size, 4) || !section_ok(&h->user_by_uid, size, 4) ||
        !section_ok(&h->group_by_name, size, 4) || !section_ok(&h->group_by_gid, size, 4))
        return -EBADMSG;

    memset(&dc, 0, sizeof(dc));
    dc.base = data;
    dc.size = size;
    dc.h = h;
    dc.users = (const struct cs_dc_user *)(dc.base + h->users.offset);
    dc.groups = (const struct cs_dc_group *)(dc.base + h->groups.offset);
    dc.u32s = (const uint32_t *)(dc.base + h->u32s.offset);
    dc.n_u32s = (uint32_t)(h->u32s.size / 4);
    dc.strings = (const char *)(dc.base + h->strings.offset);
    dc.strings_size = (uint32_t)h->strings.size;
    /* the last string byte is NUL, so every in-bounds offset is a C string */
    if (dc.strings[dc.strings_size - 1] != '\0')
        return -EBADMSG;
    if (!index_ok(&dc, &h->user_by_name, h->n_users, 0, &dc) ||
        !index_ok(&dc, &h->user_by_uid, h->n_users, 1, &dc) ||
        !index_ok(&dc, &h->group_by_name, h->n_groups, 2, &dc) ||
        !index_ok(&dc, &h->group_by_gid, h->n_groups, 3, &dc))
        return -EBADMSG;
    if (!records_ok(&dc))
        return -EBADMSG;
    *out = dc;
    return 0;
}

int cs_dircache_map(const char *path, cs_dircache *out, struct stat *st_out)
{
    struct stat st;
    void *p;
    int fd, r;

    memset(out, 0, sizeof(*out));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct cs_dc_header) ||
        (uint64_t)st.st_size > CS_DC_MAX_FILE) {
        close(fd);
        return -EBADMSG;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    r = p == MAP_FAILED ? -errno : 0;
    close(fd);
    if (r < 0)
        return r;
    r = cs_dircache_parse(p, (size_t)st.st_size, out);
    if (r < 0) {
        munmap(p, (size_t)st.st_size);
        return r;
    }
    if (st_out)
        *st_out = st;
    return 0;
}

void cs_dircache_unmap(cs_dircache *dc)
{
    if (dc->base)
        munmap((void *)dc->base, dc->size);
    memset(dc, 0, sizeof(*dc));
}

/* Linear probing; at most one pass over the table, whatever it contains. */
#define PROBE(dc, which, hash, rec_array, match)                                 \
    do {                                                                         \
        uint32_t mask_ = (dc)->idx_mask[which];                                  \
        const uint32_t *slots_ = (dc)->idx[which];                               \
        for (uint32_t i_ = 0, pos_ = (hash) & mask_; i_ <= mask_; i_++, pos_ = (pos_ + 1) & mask_) { \
            uint32_t v_ = slots_[pos_];                                          \
            if (v_ == 0)                                                         \
                return -ENOENT;                                                  \
            if (match(&(rec_array)[v_ - 1]))                                     \
                return (int)(v_ - 1);                                            \
        }                                                                        \
        return -ENOENT;                                                          \
    } while (0)

int cs_dircache_user_by_name(const cs_dircache *dc, const char *name)
{
#define M(u) (strcmp(cs_dircache_str(dc, (u)->name), name) == 0)
    if (!dc->h)
        return -ENOENT;
    PROBE(dc, 0, cs_dc_hash_str(name), dc->users, M);
#undef M
}

int cs_dircache_user_by_uid(const cs_dircache *dc, uint32_t uid)
{
#define M(u) ((u)->uid == uid)
    if (!dc->h)
        return -ENOENT;
    PROBE(dc, 1, cs_dc_hash_id(uid), dc->users, M);
#undef M
}

int cs_dircache_group_by_name(const cs_dircache *dc, const char *name)
{
#define M(g) (strcmp(cs_dircache_str(dc, (g)->name), name) == 0)
    if (!dc->h)
        return -ENOENT;
    PROBE(dc, 2, cs_dc_hash_str(name), dc->groups, M);
#undef M
}

int cs_dircache_group_by_gid(const cs_dircache *dc, uint32_t gid)
{
#define M(g) ((g)->gid == gid)
    if (!dc->h)
        return -ENOENT;
    PROBE(dc, 3, cs_dc_hash_id(gid), dc->groups, M);
#undef M
}
