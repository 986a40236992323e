/* SPDX-License-Identifier: MIT */
/* Recovery key codes: Crockford base32 with a checksum. */
#include "crypto/recovery.h"

#include <errno.h>
#include <string.h>
#include <sodium.h>
#include "util/secmem.h"

#define CHECK_BYTES 3
#define RAW_BYTES (CS_RECOVERY_KEY_BYTES + CHECK_BYTES) /* 35 bytes = 56 x 5 bits */
#define CHECK_DOMAIN "cloudseal-recovery-v1"

_Static_assert(RAW_BYTES * 8 == CS_RECOVERY_CODE_CHARS * 5, "code length");

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void checksum(const uint8_t key[CS_RECOVERY_KEY_BYTES], uint8_t out[CHECK_BYTES])
{
    crypto_generichash_state st;
    uint8_t h[32];

    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)CHECK_DOMAIN, sizeof(CHECK_DOMAIN) - 1);
    crypto_generichash_update(&st, key, CS_RECOVERY_KEY_BYTES);
    crypto_generichash_final(&st, h, sizeof(h));
    memcpy(out, h, CHECK_BYTES);
    cs_wipe(&st, sizeof(st));
    cs_wipe(h, sizeof(h));
}

/* Value of one Crockford character, -1 when invalid. */
static int decode_char(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    if (c == 'I' || c == 'L')
        return 1;
    if (c == 'O')
        return 0;
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

void cs_recovery_generate(uint8_t key[CS_RECOVERY_KEY_BYTES])
{
    randombytes_buf(key, CS_RECOVERY_KEY_BYTES);
}

void cs_recovery_encode(const uint8_t key[CS_RECOVERY_KEY_BYTES], char code[CS_RECOVERY_CODE_MAX])
{
    uint8_t raw[RAW_BYTES];
    size_t o = 0;

    memcpy(raw, key, CS_RECOVERY_KEY_BYTES);
    checksum(key, raw + CS_RECOVERY_KEY_BYTES);
    for (size_t i = 0; i < CS_RECOVERY_CODE_CHARS; i++) {
        size_t bit = i * 5;
        /* 5 bits starting at bit, big-endian across byte boundaries */
        unsigned v = (unsigned)raw[bit / 8] << 8 | (bit / 8 + 1 < RAW_BYTES ? raw[bit / 8 + 1] : 0);
        v = (v >> (11 - bit % 8)) & 31;
        if (i && i % 4 == 0)
            code[o++] = '-';
        code[o++] = alphabet[v];
    }
    code[o] = '\0';
    cs_wipe(raw, sizeof(raw));
}

int cs_recovery_parse(const char *text, size_t len, uint8_t key[CS_RECOVERY_KEY_BYTES])
{
    uint8_t raw[RAW_BYTES] = { 0 };
    uint8_t want[CHECK_BYTES];
    size_t n = 0;
    int r = 0;

    if (!text || len > CS_RECOVERY_INPUT_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        int v;

        if (text[i] == '-' || text[i] == ' ' || text[i] == '\t')
            continue;
        v = decode_char(text[i]);
        if (v < 0 || n >= CS_RECOVERY_CODE_CHARS) {
            r = -EINVAL;
            goto out;
        }
        /* place the 5 bits at bit offset n*5 */
        for (int b = 0; b < 5; b++) {
            size_t bit = n * 5 + (size_t)b;
            if ((v >> (4 - b)) & 1)
                raw[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
        }
        n++;
    }
    if (n != CS_RECOVERY_CODE_CHARS) {
        r = -EINVAL;
        goto out;
    }
    checksum(raw, want);
    if (cs_memeq_ct(want, raw + CS_RECOVERY_KEY_BYTES, CHECK_BYTES) != 0) {
        r = -EILSEQ;
        goto out;
    }
    memcpy(key, raw, CS_RECOVERY_KEY_BYTES);
out:
    cs_wipe(raw, sizeof(raw));
    cs_wipe(want, sizeof(want));
    return r;
}
