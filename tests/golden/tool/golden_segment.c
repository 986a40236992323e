/* SPDX-License-Identifier: MIT */
/* golden-tool segment: an archive log segment opened with the account's
 * archive keys, its entries decoded and encoded again: the entries' wire
 * encoding (lib/archive/entry.c over lib/util/bytes.h) must not change.
 * The seal itself takes a fresh nonce, so only the plaintext is compared. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/entry.h"
#include "archive/seal.h"
#include "golden_tool.h"
#include "util/bytes.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

static int parse_device(const char *hex, uint8_t dev[CS_ARCH_DEV_BYTES])
{
    if (strlen(hex) != 2 * CS_ARCH_DEV_BYTES)
        return -EINVAL;
    for (size_t i = 0; i < CS_ARCH_DEV_BYTES; i++)
        if (sscanf(hex + 2 * i, "%2" SCNx8, &dev[i]) != 1)
            return -EINVAL;
    return 0;
}

/* Re-encode every entry of plain (after the compacted prefix, if any). */
static int reencode(const cs_buf *plain, size_t skip, cs_buf *out, size_t *n)
{
    cs_reader rd = cs_rd_init(plain->data + skip, plain->len - skip);
    cs_arch_entry *e = malloc(sizeof(*e));
    int r = 0;

    if (!e)
        return -ENOMEM;
    while (r == 0 && cs_rd_left(&rd) > 0) {
        memset(e, 0, sizeof(*e));
        r = cs_arch_entry_decode(&rd, e);
        if (r == 0)
            r = cs_arch_entry_encode(e, out);
        (*n)++;
    }
    free(e);
    return r;
}

/* argv: KEYBAG DEVICE SEQ FILE */
int golden_segment(int argc, char **argv)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT, plain = CS_BUF_INIT, again = CS_BUF_INIT;
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_arch_keys *keys = NULL;
    uint8_t dev[CS_ARCH_DEV_BYTES], flags = 0;
    uint64_t seq = strtoull(argv[2], NULL, 10);
    size_t n = 0, skip;
    char name[64];
    int r;

    if (argc != 4 || parse_device(argv[1], dev) < 0 || seq == 0)
        return log_error_errno(-EINVAL, "segment KEYBAG DEVICE(16 hex) SEQ FILE");
    if ((r = cs_read_file(argv[3], 64u << 20, &raw)) < 0)
        return log_error_errno(r, "%s", argv[3]);
    if ((r = golden_unlock(argv[0], NULL, &amk)) < 0)
        return r;
    if ((r = cs_arch_keys_derive(amk, &keys)) < 0)
        return log_error_errno(r, "deriving the archive keys");
    r = cs_arch_segment_open_ex(keys, dev, seq, raw.data, raw.len, &plain, &flags);
    cs_arch_keys_free(keys);
    if (r < 0)
        return log_error_errno(r, "%s: cannot open the segment", argv[3]);
    skip = flags & CS_ARCH_SEG_COMPACTED ? 8 : 0;
    if (skip && (r = cs_buf_append(&again, plain.data, skip)) < 0)
        return r;
    if ((r = reencode(&plain, skip, &again, &n)) < 0)
        return log_error_errno(r, "%s: entry %zu does not decode or encode", argv[3], n);
    snprintf(name, sizeof(name), "%s/%" PRIu64 " (flags 0x%02x, %zu entries)", argv[1], seq, flags, n);
    return golden_same("segment", name, again.data, again.len, plain.data, plain.len);
}
