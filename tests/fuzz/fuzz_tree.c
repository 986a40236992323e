/* SPDX-License-Identifier: MIT */
/* libFuzzer: the tree blob parser (plaintext after decryption). */
#include <stdint.h>
#include <string.h>
#include "repo/repo_int.h"
#include "repo/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_tree t;

    if (cs_tree_parse(data, size, &t) == 0) {
        cs_buf b = CS_BUF_INIT;
        /* whatever parses must re-encode to the same bytes (canonical form) */
        if (cs_tree_encode(t.nodes, t.n, &b) == 0 && (b.len != size || memcmp(b.data, data, size) != 0))
            __builtin_trap();
        cs_buf_free(&b);
        cs_tree_free(&t);
    }
    return 0;
}
