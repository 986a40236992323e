/* SPDX-License-Identifier: MIT */
/* libFuzzer: the file-change cache's version 3 stream (lib/repo/filecache.c).
 * The input is segment plaintexts, each a le16 length then its bytes; they
 * are sealed as the format says (the last one final) into a file, which is
 * then opened, looked into, and carried whole into a new cache by a save. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "repo/filecache.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/secmem.h"

static const uint8_t key[32] = { 7 };
static const cs_id repo_id = { { 9 } };

static void seal(cs_buf *f, const uint8_t *pt, size_t len, uint32_t index, uint8_t final)
{
    uint8_t ad[57], h[5 + 24];
    unsigned long long clen;
    size_t at;

    memcpy(ad, "CSF3", 4);
    memcpy(ad + 4, repo_id.b, 32);
    memset(ad + 36, 0xab, 16);
    for (int i = 0; i < 4; i++)
        ad[52 + i] = (uint8_t)(index >> (8 * i));
    ad[56] = final;
    for (int i = 0; i < 4; i++)
        h[i] = (uint8_t)((24 + len + 16) >> (8 * i));
    h[4] = final;
    randombytes_buf(h + 5, 24);
    if (cs_buf_append(f, h, sizeof(h)) < 0 || cs_buf_reserve(f, len + 16) < 0)
        return;
    at = f->len;
    crypto_aead_xchacha20poly1305_ietf_encrypt(f->data + at, &clen, pt, len, ad, sizeof(ad), NULL, h + 5, key);
    f->len += (size_t)clen;
}

static void look(const char *path)
{
    struct stat st = { .st_ino = 1 };
    const cs_id *ids;
    uint32_t n;
    bool nox;
    cs_id id = { { 1 } };
    cs_fcache *c;
    cs_fcache_dir *d;

    if (cs_fcache_open(key, &repo_id, path, &c) < 0)
        return;
    if ((d = cs_fcache_dir_open(c, "/d"))) {
        (void)cs_fcache_dir_lookup(d, "x", &st, &ids, &n, &nox);
        (void)cs_fcache_dir_lookup(d, "y", &st, &ids, &n, &nox);
        (void)cs_fcache_dir_put(d, "z", &st, &id, 1, true);
        (void)cs_fcache_dir_close(d);
    }
    (void)cs_fcache_save(c);
    cs_fcache_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_buf f = CS_BUF_INIT;
    char path[64];
    uint32_t index = 0;

    cs_crypto_init();
    /* tmpfs where there is one: the save fsyncs */
    snprintf(path, sizeof(path), "%s/fuzz_filecache_stream.%d", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
    cs_buf_append(&f, "CSFC\3\0\0\0", 8);
    for (int i = 0; i < 16; i++)
        cs_buf_append(&f, "\xab", 1);
    while (size >= 2) {
        size_t len = (size_t)(data[0] | data[1] << 8);
        if (len > size - 2)
            len = size - 2;
        seal(&f, data + 2, len, index++, size - 2 - len < 2);
        data += 2 + len;
        size -= 2 + len;
    }
    if (cs_write_file_atomic(path, f.data, f.len, 0600) == 0) {
        look(path);
        look(path); /* the cache the first look wrote */
    }
    unlink(path);
    cs_buf_free(&f);
    return 0;
}
