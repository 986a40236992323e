/* SPDX-License-Identifier: MIT */
/* See filecache.h; the format is in docs/repository.md ("The file-change
 * cache").  A file of version 3:
 *   "CSFC", le32 3, a random 16-byte file id, then segments:
 *   le32 len, u8 final, 24-byte nonce, ciphertext + 16-byte tag (len counts
 *   nonce, ciphertext and tag), XChaCha20-Poly1305 under the local-cache key
 *   with "CSF3" | repo id | file id | le32 segment number | final as
 *   associated data: a segment cannot be moved, dropped from the end, or
 *   spliced from another file unnoticed.  A segment's plaintext is entries:
 *   u8 kind (1: le16 length + bytes of the directory follow; 0: the
 *   directory of the previous entry of this segment), le16 length + bytes of
 *   the name, le64 ino, le64 size, le64 + le32 mtime, le64 + le32 ctime,
 *   le16 age, u8 flags, le32 n, n content ids; in the walk's order, strictly
 *   increasing (checked: a cache out of order is not followed further).
 * Whatever cannot be read is dropped with a warning: the worst case is
 * reading files again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "repo/filecache.h"
#include "repo/filecache_int.h"
#include "repo/tree.h"
#include "util/alloc.h"
#include "util/bytes.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

#define FC_VERSION 3
#define FC_HEADER 24                 /* magic, version, file id */
#define FC_SEG_TARGET (64u << 10)    /* plaintext of a segment, cut after the entry that reaches it */
#define FC_SEG_MAX (16u << 20)       /* no segment is larger: an entry larger is not cached */
#define FC_ENTRY_FIXED 47            /* ino .. n */
#define FC_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define FC_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define FC_CARRY_MAX (16u << 20)     /* entries of skipped directories held for a directory still open */
#define FC_DIR_MAX 65535             /* a longer directory's files are not cached */

static const uint8_t fc_magic[4] = { 'C', 'S', 'F', 'C' };

/* One entry as read, pointing into the segment. */
typedef struct fc_rec {
    const char *dir, *name;
    size_t dlen, nlen;
    fc_stat st;
    uint16_t age;
    uint8_t flags;
    uint32_t n;
    const uint8_t *ids;
} fc_rec;

typedef struct fc_reader {
    uint64_t off;
    uint32_t index;
    bool final;
    cs_buf ct, pt;
    cs_reader rd;
    const char *dir, *pdir, *pname; /* the segment's directory; the previous entry's */
    size_t dlen, pdlen, pnlen;
    uint64_t count;
    cs_buf keep;                  /* the previous entry's directory and name across a segment boundary */
    fc_rec cur;                   /* the entry under the cursor, when have */
    bool have;
} fc_reader;

typedef struct fc_writer {
    int fd; /* -1 until the new cache is written */
    char *tmp;
    uint8_t file_id[16];
    uint32_t index;
    cs_buf pt, ct, dir;
    bool have_dir;
} fc_writer;

struct cs_fcache {
    uint8_t key[32]; /* a copy of the local-cache key, in secure memory with the struct */
    cs_id repo_id;
    char *path;      /* NULL: a table only (tests) */
    fc_table *table; /* a version 1 or 2 cache */
    int fd;          /* the old cache, -1 when none */
    uint8_t file_id[16];
    fc_reader rd;    /* the walk's cursor */
    bool dirty;      /* the new cache differs from the old: it must be written */
    uint64_t clean;  /* entries passed on while not dirty (the old cache's first ones) */
    size_t nopen;    /* directories opened and not closed */
    int werr;        /* writing the new cache failed */
    fc_writer w;
    cs_fcache_dir *cur; /* cs_fcache_lookup()'s */
};

/* An entry of a directory: strings and ids in the directory's arena. */
typedef struct fc_ent {
    uint32_t dir, name, ids; /* arena offsets (dir: carried entries only) */
    uint16_t dlen, nlen, age;
    uint8_t flags, seen;
    uint32_t n;
    fc_stat st;
} fc_ent;

struct cs_fcache_dir {
    cs_fcache *c;
    char *path;
    size_t plen, pos;
    cs_buf arena, full;
    fc_ent *old, *add, *carry; /* in the old cache by name; new names as put; passed-over directories' */
    size_t nold, cold, nadd, cadd, ncarry, ccarry;
};

