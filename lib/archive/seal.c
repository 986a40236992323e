/* SPDX-License-Identifier: MIT */
/* Content ids, body and segment sealing (libsodium + zstd). */
#include "archive/seal.h"

#include <errno.h>
#include <string.h>
#include <sodium.h>
#include <zstd.h>
#include "util/secmem.h"

#define ARCH_KDF_CONTEXT "csarchv1"
#define BODY_AD_PREFIX "csarc-body-v1"
#define SEG_MAGIC "CSAL"
#define SEG_VERSION 3 /* 3: compacted with a claim; 2: may hold DIR entries; 1 is still written when neither */
#define ZSTD_LEVEL 3

int cs_arch_keys_derive(const cs_amk *amk, cs_arch_keys **out)
{
    cs_arch_keys *k = cs_secure_alloc(sizeof(*k));
    uint8_t *archive = cs_secure_alloc(CS_KEY_BYTES);
    int r = -ENOMEM;

    if (!k || !archive)
        goto out;
    r = cs_amk_derive(amk, CS_SUBKEY_ARCHIVE_ID, k->id_key);
    if (r == 0)
        r = cs_amk_derive(amk, CS_SUBKEY_ARCHIVE, archive);
    if (r == 0 && (crypto_kdf_derive_from_key(k->body_key, CS_KEY_BYTES, 1, ARCH_KDF_CONTEXT, archive) != 0 ||
                   crypto_kdf_derive_from_key(k->log_key, CS_KEY_BYTES, 2, ARCH_KDF_CONTEXT, archive) != 0))
        r = -EIO;
out:
    cs_secure_free(archive);
    if (r < 0) {
        cs_secure_free(k);
        return r;
    }
    *out = k;
    return 0;
}

void cs_arch_keys_free(cs_arch_keys *k)
{
    cs_secure_free(k);
}

void cs_arch_content_id(const cs_arch_keys *k, const void *msg, size_t len, uint8_t id[CS_ARCH_ID_BYTES])
{
    crypto_generichash(id, CS_ARCH_ID_BYTES, msg, len, k->id_key, CS_KEY_BYTES);
}

/* zstd-compress src and append nonce || AEAD(compressed) to out. */
static int compress_seal(const uint8_t key[CS_KEY_BYTES], const uint8_t *ad, size_t adlen,
                         const void *src, size_t len, cs_buf *out, uint8_t *nonce_out)
{
    size_t bound = ZSTD_compressBound(len), clen, start = out->len;
    uint8_t *nonce, *ct;
    unsigned long long ctlen;
    int r = cs_buf_reserve(out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + bound +
                                crypto_aead_xchacha20poly1305_ietf_ABYTES);

    if (r < 0)
        return r;
    nonce = out->data + start;
    ct = nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (nonce_out)
        memcpy(nonce, nonce_out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    else
        randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    clen = ZSTD_compress(ct, bound, src, len, ZSTD_LEVEL);
    if (ZSTD_isError(clen))
        return -EIO;
    /* encrypt in place: libsodium allows c == m */
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, ct, clen, ad, adlen, NULL, nonce, key);
    out->len = start + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)ctlen;
    return 0;
}

/* Decrypt nonce || ct into a scratch buffer, then decompress into out
 * (at most max_plain bytes; the frame must declare its size). */
static int open_decompress(const uint8_t key[CS_KEY_BYTES], const uint8_t *ad, size_t adlen,
                           const uint8_t *nonce, const uint8_t *ct, size_t ctlen,
                           size_t max_plain, cs_buf *out)
{
    cs_buf comp = CS_BUF_INIT;
    unsigned long long clen;
    unsigned long long fsize;
    size_t got;
    int r;

    if (ctlen < crypto_aead_xchacha20poly1305_ietf_ABYTES)
        return -EBADMSG;
    r = cs_buf_reserve(&comp, ctlen);
    if (r < 0)
        goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(comp.data, &clen, NULL, ct, ctlen, ad, adlen,
                                                   nonce, key) != 0) {
        r = -EBADMSG;
        goto out;
    }
    fsize = ZSTD_getFrameContentSize(comp.data, (size_t)clen);
    if (fsize == ZSTD_CONTENTSIZE_ERROR || fsize == ZSTD_CONTENTSIZE_UNKNOWN) {
        r = -EBADMSG;
        goto out;
    }
    if (fsize > max_plain) {
        r = -EMSGSIZE;
        goto out;
    }
    out->len = 0;
    r = cs_buf_reserve(out, (size_t)fsize ? (size_t)fsize : 1);
    if (r < 0)
        goto out;
    got = ZSTD_decompress(out->data, (size_t)fsize, comp.data, (size_t)clen);
    if (ZSTD_isError(got) || got != fsize) {
        r = -EBADMSG;
        goto out;
    }
    out->len = got;
    r = 0;
out:
    cs_buf_free(&comp);
    return r;
}

static void body_ad(const uint8_t id[CS_ARCH_ID_BYTES], uint8_t ad[sizeof(BODY_AD_PREFIX) - 1 + CS_ARCH_ID_BYTES])
{
    memcpy(ad, BODY_AD_PREFIX, sizeof(BODY_AD_PREFIX) - 1);
    memcpy(ad + sizeof(BODY_AD_PREFIX) - 1, id, CS_ARCH_ID_BYTES);
}

