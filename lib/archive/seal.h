/* SPDX-License-Identifier: MIT */
/* Archive cryptography: content ids, sealed bodies and sealed log segments.
 * See docs/archive.md sections 2 and 3. */
#ifndef CS_ARCHIVE_SEAL_H
#define CS_ARCHIVE_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include "archive/entry.h"
#include "crypto/keys.h"
#include "util/buf.h"

#define CS_ARCH_DEV_BYTES 8
#define CS_ARCH_MSG_MAX (64u << 20)        /* largest message synced */
#define CS_ARCH_SEG_MAX (64u << 20)        /* largest sealed segment read */
#define CS_ARCH_SEG_PLAIN_MAX (256u << 20) /* largest decompressed segment */
#define CS_ARCH_SEAL_OVERHEAD (24 + 16)    /* nonce + tag */
#define CS_ARCH_SEG_HEADER 46              /* "CSAL" ver flags dev(8) seq(8) nonce(24) */

/* The three archive keys, in secure memory. */
typedef struct cs_arch_keys {
    uint8_t id_key[CS_KEY_BYTES];
    uint8_t body_key[CS_KEY_BYTES];
    uint8_t log_key[CS_KEY_BYTES];
} cs_arch_keys;

int cs_arch_keys_derive(const cs_amk *amk, cs_arch_keys **out);
void cs_arch_keys_free(cs_arch_keys *k);

/* Keyed BLAKE2b-256 of a message. */
void cs_arch_content_id(const cs_arch_keys *k, const void *msg, size_t len, uint8_t id[CS_ARCH_ID_BYTES]);

/* Append nonce || XChaCha20-Poly1305(zstd(msg), AD = "csarc-body-v1" || id). */
int cs_arch_body_seal(const cs_arch_keys *k, const uint8_t id[CS_ARCH_ID_BYTES],
                      const void *msg, size_t len, cs_buf *out);
/* Open a sealed body into out (replacing its contents); checks the content
 * id again.  -EBADMSG when tampered, truncated or not matching id,
 * -EMSGSIZE beyond CS_ARCH_MSG_MAX. */
int cs_arch_body_open(const cs_arch_keys *k, const uint8_t id[CS_ARCH_ID_BYTES],
                      const uint8_t *sealed, size_t len, cs_buf *out);

/* Seal encoded entries as segment seq of device dev. */
int cs_arch_segment_seal(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                         const uint8_t *entries, size_t len, cs_buf *out);
/* Header flag: a compacted segment; its entries are preceded by the u64
 * (little-endian) first sequence it supersedes (docs/archive.md section 8). */
#define CS_ARCH_SEG_COMPACTED 0x1
/* Not a header flag: seal as version 2, the version whose entries may
 * include DIR entries (folders); older readers say "upgrade" instead of
 * misreading them.  Segments without folders stay version 1. */
#define CS_ARCH_SEG_V2 0x80
/* Not a header flag either: version 3, a compacted segment whose body
 * holds a claim after "supersedes from" (claim.h, docs/archive.md section
 * 8); returned by cs_arch_segment_open_ex for such a segment. */
#define CS_ARCH_SEG_CLAIM 0x40

/* The same with header flags. */
int cs_arch_segment_seal_ex(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                            uint8_t flags, const uint8_t *entries, size_t len, cs_buf *out);
/* The same, accepting known header flags (returned in *flags). */
int cs_arch_segment_open_ex(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                            const uint8_t *data, size_t len, cs_buf *out, uint8_t *flags);

/* Open a segment that must be segment seq of device dev (the header is
 * authenticated, so a renamed or moved segment fails).  The decompressed
 * entries go to out.  -EBADMSG when malformed or tampered, -EMSGSIZE when
 * beyond the limits, -EPROTONOSUPPORT for a newer format version. */
int cs_arch_segment_open(const cs_arch_keys *k, const uint8_t dev[CS_ARCH_DEV_BYTES], uint64_t seq,
                         const uint8_t *data, size_t len, cs_buf *out);

#endif
