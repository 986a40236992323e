/* SPDX-License-Identifier: MIT */
/* libFuzzer: the bounded binary reader (lib/util/bytes.c) every binary
 * format goes through.  The first byte says how many of the next bytes are
 * a script of getters; the rest is the record they read.  Checked: nothing
 * is handed out past the end, the first error sticks, and what a getter
 * returns round-trips through the matching writer. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/bytes.h"

/* A getter that succeeded handed out n bytes inside the record; one that
 * failed handed out nothing. */
static void check_in(int r, const uint8_t *p, size_t n, const uint8_t *rec, size_t len)
{
    if (r < 0 ? p != NULL : n && (!p || p < rec || n > len || p - rec > (ptrdiff_t)(len - n)))
        abort();
}

/* One getter chosen by op; its value re-encoded into out (on success). */
static int step(cs_reader *rd, uint8_t op, const uint8_t *rec, size_t len, cs_buf *out)
{
    const uint8_t *p = NULL;
    char str[256];
    uint64_t v64;
    uint32_t v32;
    uint16_t v16;
    uint8_t v8;
    size_t n = 0;
    int r;

    switch (op % 10) {
    case 0: r = cs_get_u8(rd, &v8); return r < 0 ? r : cs_put_u8(out, v8);
    case 1: r = cs_get_le16(rd, &v16); return r < 0 ? r : cs_put_le16(out, v16);
    case 2: r = cs_get_le32(rd, &v32); return r < 0 ? r : cs_put_le32(out, v32);
    case 3: r = cs_get_le64(rd, &v64); return r < 0 ? r : cs_put_le64(out, v64);
    case 4: r = cs_get_be32(rd, &v32); return r < 0 ? r : cs_put_be32(out, v32);
    case 5: r = cs_get_be64(rd, &v64); return r < 0 ? r : cs_put_be64(out, v64);
    case 6: r = cs_get_lp8(rd, &p, &n); break;
    case 7:
        r = cs_get_lp_be32(rd, &p, &n);
        check_in(r, p, n, rec, len);
        return r < 0 ? r : cs_put_lp_be32(out, p, n);
    case 8:
        r = cs_get_str8(rd, str, 1 + op % sizeof(str));
        return r < 0 ? r : cs_put_str8(out, str);
    default:
        r = cs_get_bytes(rd, op, &p);
        check_in(r, p, op, rec, len);
        return r < 0 ? r : cs_buf_append(out, p, op);
    }
    check_in(r, p, n, rec, len);
    return r < 0 ? r : cs_put_lp8(out, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nops = size ? data[0] : 0;
    const uint8_t *ops = data + 1, *rec;
    cs_buf out = CS_BUF_INIT;
    cs_reader rd;
    int failed = 0;

    if (nops > size - (size > 0))
        nops = size - (size > 0);
    rec = ops + nops;
    rd = cs_rd_init(rec, size - (size > 0) - nops);
    for (size_t i = 0; i < nops; i++) {
        size_t before = cs_rd_left(&rd);
        int r = step(&rd, ops[i], rec, size - (size > 0) - nops, &out);

        if (r < 0 && r != -EBADMSG)
            abort(); /* writers cannot fail on what a getter accepted */
        if ((failed && r == 0) || cs_rd_left(&rd) > before)
            abort(); /* sticky, never backwards */
        failed |= r < 0;
    }
    /* what was read, re-encoded, is exactly the bytes consumed */
    if (!failed && (out.len != (size_t)(rd.p - rec) || (out.len && memcmp(out.data, rec, out.len) != 0)))
        abort();
    if (cs_rd_end(&rd) != (failed || cs_rd_left(&rd) ? -EBADMSG : 0))
        abort();
    cs_buf_free(&out);
    return 0;
}
