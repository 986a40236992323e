/* SPDX-License-Identifier: MIT */
/* The compiled fleet directory cache: on-disk format and reader API.
 *
 * One file, written by `cloudseal-helper directory-sync` (lib/fleet/cache_write.c)
 * and read, memory-mapped, by libnss_cloudseal.so.2.  The reader
 * (lib/basic/dircache_reader.c) is the only code that interprets the file; the NSS
 * module, the compiler's self-check (lib/fleet) and the fuzz target all use
 * it.  It depends on libc only.  See docs/directory.md for the layout.
 *
 * Every integer is little-endian (the file is compiled on the machine that
 * reads it; a big-endian reader rejects the byte-order mark).  Strings are
 * NUL-terminated, referenced by their offset inside the string section.
 */
#ifndef CS_NSS_DIRCACHE_H
#define CS_NSS_DIRCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define CS_DC_MAGIC "CSDIRC\x00\x01"
#define CS_DC_MAGIC_LEN 8
#define CS_DC_VERSION 1
#define CS_DC_BOM 0x01020304u
#define CS_DC_MAX_FILE (1u << 30)  /* 1 GiB: far above 100 000 users (~10 MiB) */
#define CS_DC_MAX_GIDS 65536       /* supplementary groups per user (NGROUPS_MAX) */
#define CS_DC_DEFAULT_PATH "/var/lib/cloudseal/directory.cache"

/* User flags */
#define CS_DC_USER_DISABLED 0x1
#define CS_DC_USER_HAS_KEY  0x2
#define CS_DC_USER_HAS_KEYBAG 0x4  /* keybag: CS_DC_KEYBAG_U32S u32s, see cs_dc_user */
#define CS_DC_KEYBAG_U32S 10       /* generation (low, high word), SHA-256 (32 bytes) */

/* A section of the file: [offset, offset + size) */
struct cs_dc_section {
    uint64_t offset;
    uint64_t size;
};

struct cs_dc_header {
    char magic[CS_DC_MAGIC_LEN];
    uint32_t version;
    uint32_t bom;             /* CS_DC_BOM as written by the compiler */
    uint64_t file_size;       /* must equal the mapped size */
    uint64_t checksum;        /* cs_dc_checksum() of the file with this field zero */
    uint64_t serial;          /* the signed directory's serial */
    int64_t issued;           /* unix seconds, from the signed directory */
    int64_t expires;
    int64_t compiled;
    uint32_t n_users;
    uint32_t n_groups;
    struct cs_dc_section users;       /* n_users x struct cs_dc_user, sorted by name */
    struct cs_dc_section groups;      /* n_groups x struct cs_dc_group, sorted by name */
    struct cs_dc_section user_by_name;  /* hash tables: uint32 slots, power of two, */
    struct cs_dc_section user_by_uid;   /* value = record index + 1, 0 = empty,      */
    struct cs_dc_section group_by_name; /* linear probing                            */
    struct cs_dc_section group_by_gid;
    struct cs_dc_section u32s;        /* uint32 arrays: users' gid lists, groups' member lists */
    struct cs_dc_section strings;     /* NUL-terminated strings */
    uint8_t escrow_pk[32];            /* the fleet's escrow public key; all zero = none */
};

struct cs_dc_user {
    uint32_t uid, gid;
    uint32_t name, gecos, home, shell; /* string offsets */
    uint32_t gids, n_gids;             /* index into u32s: supplementary gids */
    uint32_t flags;
    uint32_t keybag;                   /* index into u32s of the directory's keybag generation
                                          and SHA-256 (if HAS_KEYBAG; was reserved, 0) */
    uint8_t pubkey[32];                /* pinned account public key (if HAS_KEY) */
};

struct cs_dc_group {
    uint32_t gid;
    uint32_t name;                     /* string offset */
    uint32_t members, n_members;       /* index into u32s: string offsets of member names */
};

_Static_assert(sizeof(struct cs_dc_header) == 8 + 4 + 4 + 8 * 6 + 4 * 2 + 16 * 8 + 32, "header layout");
_Static_assert(sizeof(struct cs_dc_user) == 10 * 4 + 32, "user record layout");
_Static_assert(sizeof(struct cs_dc_group) == 16, "group record layout");

/* Hashes shared by the compiler and the reader (not secret: the admin who
 * writes the directory gains nothing by colliding names). */
static inline uint32_t cs_dc_hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h ^ (h >> 16);
}

static inline uint32_t cs_dc_hash_id(uint32_t id)
{
    id ^= id >> 16;
    id *= 0x7feb352du;
    id ^= id >> 15;
    id *= 0x846ca68bu;
    return id ^ (id >> 16);
}

/* 64-bit checksum over the file: it catches truncation and corruption (the
 * file's integrity against an attacker comes from its root-only directory;
 * the signature was checked before compiling it). */
uint64_t cs_dc_checksum(const uint8_t *data, size_t len);

/* A validated view of a cache image. */
typedef struct cs_dircache {
    const uint8_t *base;
    size_t size;
    const struct cs_dc_header *h;
    const struct cs_dc_user *users;
    const struct cs_dc_group *groups;
    const uint32_t *idx[4];   /* user_by_name, user_by_uid, group_by_name, group_by_gid */
    uint32_t idx_mask[4];
    const uint32_t *u32s;
    uint32_t n_u32s;
    const char *strings;
    uint32_t strings_size;
} cs_dircache;

/* Validate a whole image (header, bounds of every section, record, string
 * and index slot, checksum).  After it returns 0 no lookup can read outside
 * [data, data + size).  -EBADMSG for anything malformed. */
int cs_dircache_parse(const void *data, size_t size, cs_dircache *out);

/* Map path read-only and parse it.  st (may be NULL) receives the file's
 * stat.  -ENOENT when missing, -EBADMSG when malformed, else -errno. */
int cs_dircache_map(const char *path, cs_dircache *out, struct stat *st);
void cs_dircache_unmap(cs_dircache *dc);

/* Lookups: record index, or -ENOENT. */
int cs_dircache_user_by_name(const cs_dircache *dc, const char *name);
int cs_dircache_user_by_uid(const cs_dircache *dc, uint32_t uid);
int cs_dircache_group_by_name(const cs_dircache *dc, const char *name);
int cs_dircache_group_by_gid(const cs_dircache *dc, uint32_t gid);

static inline const char *cs_dircache_str(const cs_dircache *dc, uint32_t off)
{
    return dc->strings + off; /* every offset was validated by cs_dircache_parse */
}

#endif