/* ------------------------------------------------------------- ordering */

/* Post-order: at the first difference '/' (a's component ended, b's goes
 * on) sorts before the end of a path (an ancestor comes after its
 * descendants), which sorts before any other byte (a name that is a prefix
 * of another first, as cs_name_cmp). */
static int rank(const char *s, size_t l, size_t i)
{
    return i == l ? 1 : s[i] == '/' ? 0 : (uint8_t)s[i] + 1;
}

int cs_fcache_dir_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t i = 0, m = al < bl ? al : bl;

    if (memcmp(a, b, m) == 0) /* mostly: one directory the prefix of the other, or equal */
        i = m;
    else
        while (a[i] == b[i])
            i++;
    return rank(a, al, i) - rank(b, bl, i);
}

/* ------------------------------------------------------------- segments */

static void make_ad(const cs_fcache *c, const uint8_t file_id[16], uint32_t index, uint8_t final, uint8_t ad[57])
{
    memcpy(ad, "CSF3", 4);
    memcpy(ad + 4, c->repo_id.b, 32);
    memcpy(ad + 36, file_id, 16);
    cs_store_le32(ad + 52, index);
    ad[56] = final;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t k = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -EBADMSG; /* ends before its last segment */
        done += (size_t)k;
    }
    return 0;
}

static int rd_segment(const cs_fcache *c, fc_reader *R)
{
    uint8_t h[5], ad[57];
    unsigned long long plen;
    uint32_t len;
    int r;

    if ((r = pread_all(c->fd, h, sizeof(h), R->off)) < 0)
        return r;
    len = cs_load_le32(h);
    if (h[4] > 1 || len < FC_NONCE + FC_TAG || len > FC_SEG_MAX + FC_NONCE + FC_TAG)
        return -EBADMSG;
    /* the previous entry outlives its segment for the order check */
    if (R->count) {
        cs_buf_reset(&R->keep);
        if (cs_buf_append(&R->keep, R->pdir, R->pdlen) < 0 || cs_buf_append(&R->keep, R->pname, R->pnlen) < 0)
            return -ENOMEM;
        R->pdir = (const char *)R->keep.data;
        R->pname = (const char *)R->keep.data + R->pdlen;
    }
    cs_buf_reset(&R->ct);
    cs_buf_reset(&R->pt);
    if (cs_buf_reserve(&R->ct, len) < 0 || cs_buf_reserve(&R->pt, len))
        return -ENOMEM;
    if ((r = pread_all(c->fd, R->ct.data, len, R->off + sizeof(h))) < 0)
        return r;
    make_ad(c, c->file_id, R->index, h[4], ad);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(R->pt.data, &plen, NULL, R->ct.data + FC_NONCE, len - FC_NONCE,
                                                   ad, sizeof(ad), R->ct.data, c->key) != 0)
        return -EBADMSG;
    R->pt.len = (size_t)plen;
    R->rd = cs_rd_init(R->pt.data, R->pt.len);
    R->off += sizeof(h) + len;
    R->index++;
    R->final = h[4];
    R->dir = NULL;
    return 0;
}

static bool bad_name(const uint8_t *p, size_t l)
{
    return l == 0 || l > CS_NAME_MAX || memchr(p, 0, l) || memchr(p, '/', l);
}

