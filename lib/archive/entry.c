/* SPDX-License-Identifier: MIT */
/* Encoding and validation of change-log entries. */
#include "archive/entry.h"

#include <errno.h>
#include <string.h>

static int validate(const cs_arch_entry *e)
{
    if (e->type == CS_AE_DIR) /* a folder, not an instance: no key */
        return e->key[0] || e->hlc == 0 || !e->folder[0] || cs_md_folder_valid(e->folder) < 0 || e->exists > 1
                   ? -EINVAL : 0;
    if (cs_md_unique_valid(e->key) < 0 || e->hlc == 0) /* 0 is "never written" in the registers */
        return -EINVAL;
    switch (e->type) {
    case CS_AE_ADD:
        if (e->mask != (CS_AE_FOLDER | CS_AE_SUBDIR | CS_AE_FLAGS) || e->flag_mask != CS_MD_FLAGS_ALL)
            return -EINVAL;
        if (e->ref.length < 24 + 16) /* nonce + tag: nothing shorter is a sealed body */
            return -EINVAL;
        if (e->mtime < 0 || e->mtime > (INT64_C(1) << 40)) /* before 1970 or after year 36812 */
            return -EINVAL;
        break;
    case CS_AE_SET:
        if (e->mask == 0 || (e->mask & ~(CS_AE_FOLDER | CS_AE_SUBDIR | CS_AE_FLAGS)))
            return -EINVAL;
        if ((e->mask & CS_AE_FLAGS) && e->flag_mask == 0)
            return -EINVAL;
        break;
    case CS_AE_DEL:
        return 0;
    default:
        return -EINVAL;
    }
    if ((e->mask & CS_AE_FOLDER) && cs_md_folder_valid(e->folder) < 0)
        return -EINVAL;
    if ((e->mask & CS_AE_SUBDIR) && e->subdir > CS_MD_CUR)
        return -EINVAL;
    if ((e->mask & CS_AE_FLAGS) &&
        ((e->flag_mask & ~CS_MD_FLAGS_ALL) || (e->flags & ~e->flag_mask)))
        return -EINVAL;
    return 0;
}

int cs_arch_entry_encode(const cs_arch_entry *e, cs_buf *out)
{
    size_t start = out->len;
    int r = validate(e);

    if (r < 0)
        return r;
    r = cs_put_u8(out, e->type);
    if (r == 0) r = cs_put_le64(out, e->hlc);
    if (r == 0) r = cs_put_str8(out, e->key);
    if (r == 0 && e->type == CS_AE_ADD) {
        r = cs_buf_append(out, e->id, CS_ARCH_ID_BYTES);
        if (r == 0) r = cs_buf_append(out, e->ref.pack, CS_ARCH_PACK_BYTES);
        if (r == 0) r = cs_put_le32(out, e->ref.offset);
        if (r == 0) r = cs_put_le32(out, e->ref.length);
        if (r == 0) r = cs_put_le32(out, e->ref.size);
        if (r == 0) r = cs_put_str8(out, e->folder);
        if (r == 0) r = cs_put_u8(out, e->subdir);
        if (r == 0) r = cs_put_le64(out, e->flags);
        if (r == 0) r = cs_put_le64(out, (uint64_t)e->mtime);
    } else if (r == 0 && e->type == CS_AE_DIR) {
        r = cs_put_str8(out, e->folder);
        if (r == 0) r = cs_put_u8(out, e->exists);
    } else if (r == 0 && e->type == CS_AE_SET) {
        r = cs_put_u8(out, e->mask);
        if (r == 0 && (e->mask & CS_AE_FOLDER)) r = cs_put_str8(out, e->folder);
        if (r == 0 && (e->mask & CS_AE_SUBDIR)) r = cs_put_u8(out, e->subdir);
        if (r == 0 && (e->mask & CS_AE_FLAGS)) r = cs_put_le64(out, e->flag_mask);
        if (r == 0 && (e->mask & CS_AE_FLAGS)) r = cs_put_le64(out, e->flags);
    }
    if (r < 0)
        out->len = start;
    return r;
}

static int decode_fields(cs_reader *r, cs_arch_entry *e)
{
    int ret = cs_get_u8(r, &e->type);

    if (ret == 0) ret = cs_get_le64(r, &e->hlc);
    if (ret == 0) ret = cs_get_str8(r, e->key, sizeof(e->key));
    if (ret < 0)
        return ret;
    if (e->type == CS_AE_ADD) {
        e->mask = CS_AE_FOLDER | CS_AE_SUBDIR | CS_AE_FLAGS;
        e->flag_mask = CS_MD_FLAGS_ALL;
        ret = cs_get_copy(r, e->id, CS_ARCH_ID_BYTES);
        if (ret == 0) ret = cs_get_copy(r, e->ref.pack, CS_ARCH_PACK_BYTES);
        if (ret == 0) ret = cs_get_le32(r, &e->ref.offset);
        if (ret == 0) ret = cs_get_le32(r, &e->ref.length);
        if (ret == 0) ret = cs_get_le32(r, &e->ref.size);
        if (ret == 0) ret = cs_get_str8(r, e->folder, sizeof(e->folder));
        if (ret == 0) ret = cs_get_u8(r, &e->subdir);
        if (ret == 0) ret = cs_get_le64(r, &e->flags);
        if (ret == 0) ret = cs_get_le64(r, (uint64_t *)&e->mtime);
    } else if (e->type == CS_AE_DIR) {
        ret = cs_get_str8(r, e->folder, sizeof(e->folder));
        if (ret == 0) ret = cs_get_u8(r, &e->exists);
    } else if (e->type == CS_AE_SET) {
        ret = cs_get_u8(r, &e->mask);
        if (ret == 0 && (e->mask & CS_AE_FOLDER)) ret = cs_get_str8(r, e->folder, sizeof(e->folder));
        if (ret == 0 && (e->mask & CS_AE_SUBDIR)) ret = cs_get_u8(r, &e->subdir);
        if (ret == 0 && (e->mask & CS_AE_FLAGS)) ret = cs_get_le64(r, &e->flag_mask);
        if (ret == 0 && (e->mask & CS_AE_FLAGS)) ret = cs_get_le64(r, &e->flags);
    }
    return ret;
}

int cs_arch_entry_decode(cs_reader *r, cs_arch_entry *e)
{
    memset(e, 0, sizeof(*e));
    if (decode_fields(r, e) < 0 || validate(e) < 0)
        return -EBADMSG;
    return 0;
}
