/* SPDX-License-Identifier: MIT */
/* libFuzzer: the directory-cache reader, the code inside every process that
 * resolves a user name (lib/basic/dircache_reader.c, in libcloudseal.a).  After
 * cs_dircache_parse accepts an image, every record, string and list it
 * points to must be readable without leaving the image. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/dircache.h"

static volatile size_t sink;

static void walk(const cs_dircache *dc)
{
    for (uint32_t i = 0; i < dc->h->n_users; i++) {
        const struct cs_dc_user *u = &dc->users[i];

        sink += strlen(cs_dircache_str(dc, u->name)) + strlen(cs_dircache_str(dc, u->gecos)) +
                strlen(cs_dircache_str(dc, u->home)) + strlen(cs_dircache_str(dc, u->shell));
        for (uint32_t g = 0; g < u->n_gids; g++)
            sink += dc->u32s[u->gids + g];
        if (u->flags & CS_DC_USER_HAS_KEYBAG) /* the keybag floor: generation and SHA-256 */
            for (uint32_t k = 0; k < CS_DC_KEYBAG_U32S; k++)
                sink += dc->u32s[u->keybag + k];
        sink += (size_t)cs_dircache_user_by_name(dc, cs_dircache_str(dc, u->name));
        sink += (size_t)cs_dircache_user_by_uid(dc, u->uid);
    }
    for (uint32_t i = 0; i < dc->h->n_groups; i++) {
        const struct cs_dc_group *g = &dc->groups[i];

        sink += strlen(cs_dircache_str(dc, g->name));
        for (uint32_t m = 0; m < g->n_members; m++)
            sink += strlen(cs_dircache_str(dc, dc->u32s[g->members + m]));
        sink += (size_t)cs_dircache_group_by_name(dc, cs_dircache_str(dc, g->name));
        sink += (size_t)cs_dircache_group_by_gid(dc, g->gid);
    }
    sink += (size_t)cs_dircache_user_by_name(dc, "root") + (size_t)cs_dircache_user_by_uid(dc, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the reader wants the alignment mmap gives */
    uint64_t *copy = malloc(size / 8 + 1 ? (size / 8 + 1) * 8 : 8);
    cs_dircache dc;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (cs_dircache_parse(copy, size, &dc) == 0)
        walk(&dc);
    /* again with a correct checksum, so mutations reach the structural
     * checks behind it instead of all dying at the checksum */
    if (size >= sizeof(struct cs_dc_header)) {
        struct cs_dc_header *h = (struct cs_dc_header *)copy;

        h->checksum = cs_dc_checksum((const uint8_t *)copy, size);
        if (cs_dircache_parse(copy, size, &dc) == 0)
            walk(&dc);
    }
    free(copy);
    return 0;
}