/* The next entry into R->cur: 1, 0 at the end, or a negative errno. */
static int rd_entry(const cs_fcache *c, fc_reader *R)
{
    fc_rec *e = &R->cur;
    const uint8_t *p;
    uint8_t kind = 0;
    uint16_t l = 0;
    int r, k;

    while (cs_rd_left(&R->rd) == 0) {
        if (R->final)
            return 0;
        if ((r = rd_segment(c, R)) < 0)
            return r;
    }
    cs_get_u8(&R->rd, &kind);
    if (kind == 1) {
        cs_get_le16(&R->rd, &l);
        if (cs_get_bytes(&R->rd, l, &p) < 0 || memchr(p, 0, l))
            return -EBADMSG;
        R->dir = (const char *)p;
        R->dlen = l;
    } else if (kind != 0 || !R->dir) {
        return -EBADMSG;
    }
    cs_get_le16(&R->rd, &l);
    if (cs_get_bytes(&R->rd, l, &p) < 0 || bad_name(p, l))
        return -EBADMSG;
    e->dir = R->dir;
    e->dlen = R->dlen;
    e->name = (const char *)p;
    e->nlen = l;
    if (cs_get_bytes(&R->rd, FC_ENTRY_FIXED, &p) < 0)
        return -EBADMSG;
    e->st = (fc_stat){ cs_load_le64(p), cs_load_le64(p + 8), (int64_t)cs_load_le64(p + 16),
                       (int64_t)cs_load_le64(p + 28), cs_load_le32(p + 24), cs_load_le32(p + 36) };
    e->age = cs_load_le16(p + 40);
    e->flags = p[42];
    e->n = cs_load_le32(p + 43);
    if (e->st.mtime_ns >= 1000000000u || e->st.ctime_ns >= 1000000000u ||
        (uint64_t)e->n * CS_ID_LEN > cs_rd_left(&R->rd) || cs_get_bytes(&R->rd, (size_t)e->n * CS_ID_LEN, &e->ids) < 0)
        return -EBADMSG;
    /* strictly increasing: the walk's cursor never has to look back */
    k = !R->count ? 1 : kind == 0 ? 0 : cs_fcache_dir_cmp(e->dir, e->dlen, R->pdir, R->pdlen);
    if (k < 0 || (k == 0 && cs_name_cmp(e->name, e->nlen, R->pname, R->pnlen) <= 0))
        return -EBADMSG;
    R->pdir = e->dir;
    R->pdlen = e->dlen;
    R->pname = e->name;
    R->pnlen = e->nlen;
    R->count++;
    return 1;
}

static void rd_free(fc_reader *R)
{
    cs_buf_free(&R->ct);
    cs_buf_free(&R->pt);
    cs_buf_free(&R->keep);
}

/* The cursor to the next entry; what cannot be read ends the old cache. */
static void advance(cs_fcache *c)
{
    int r = rd_entry(c, &c->rd);

    c->rd.have = r == 1;
    if (r < 0) {
        c->dirty = true;
        if (c->rd.count == 0)
            log_warning_errno(r, "ignoring the unreadable file cache %s (%m): every file will be read", c->path);
        else
            log_warning_errno(r, "ignoring the rest of the unreadable file cache %s (%m): its files will be read",
                              c->path);
    }
}

/* ---------------------------------------------------------------- writer */

static int wr_flush(cs_fcache *c, uint8_t final)
{
    fc_writer *w = &c->w;
    uint8_t ad[57], *p;
    unsigned long long clen;
    size_t len = FC_NONCE + w->pt.len + FC_TAG;
    int r;

    cs_buf_reset(&w->ct);
    if ((r = cs_buf_reserve(&w->ct, 5 + len)) < 0)
        return r;
    p = w->ct.data;
    cs_store_le32(p, (uint32_t)len);
    p[4] = final;
    randombytes_buf(p + 5, FC_NONCE);
    make_ad(c, w->file_id, w->index, final, ad);
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + 5 + FC_NONCE, &clen, w->pt.data, w->pt.len, ad, sizeof(ad), NULL,
                                               p + 5, c->key);
    w->ct.len = 5 + FC_NONCE + (size_t)clen;
    w->index++;
    cs_buf_reset(&w->pt);
    w->have_dir = false;
    return cs_write_all(w->fd, w->ct.data, w->ct.len);
}

