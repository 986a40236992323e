/* SPDX-License-Identifier: MIT */
/* Pack objects: blobs back to back, then the sealed header listing them,
 * its length and a magic.  The header makes every pack self-describing, so
 * a lost index can be rebuilt and `check` can compare packs to the index. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "repo/repo_int.h"

#define PACK_HDR_VERSION 1
#define PACK_BLOB_RECORD 41 /* type + id + enc_len + raw_len */
static const uint8_t pack_magic[4] = { 'C', 'S', 'P', 'K' };

int cs_pack_header_encode(const cs_pack_blob *b, size_t n, cs_buf *out)
{
    /* sized up front: a cs_buf that grows copies and wipes (util/buf.h) */
    int r = cs_buf_reserve(out, 8 + n * PACK_BLOB_RECORD);

    if (r < 0)
        return r;
    r = cs_put_le32(out, PACK_HDR_VERSION);
    r |= cs_put_le32(out, (uint32_t)n);
    for (size_t i = 0; i < n && r == 0; i++) {
        r |= cs_put_u8(out, b[i].type);
        r |= cs_buf_append(out, b[i].id.b, CS_ID_LEN);
        r |= cs_put_le32(out, b[i].enc_len);
        r |= cs_put_le32(out, b[i].raw_len);
    }
    return r ? -ENOMEM : 0;
}

int cs_pack_header_parse(const uint8_t *data, size_t len, uint64_t blobs_end, cs_pack_blob **out, size_t *n)
{
    cs_reader rd = cs_rd_init(data, len);
    uint32_t version, count;
    uint64_t off = 0;
    cs_pack_blob *b;

    if (cs_get_le32(&rd, &version) < 0 || version != PACK_HDR_VERSION)
        return -EBADMSG;
    cs_get_le32(&rd, &count);
    if (rd.err || (uint64_t)count * PACK_BLOB_RECORD != cs_rd_left(&rd))
        return -EBADMSG;
    b = calloc(count ? count : 1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        cs_get_u8(&rd, &b[i].type);
        cs_get_copy(&rd, b[i].id.b, CS_ID_LEN);
        cs_get_le32(&rd, &b[i].enc_len);
        cs_get_le32(&rd, &b[i].raw_len);
        b[i].offset = (uint32_t)off;
        off += b[i].enc_len;
        if ((b[i].type != CS_BLOB_DATA && b[i].type != CS_BLOB_TREE) || b[i].enc_len < CS_BLOB_OVERHEAD ||
            b[i].enc_len > CS_MAX_BLOB || off > blobs_end || b[i].raw_len > CS_MAX_TREE) {
            free(b);
            return -EBADMSG;
        }
    }
    if (off != blobs_end) {
        free(b);
        return -EBADMSG;
    }
    *out = b;
    *n = count;
    return 0;
}

int cs_pack_finish(const cs_repo_keys *k, const cs_pack_blob *b, size_t n, cs_buf *pack)
{
    _cleanup_buf_ cs_buf hdr = CS_BUF_INIT;
    size_t before = pack->len;
    int r = cs_pack_header_encode(b, n, &hdr);

    if (r < 0)
        return r;
    r = cs_seal(k->data, CS_OBJ_PACK_HEADER, NULL, hdr.data, hdr.len, pack);
    if (r < 0)
        return r;
    r = cs_put_le32(pack, (uint32_t)(pack->len - before));
    if (r == 0)
        r = cs_buf_append(pack, pack_magic, 4);
    return r;
}

int cs_pack_trailer(const uint8_t *tail, size_t tail_len, uint64_t pack_len, uint32_t *hlen)
{
    cs_reader rd;
    const uint8_t *magic;

    *hlen = 0;
    if (tail_len < 8 || pack_len < 8 + CS_SEAL_OVERHEAD || tail_len > pack_len)
        return -EBADMSG;
    rd = cs_rd_init(tail + tail_len - 8, 8); /* header length, magic */
    cs_get_le32(&rd, hlen);
    if (cs_get_bytes(&rd, 4, &magic) < 0 || memcmp(magic, pack_magic, 4) != 0)
        return -EBADMSG;
    if (*hlen > pack_len - 8 || *hlen < CS_SEAL_OVERHEAD)
        return -EBADMSG;
    return 0;
}

int cs_pack_open_header(const cs_repo_keys *k, const uint8_t *sealed, uint32_t hlen, uint64_t pack_len,
                        cs_pack_blob **out, size_t *n)
{
    _cleanup_buf_ cs_buf hdr = CS_BUF_INIT;
    int r = cs_unseal(k->data, CS_OBJ_PACK_HEADER, NULL, sealed, hlen, &hdr);

    if (r < 0)
        return r;
    return cs_pack_header_parse(hdr.data, hdr.len, pack_len - 8 - hlen, out, n);
}

int cs_pack_read_header(const cs_repo_keys *k, const uint8_t *pack, size_t len, cs_pack_blob **out, size_t *n)
{
    uint32_t hlen;
    int r = cs_pack_trailer(pack, len, len, &hlen);

    if (r < 0)
        return r;
    return cs_pack_open_header(k, pack + len - 8 - hlen, hlen, len, out, n);
}
