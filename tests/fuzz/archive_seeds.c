/* SPDX-License-Identifier: MIT */
/* Writes the seed corpora of the archive fuzz targets (run by
 * `make archive-fuzz-seeds`; the output is committed).  The state seeds of
 * older versions (state-v1, state: version 2) are kept as committed. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "archive/claim.h"
#include "archive/entry.h"
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "archive_fuzz_common.h"

static void save(const char *dir, const char *name, const void *d, size_t n)
{
    char p[512];
    FILE *f;

    mkdir(dir, 0755);
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "wb");
    if (!f || fwrite(d, 1, n, f) != n)
        perror(p);
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    cs_arch_keys *k = fuzz_keys("archive_seeds");
    cs_buf entries = CS_BUF_INIT, seg = CS_BUF_INIT, st_enc = CS_BUF_INIT, body = CS_BUF_INIT;
    cs_arch_entry e = { 0 };
    cs_arch_state *st;
    char dir[400];
    static const char msg[] = "From: a@example.org\nSubject: seed\n\nhello\n";
    uint8_t id[CS_ARCH_ID_BYTES] = { 1 };

    e.type = CS_AE_ADD;
    e.hlc = 1000;
    snprintf(e.key, sizeof(e.key), "1700000000.M1P1.host");
    e.ref.length = 100;
    e.mask = 7;
    snprintf(e.folder, sizeof(e.folder), ".Sent");
    e.subdir = 1;
    e.flag_mask = CS_MD_FLAGS_ALL;
    e.flags = 1u << ('S' - 'A');
    cs_arch_entry_encode(&e, &entries);
    e.type = CS_AE_SET;
    e.hlc = 1001;
    e.mask = CS_AE_FLAGS | CS_AE_FOLDER;
    e.folder[0] = '\0';
    e.flag_mask = 1u << ('F' - 'A');
    e.flags = e.flag_mask;
    cs_arch_entry_encode(&e, &entries);
    e.type = CS_AE_DEL;
    e.hlc = 1002;
    cs_arch_entry_encode(&e, &entries);
    snprintf(dir, sizeof(dir), "%s/fuzz_archive_log", base);
    save(dir, "three-entries", entries.data, entries.len);
    snprintf(dir, sizeof(dir), "%s/fuzz_archive_segment", base);
    cs_arch_segment_seal(k, fuzz_dev, FUZZ_SEQ, entries.data, entries.len, &seg);
    save(dir, "segment", seg.data, seg.len);
    {   /* version 3: compacted, "supersedes from", a claim, the entries */
        cs_arch_claim_front front[2] = { { { 0x01 }, 999 }, { { 0xf0, 1, 2, 3, 4, 5, 6, 7 }, 1002 } };
        uint64_t collected[2] = { 7, 0x8000000000000000u };
        cs_arch_claim claim = { .t = 1700000000000u, .nfront = 2, .front = front, .ncollected = 2,
                                .collected = collected };
        cs_buf body3 = CS_BUF_INIT, seg3 = CS_BUF_INIT;

        cs_put_le64(&body3, 1);
        cs_arch_claim_encode(&claim, &body3);
        cs_buf_append(&body3, entries.data, entries.len);
        cs_arch_segment_seal_ex(k, fuzz_dev, FUZZ_SEQ, CS_ARCH_SEG_COMPACTED | CS_ARCH_SEG_CLAIM, body3.data,
                                body3.len, &seg3);
        save(dir, "segment-v3", seg3.data, seg3.len);
        snprintf(dir, sizeof(dir), "%s/fuzz_archive_claim", base);
        save(dir, "claim", body3.data, body3.len);
        claim.retired = true;
        claim.retired_by[0] = 0xf0;
        body3.len = 0;
        cs_put_le64(&body3, 2);
        cs_arch_claim_encode(&claim, &body3);
        save(dir, "retired", body3.data, body3.len);
        snprintf(dir, sizeof(dir), "%s/fuzz_archive_segment", base);
        cs_buf_free(&body3);
        cs_buf_free(&seg3);
    }
    cs_arch_state_new(&st);
    cs_arch_state_dev(st, fuzz_dev);
    cs_arch_apply_segment(st, 1, entries.data, entries.len, NULL);
    e.type = CS_AE_ADD; /* a live instance with a local placement */
    e.mask = 7;
    e.flag_mask = CS_MD_FLAGS_ALL;
    snprintf(e.key, sizeof(e.key), "live");
    cs_arch_state_apply(st, 0, &e);
    cs_arch_inst_set_local(cs_arch_state_find(st, "live"), "", 1, "live:2,S");
    st->md_bound = true; /* bound to a Maildir (version 2) */
    memset(st->md_id, 0xab, sizeof(st->md_id));
    st->md_dev = 2049;
    {   /* version 3: a claim of device 1 and collected names */
        static cs_arch_front front[1] = { { 0, 1002 } };
        uint64_t collected[2] = { 5, 9 };

        st->devs[1].claimed = true;
        st->devs[1].claim_seq = 3;
        st->devs[1].claim_t = 1700000000000u;
        st->devs[1].nfront = 1;
        st->devs[1].front = malloc(sizeof(front));
        memcpy(st->devs[1].front, front, sizeof(front));
        st->devs[1].seen = 1002;
        cs_arch_collected_add(st, collected, 2);
    }
    cs_arch_state_encode(st, &st_enc);
    snprintf(dir, sizeof(dir), "%s/fuzz_archive_state", base);
    save(dir, "state-v3", st_enc.data, st_enc.len);
    snprintf(dir, sizeof(dir), "%s/fuzz_archive_body", base);
    cs_arch_body_seal(k, id, msg, sizeof(msg) - 1, &body); /* id mismatch after decryption: still a path */
    save(dir, "body", body.data, body.len);
    snprintf(dir, sizeof(dir), "%s/fuzz_archive_name", base);
    save(dir, "flags", "1700000000.M1P1.host:2,FRS", 26);
    save(dir, "plain", "1700000000.M1P1.host", 20);
    save(dir, "folder", ".Lists.debian", 13);
    cs_arch_state_free(st);
    cs_buf_free(&entries);
    cs_buf_free(&seg);
    cs_buf_free(&st_enc);
    cs_buf_free(&body);
    return 0;
}