static int wr_entry(cs_fcache *c, const char *dir, size_t dlen, const char *name, size_t nlen, const fc_stat *st,
                    uint16_t age, uint8_t flags, uint32_t n, const uint8_t *ids)
{
    fc_writer *w = &c->w;
    size_t size = 1 + 2 + dlen + 2 + nlen + FC_ENTRY_FIXED + (size_t)n * CS_ID_LEN;
    uint8_t *p;
    bool same;
    int r;

    if (dlen > FC_DIR_MAX || size > FC_SEG_MAX)
        return 0; /* not cached: read at every backup */
    if (w->pt.len && w->pt.len + size > FC_SEG_TARGET && (r = wr_flush(c, 0)) < 0)
        return r;
    same = w->have_dir && w->dir.len == dlen && memcmp(w->dir.data, dir, dlen) == 0;
    if ((r = cs_buf_reserve(&w->pt, size)) < 0)
        return r;
    p = w->pt.data + w->pt.len;
    *p++ = same ? 0 : 1;
    if (!same) {
        cs_store_le16(p, (uint16_t)dlen);
        memcpy(p + 2, dir, dlen);
        p += 2 + dlen;
        cs_buf_reset(&w->dir);
        if ((r = cs_buf_append(&w->dir, dir, dlen)) < 0)
            return r;
        w->have_dir = true;
    }
    cs_store_le16(p, (uint16_t)nlen);
    memcpy(p + 2, name, nlen);
    p += 2 + nlen;
    cs_store_le64(p, st->ino);
    cs_store_le64(p + 8, st->size);
    cs_store_le64(p + 16, (uint64_t)st->mtime_s);
    cs_store_le32(p + 24, st->mtime_ns);
    cs_store_le64(p + 28, (uint64_t)st->ctime_s);
    cs_store_le32(p + 36, st->ctime_ns);
    cs_store_le16(p + 40, age);
    p[42] = flags;
    cs_store_le32(p + 43, n);
    if (n)
        memcpy(p + FC_ENTRY_FIXED, ids, (size_t)n * CS_ID_LEN);
    w->pt.len = (size_t)(p + FC_ENTRY_FIXED + (size_t)n * CS_ID_LEN - w->pt.data);
    return 0;
}

static char *dir_of(const char *path)
{
    char *d = strdup(path), *slash = d ? strrchr(d, '/') : NULL;

    if (slash)
        *slash = '\0';
    return d;
}

/* The new cache, when the first difference to the old one shows: a
 * temporary file beside it, and the old cache's first entries (passed on
 * unchanged so far) copied into it. */
static int wr_start(cs_fcache *c)
{
    fc_writer *w = &c->w;
    uint8_t h[FC_HEADER];
    _cleanup_free_ char *dir = dir_of(c->path);
    fc_reader R = { .off = FC_HEADER };
    int r;

    if (!dir || asprintf(&w->tmp, "%s.tmp.%08x", c->path, randombytes_random()) < 0) {
        w->tmp = NULL;
        return -ENOMEM;
    }
    if ((r = cs_mkdir_p(dir, 0700)) < 0)
        return r;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w->fd < 0)
        return -errno;
    if (fchmod(w->fd, 0600) < 0) /* umask must not widen or narrow it */
        return -errno;
    randombytes_buf(w->file_id, sizeof(w->file_id));
    memcpy(h, fc_magic, 4);
    cs_store_le32(h + 4, FC_VERSION);
    memcpy(h + 8, w->file_id, 16);
    if ((r = cs_write_all(w->fd, h, sizeof(h))) < 0)
        return r;
    for (uint64_t i = 0; i < c->clean && r == 0; i++) {
        r = rd_entry(c, &R);
        if (r == 1)
            r = wr_entry(c, R.cur.dir, R.cur.dlen, R.cur.name, R.cur.nlen, &R.cur.st, R.cur.age, R.cur.flags,
                         R.cur.n, R.cur.ids);
        else
            r = r < 0 ? r : -EBADMSG; /* read once already: changed under us */
    }
    rd_free(&R);
    return r;
}

/* One entry of the new cache.  While nothing differs, only counted. */
static int emit(cs_fcache *c, const char *dir, size_t dlen, const char *name, size_t nlen, const fc_stat *st,
                uint16_t age, uint8_t flags, uint32_t n, const uint8_t *ids)
{
    if (!c->dirty) {
        c->clean++;
        return 0;
    }
    if (!c->werr && c->w.fd < 0)
        c->werr = wr_start(c);
    if (!c->werr)
        c->werr = wr_entry(c, dir, dlen, name, nlen, st, age, flags, n, ids);
    return c->werr;
}

/* An old entry nobody looked at this time: kept FC_MAX_AGE backups. */
static int emit_unseen(cs_fcache *c, const fc_rec *e)
{
    c->dirty = true;
    if (e->age >= FC_MAX_AGE)
        return 0;
    return emit(c, e->dir, e->dlen, e->name, e->nlen, &e->st, (uint16_t)(e->age + 1), e->flags, e->n, e->ids);
}