int cs_arch_body_seal(const cs_arch_keys *k, const uint8_t id[CS_ARCH_ID_BYTES],
                      const void *msg, size_t len, cs_buf *out)
{
    uint8_t ad[sizeof(BODY_AD_PREFIX) - 1 + CS_ARCH_ID_BYTES];

    if (len > CS_ARCH_MSG_MAX)
        return -EMSGSIZE;
    body_ad(id, ad);
    return compress_seal(k->body_key, ad, sizeof(ad), msg, len, out, NULL);
}

int cs_arch_body_open(const cs_arch_keys *k, const uint8_t id[CS_ARCH_ID_BYTES],
                      const uint8_t *sealed, size_t len, cs_buf *out)
{
    uint8_t ad[sizeof(BODY_AD_PREFIX) - 1 + CS_ARCH_ID_BYTES], check[CS_ARCH_ID_BYTES];
    int r;

    if (len < CS_ARCH_SEAL_OVERHEAD)
        return -EBADMSG;
    body_ad(id, ad);
    r = open_decompress(k->body_key, ad, sizeof(ad), sealed, sealed + 24, len - 24, CS_ARCH_MSG_MAX, out);
    if (r < 0)
        return r;
    cs_arch_content_id(k, out->data, out->len, check);
    return sodium_memcmp(check, id, CS_ARCH_ID_BYTES) == 0 ? 0 : -EBADMSG;
}

static void seg_header(uint8_t version, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq, uint8_t flags,
                       const uint8_t nonce[24], uint8_t h[CS_ARCH_SEG_HEADER])
{
    memcpy(h, SEG_MAGIC, 4);
    h[4] = version;
    h[5] = flags;
    memcpy(h + 6, dev, CS_ARCH_DEV_BYTES);
    for (int i = 0; i < 8; i++)
        h[14 + i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(h + 22, nonce, 24);
}

int cs_arch_segment_seal(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                         const uint8_t *entries, size_t len, cs_buf *out)
{
    return cs_arch_segment_seal_ex(k, dev, seq, 0, entries, len, out);
}

int cs_arch_segment_seal_ex(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                            uint8_t flags, const uint8_t *entries, size_t len, cs_buf *out)
{
    uint8_t h[CS_ARCH_SEG_HEADER], nonce[24];
    size_t start = out->len;
    int r;

    if (len > CS_ARCH_SEG_PLAIN_MAX)
        return -EMSGSIZE;
    randombytes_buf(nonce, sizeof(nonce));
    if ((flags & CS_ARCH_SEG_CLAIM) && !(flags & CS_ARCH_SEG_COMPACTED))
        return -EINVAL;
    seg_header(flags & CS_ARCH_SEG_CLAIM ? 3 : flags & CS_ARCH_SEG_V2 ? 2 : 1, dev, seq,
               flags & ~(CS_ARCH_SEG_V2 | CS_ARCH_SEG_CLAIM), nonce, h);
    /* header, then the sealed body; compress_seal writes the nonce again,
     * so write the first 22 bytes and let it append nonce || ciphertext */
    r = cs_buf_append(out, h, 22);
    if (r == 0)
        r = compress_seal(k->log_key, h, sizeof(h), entries, len, out, nonce);
    if (r < 0)
        out->len = start;
    else if (out->len - start > CS_ARCH_SEG_MAX)
        r = -EMSGSIZE;
    return r;
}

int cs_arch_segment_open(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                         const uint8_t *data, size_t len, cs_buf *out)
{
    uint8_t flags;
    int r = cs_arch_segment_open_ex(k, dev, seq, data, len, out, &flags);

    if (r == 0 && flags != 0) {
        out->len = 0;
        r = -EBADMSG; /* a caller that does not know compacted segments */
    }
    return r;
}

int cs_arch_segment_open_ex(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                            const uint8_t *data, size_t len, cs_buf *out, uint8_t *flags)
{
    uint8_t want[CS_ARCH_SEG_HEADER];

    if (len > CS_ARCH_SEG_MAX)
        return -EMSGSIZE;
    if (len < CS_ARCH_SEG_HEADER + 16 || memcmp(data, SEG_MAGIC, 4) != 0)
        return -EBADMSG;
    if (data[4] > SEG_VERSION)
        return -EPROTONOSUPPORT;
    if (data[4] < 1)
        return -EBADMSG;
    if (data[5] & ~CS_ARCH_SEG_COMPACTED)
        return -EBADMSG;
    if (data[4] == 3 && !(data[5] & CS_ARCH_SEG_COMPACTED))
        return -EBADMSG; /* claims are only in compacted segments */
    *flags = data[5] | (data[4] == 3 ? CS_ARCH_SEG_CLAIM : 0);
    seg_header(data[4], dev, seq, data[5], data + 22, want);
    if (memcmp(data, want, CS_ARCH_SEG_HEADER) != 0)
        return -EBADMSG; /* wrong version/flags, or renamed to another device or position */
    return open_decompress(k->log_key, data, CS_ARCH_SEG_HEADER, data + 22, data + CS_ARCH_SEG_HEADER,
                           len - CS_ARCH_SEG_HEADER, CS_ARCH_SEG_PLAIN_MAX, out);
}
