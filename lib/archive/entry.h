/* SPDX-License-Identifier: MIT */
/* Change-log entries: ADD, SET and DEL of one message instance, stamped
 * with a hybrid logical clock.  Binary, little-endian; the wire layout is
 * in docs/archive.md section 3.  Entries travel only inside encrypted,
 * authenticated segments, but the decoder still treats them as hostile. */
#ifndef CS_ARCHIVE_ENTRY_H
#define CS_ARCHIVE_ENTRY_H

#include <stdint.h>
#include "archive/hlc.h"
#include "archive/maildir.h"
#include "util/bytes.h"
#include "util/buf.h"

/* DIR: a Maildir++ folder created (exists = 1) or removed (0), an LWW
 * register per folder name; key is "", the name is in folder.  Segments
 * holding one are version 2 (docs/archive.md section 3). */
enum { CS_AE_ADD = 1, CS_AE_SET = 2, CS_AE_DEL = 3, CS_AE_DIR = 4 };

/* SET mask bits */
#define CS_AE_FOLDER 0x1
#define CS_AE_SUBDIR 0x2
#define CS_AE_FLAGS  0x4

#define CS_ARCH_ID_BYTES 32
#define CS_ARCH_PACK_BYTES 16

/* Where a body is: sealed bytes [offset, offset+length) of pack/<hex(pack)>. */
typedef struct cs_arch_ref {
    uint8_t pack[CS_ARCH_PACK_BYTES];
    uint32_t offset;
    uint32_t length;
    uint32_t size; /* plaintext size */
} cs_arch_ref;

typedef struct cs_arch_entry {
    uint8_t type;
    cs_hlc hlc;
    char key[CS_MD_UNIQUE_MAX + 1];
    /* ADD */
    uint8_t id[CS_ARCH_ID_BYTES];
    cs_arch_ref ref;
    int64_t mtime;      /* the file's modification time (seconds): mail clients
                           show it as the received date; 0 = unknown */
    /* ADD (all fields) and SET (fields in mask) */
    uint8_t mask;
    char folder[CS_MD_FOLDER_MAX + 1];
    uint8_t subdir;
    uint64_t flag_mask; /* SET: which flags this entry writes; ADD: all */
    uint64_t flags;     /* their values (a subset of flag_mask) */
    uint8_t exists;     /* DIR */
} cs_arch_entry;

/* Append the encoding of e to out.  -EINVAL if e is not well formed. */
int cs_arch_entry_encode(const cs_arch_entry *e, cs_buf *out);
/* Decode one entry at r's position.  -EBADMSG on truncated or malformed
 * input (unknown type, invalid names, flags outside the mask...). */
int cs_arch_entry_decode(cs_reader *r, cs_arch_entry *e);

#endif