/* ------------------------------------------------------------------ open */

static int open_legacy(cs_fcache *c)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT, pt = CS_BUF_INIT;
    int rc = cs_read_file(c->path, 512u << 20, &raw);

    if (rc == 0)
        rc = cs_unseal(c->key, CS_OBJ_CACHE, &c->repo_id, raw.data, raw.len, &pt);
    cs_buf_free(&raw);
    if (rc == 0)
        rc = fc_table_new(&c->table);
    if (rc == 0)
        rc = fc_table_parse(c->table, pt.data, pt.len);
    if (rc < 0) {
        fc_table_free(c->table);
        c->table = NULL;
    }
    return rc;
}

int cs_fcache_open(const uint8_t key[32], const cs_id *repo_id, const char *path, cs_fcache **out)
{
    cs_fcache *c = cs_secure_alloc(sizeof(*c));
    uint8_t h[FC_HEADER];
    int rc;

    if (!c)
        return -ENOMEM;
    memset(c, 0, sizeof(*c));
    memcpy(c->key, key, 32);
    c->repo_id = *repo_id;
    c->fd = c->w.fd = -1;
    c->dirty = true; /* until an old cache of this version is read */
    if (!(c->path = strdup(path))) {
        cs_fcache_free(c);
        return -ENOMEM;
    }
    *out = c;
    c->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (c->fd < 0) {
        rc = errno == ENOENT ? 0 : -errno;
    } else if ((rc = pread_all(c->fd, h, sizeof(h), 0)) == 0 && memcmp(h, fc_magic, 4) == 0) {
        if (cs_load_le32(h + 4) != FC_VERSION)
            rc = -EPROTONOSUPPORT; /* a newer build's: read every file, write ours */
        else {
            memcpy(c->file_id, h + 8, 16);
            c->rd.off = FC_HEADER;
            c->dirty = false;
            advance(c);
            return 0;
        }
    } else {
        rc = open_legacy(c);
    }
    if (rc < 0)
        log_warning_errno(rc, "ignoring the unreadable file cache %s (%m): every file will be read", path);
    return 0;
}

int cs_fcache_load(cs_repo *r, const char *cache_dir, cs_fcache **out)
{
    _cleanup_free_ char *path = NULL;
    char hex[65];

    cs_id_hex(&r->repo_id, hex);
    if (asprintf(&path, "%s/%s/files", cache_dir, hex) < 0) {
        path = NULL;
        return -ENOMEM;
    }
    return cs_fcache_open(r->keys->cache, &r->repo_id, path, out);
}

int cs_fcache_new_empty(const uint8_t key[32], cs_fcache **out)
{
    cs_fcache *c = cs_secure_alloc(sizeof(*c));

    if (!c)
        return -ENOMEM;
    memset(c, 0, sizeof(*c));
    memcpy(c->key, key, 32);
    c->fd = c->w.fd = -1;
    if (fc_table_new(&c->table) < 0) {
        cs_secure_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

int cs_fcache_parse(cs_fcache *c, const uint8_t *data, size_t len)
{
    return fc_table_parse(c->table, data, len);
}

/* ---------------------------------------------------------- directories */

static int arena_add(cs_fcache_dir *d, const void *p, size_t len, uint32_t *off)
{
    int r;

    if (d->arena.len + len > UINT32_MAX)
        return -ENOMEM;
    *off = (uint32_t)d->arena.len;
    r = cs_buf_append(&d->arena, p, len);
    return r;
}

/* An entry read from the old cache into one of d's lists. */
static int keep_rec(cs_fcache_dir *d, fc_ent **v, size_t *nv, size_t *cv, const fc_rec *e, bool with_dir)
{
    fc_ent *x;

    if (CS_GREEDY_REALLOC(*v, *cv, *nv + 1) < 0)
        return -ENOMEM;
    x = &(*v)[*nv];
    memset(x, 0, sizeof(*x));
    if ((with_dir && arena_add(d, e->dir, e->dlen, &x->dir) < 0) || arena_add(d, e->name, e->nlen, &x->name) < 0 ||
        arena_add(d, e->ids, (size_t)e->n * CS_ID_LEN, &x->ids) < 0)
        return -ENOMEM;
    x->dlen = (uint16_t)e->dlen;
    x->nlen = (uint16_t)e->nlen;
    x->age = e->age;
    x->flags = e->flags;
    x->n = e->n;
    x->st = e->st;
    (*nv)++;
    return 0;
}

cs_fcache_dir *cs_fcache_dir_open(cs_fcache *c, const char *path)
{
    cs_fcache_dir *d;
    bool direct = c->nopen == 0; /* nothing before d is waiting to be written */
    int k = 0;

    if (!(d = calloc(1, sizeof(*d))) || !(d->path = strdup(path))) {
        free(d);
        c->dirty = true;
        return NULL;
    }
    d->c = c;
    d->plen = strlen(path);
    c->nopen++;
    for (const char *last = NULL; c->rd.have; advance(c)) {
        const fc_rec *e = &c->rd.cur;
        /* entries of one directory in a segment share its bytes: compared once */
        if (e->dir != last)
            k = cs_fcache_dir_cmp(e->dir, e->dlen, path, d->plen);
        last = e->dir;
        if (k > 0)
            break;
        if (k == 0) {
            if (keep_rec(d, &d->old, &d->nold, &d->cold, e, false) < 0)
                c->dirty = true; /* lost: read again */
        } else if (direct) {
            emit_unseen(c, e);
        } else if (e->age < FC_MAX_AGE && d->arena.len < FC_CARRY_MAX) {
            c->dirty = true;
            if (keep_rec(d, &d->carry, &d->ncarry, &d->ccarry, e, true) < 0)
                continue;
        } else {
            c->dirty = true;
        }
    }
    return d;
}

static int ent_cmp(const cs_fcache_dir *d, const fc_ent *e, const char *name, size_t nl)
{
    return cs_name_cmp((const char *)d->arena.data + e->name, e->nlen, name, nl);
}

/* The old entry of name: names come by in order, so mostly the next one. */
static fc_ent *find_old(cs_fcache_dir *d, const char *name, size_t nl)
{
    size_t lo = 0, hi = d->nold;

    while (d->pos < d->nold && ent_cmp(d, &d->old[d->pos], name, nl) < 0)
        d->pos++;
    if (d->pos < d->nold && ent_cmp(d, &d->old[d->pos], name, nl) == 0)
        return &d->old[d->pos];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int k = ent_cmp(d, &d->old[mid], name, nl);
        if (k == 0)
            return &d->old[mid];
        if (k < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* dir/name for a version 1 or 2 cache (keyed by the whole path). */
static const char *full_path(cs_fcache_dir *d, const char *name)
{
    size_t nl = strlen(name);

    cs_buf_reset(&d->full);
    if (cs_buf_reserve(&d->full, d->plen + nl + 2) < 0)
        return NULL;
    memcpy(d->full.data, d->path, d->plen);
    d->full.data[d->plen] = '/';
    memcpy(d->full.data + d->plen + 1, name, nl + 1);
    return (const char *)d->full.data;
}

static int put(cs_fcache_dir *d, const char *name, const struct stat *st, const cs_id *ids, uint32_t n,
               uint8_t flags);

int cs_fcache_dir_lookup(cs_fcache_dir *d, const char *name, const struct stat *st, const cs_id **ids,
                         uint32_t *n, bool *no_xattrs)
{
    fc_stat s = fc_stat_of(st);
    fc_ent *e;
    uint8_t flags = 0;
    int hit;

    if (!d)
        return 0;
    if (d->c->table) {
        const char *p = full_path(d, name);
        hit = p ? fc_table_lookup(d->c->table, d->c->key, p, st, ids, n, &flags) : 0;
        *no_xattrs = flags & FC_NO_XATTRS;
        /* into the new cache as it is (a put may follow: a duplicate name keeps the last) */
        if (hit == 1 && put(d, name, st, *ids, *n, flags) < 0)
            return 0;
        return hit;
    }
    if (!(e = find_old(d, name, strlen(name))))
        return 0;
    e->seen = 1;
    if (!fc_stat_eq(&e->st, &s))
        return 2;
    *ids = (const cs_id *)(d->arena.data + e->ids); /* valid until the arena grows */
    *n = e->n;
    *no_xattrs = e->flags & FC_NO_XATTRS;
    return 1;
}

static fc_ent *find_put(cs_fcache_dir *d, const char *name, size_t nl)
{
    fc_ent *e = find_old(d, name, nl);

    if (!e && d->nadd && ent_cmp(d, &d->add[d->nadd - 1], name, nl) == 0)
        e = &d->add[d->nadd - 1];
    return e;
}

static int put(cs_fcache_dir *d, const char *name, const struct stat *st, const cs_id *ids, uint32_t n,
               uint8_t flags)
{
    size_t nl = strlen(name), idlen = (size_t)n * CS_ID_LEN;
    fc_stat s = fc_stat_of(st);
    const uint8_t *src = (const uint8_t *)ids;
    fc_ent *e = find_put(d, name, nl);
    int r;

    if (e && e->n == n && e->flags == flags && fc_stat_eq(&e->st, &s) &&
        (n == 0 || memcmp(d->arena.data + e->ids, ids, idlen) == 0)) {
        e->seen = 1; /* unchanged: nothing to write back for it */
        return 0;
    }
    d->c->dirty = true;
    if (!e) {
        if (CS_GREEDY_REALLOC(d->add, d->cadd, d->nadd + 1) < 0)
            return -ENOMEM;
        e = &d->add[d->nadd];
        memset(e, 0, sizeof(*e));
        if ((r = arena_add(d, name, nl, &e->name)) < 0)
            return r;
        e->nlen = (uint16_t)nl;
        e->dir = (uint32_t)d->nadd; /* no directory of its own: the order of puts, for duplicates */
        d->nadd++;
    }
    if (e->n == n && n) {
        memmove(d->arena.data + e->ids, ids, idlen); /* ids may be the entry's own */
    } else if (n) {
        /* ids may point into the arena, which may move */
        bool own = src >= d->arena.data && src < d->arena.data + d->arena.len;
        size_t at = own ? (size_t)(src - d->arena.data) : 0;
        if ((r = cs_buf_reserve(&d->arena, idlen)) < 0)
            return r;
        if (own)
            src = d->arena.data + at;
        if ((r = arena_add(d, src, idlen, &e->ids)) < 0)
            return r;
    }
    e->n = n;
    e->st = s;
    e->flags = flags;
    e->age = 0;
    e->seen = 1;
    return 0;
}

int cs_fcache_dir_put(cs_fcache_dir *d, const char *name, const struct stat *st, const cs_id *ids, uint32_t n,
                      bool no_xattrs)
{
    return d ? put(d, name, st, ids, n, no_xattrs ? FC_NO_XATTRS : 0) : 0;
}

/* By name, then in the order put. */
static int add_cmp(const void *x, const void *y, void *arena)
{
    const fc_ent *a = x, *b = y;
    const char *base = arena;
    int k = cs_name_cmp(base + a->name, a->nlen, base + b->name, b->nlen);

    return k ? k : a->dir < b->dir ? -1 : a->dir > b->dir;
}

static int emit_ent(cs_fcache_dir *d, const char *dir, size_t dlen, const fc_ent *e, uint16_t age)
{
    const char *base = (const char *)d->arena.data;

    return emit(d->c, dir, dlen, base + e->name, e->nlen, &e->st, age, e->flags, e->n, d->arena.data + e->ids);
}

void cs_fcache_dir_free(cs_fcache_dir *d)
{
    if (!d)
        return;
    if (d->c) {
        d->c->nopen--;
        d->c->dirty = true; /* its entries are not in the new cache */
    }
    cs_buf_free(&d->arena);
    cs_buf_free(&d->full);
    free(d->old);
    free(d->add);
    free(d->carry);
    free(d->path);
    free(d);
}

int cs_fcache_dir_close(cs_fcache_dir *d)
{
    cs_fcache *c;
    size_t i = 0, j = 0;
    int r = 0;

    if (!d)
        return 0;
    c = d->c;
    for (size_t k = 0; k < d->ncarry; k++)
        r = r ?: emit_ent(d, (const char *)d->arena.data + d->carry[k].dir, d->carry[k].dlen, &d->carry[k],
                          (uint16_t)(d->carry[k].age + 1));
    if (d->nadd > 1)
        qsort_r(d->add, d->nadd, sizeof(*d->add), add_cmp, d->arena.data);
    /* merged by name: the old entries (unseen ones age) and the new names */
    while (i < d->nold || j < d->nadd) {
        bool take_old = j == d->nadd || (i < d->nold && ent_cmp(d, &d->old[i], (const char *)d->arena.data +
                                                                d->add[j].name, d->add[j].nlen) < 0);
        const fc_ent *e = take_old ? &d->old[i++] : &d->add[j++];
        if (!take_old && j < d->nadd && ent_cmp(d, &d->add[j], (const char *)d->arena.data + e->name, e->nlen) == 0)
            continue; /* put again later: the later one holds */
        uint16_t age = e->seen ? 0 : (uint16_t)(e->age + 1);
        if (age != e->age)
            c->dirty = true;
        if (age <= FC_MAX_AGE)
            r = r ?: emit_ent(d, d->path, d->plen, e, age);
    }
    d->c = NULL;
    c->nopen--;
    cs_fcache_dir_free(d);
    return r;
}

/* ------------------------------------------------------- by path (tests) */

int cs_fcache_lookup(cs_fcache *c, const char *path, const struct stat *st, const cs_id **ids, uint32_t *n,
                     bool *no_xattrs)
{
    const char *slash = strrchr(path, '/');
    uint8_t flags = 0;
    int hit;

    if (c->table) {
        hit = fc_table_lookup(c->table, c->key, path, st, ids, n, &flags);
        *no_xattrs = flags & FC_NO_XATTRS;
        return hit;
    }
    if (!slash)
        return 0;
    if (!c->cur || c->cur->plen != (size_t)(slash - path) || memcmp(c->cur->path, path, c->cur->plen) != 0) {
        _cleanup_free_ char *dir = strndup(path, (size_t)(slash - path));
        cs_fcache_dir_free(c->cur);
        c->cur = dir ? cs_fcache_dir_open(c, dir) : NULL;
    }
    return cs_fcache_dir_lookup(c->cur, slash + 1, st, ids, n, no_xattrs);
}

int cs_fcache_put(cs_fcache *c, const char *path, const struct stat *st, const cs_id *ids, uint32_t n,
                  bool no_xattrs)
{
    if (!c->table)
        return -EINVAL;
    return fc_table_put(c->table, c->key, path, st, ids, n, no_xattrs ? FC_NO_XATTRS : 0);
}

/* ------------------------------------------------------------------ save */

static int fsync_dir(const char *path)
{
    _cleanup_free_ char *dir = dir_of(path);
    _cleanup_close_ int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

    if (!dir)
        return -ENOMEM;
    return fd < 0 || fsync(fd) < 0 ? -errno : 0;
}

int cs_fcache_save(cs_fcache *c)
{
    fc_writer *w = &c->w;
    int r;

    if (!c->path)
        return 0;
    cs_fcache_dir_free(c->cur);
    c->cur = NULL;
    for (; c->rd.have && !c->werr; advance(c))
        emit_unseen(c, &c->rd.cur);
    if (c->werr)
        return c->werr;
    if (!c->dirty)
        return 0; /* a no-change backup writes no cache */
    if (w->fd < 0 && (r = wr_start(c)) < 0)
        return r;
    if ((r = wr_flush(c, 1)) < 0)
        return r;
    if (fsync(w->fd) < 0 || rename(w->tmp, c->path) < 0)
        return -errno;
    free(w->tmp);
    w->tmp = NULL;
    return fsync_dir(c->path);
}

void cs_fcache_free(cs_fcache *c)
{
    if (!c)
        return;
    cs_fcache_dir_free(c->cur);
    fc_table_free(c->table);
    rd_free(&c->rd);
    if (c->fd >= 0)
        close(c->fd);
    if (c->w.fd >= 0)
        close(c->w.fd);
    if (c->w.tmp)
        unlink(c->w.tmp);
    free(c->w.tmp);
    cs_buf_free(&c->w.pt);
    cs_buf_free(&c->w.ct);
    cs_buf_free(&c->w.dir);
    free(c->path);
    cs_secure_free(c);
}
