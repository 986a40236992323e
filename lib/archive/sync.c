/* SPDX-License-Identifier: MIT */
/* One archive sync: fetch and merge remote logs, record local changes,
 * upload, materialise (docs/archive.md section 5). */
#include "archive/archive.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "archive/claim.h"
#include "archive/collect.h"
#include "archive/compact.h"
#include "archive/deliver.h"
#include "archive/gc.h"
#include "archive/entry.h"
#include "archive/hlc.h"
#include "archive/maildir.h"
#include "archive/marker.h"
#include "archive/ingest.h"
#include "archive/scan.h"
#include "archive/seal.h"
#include "archive/state.h"
#include "archive/sync_internal.h"
#include "util/alloc.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

#define PACK_TARGET_DEFAULT (8u << 20)
#define COMPACT_AFTER_DEFAULT 64
#define SEGMENT_SPLIT (16u << 20)

/* content id -> an instance whose body is stored (for dedup) */
typedef struct id_index {
    size_t cap, n;
    cs_arch_inst **slot;
} id_index;

typedef struct ctx {
    const cs_archive_opts *o;
    cs_storage *s;
    cs_arch_keys *keys;
    cs_arch_state *st;
    cs_archive_stats *stats;
    int rootfd, statefd, lockfd;
    char prefix[300];
    cs_buf out;            /* this sync's encoded entries */
    size_t nout;
    cs_arch_packer *packer;     /* bodies of new messages -> packs */
    struct pending *pend;  /* new local messages, read and sealed in batches */
    size_t npend, cappend;
    uint64_t seg_bytes;    /* sealed segments uploaded */
    uint64_t *own;         /* sequences of our own segments in storage, ascending */
    size_t nown, capown;
    id_index ids;
    bool ids_built;
    bool maildir_changed;
    bool *held;            /* per device index: its deletions are held this sync */
    bool seg_v2;           /* this sync's entries include folders (DIR) */
} ctx;

static void hex(const uint8_t *b, size_t n, char *out)
{
    sodium_bin2hex(out, n * 2 + 1, b, n);
}

static void plan(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plan(ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->o->plan)
        return;
    va_start(ap, fmt);
    vfprintf(c->o->plan, fmt, ap);
    va_end(ap);
    fputc('\n', c->o->plan);
}

/* ---- content-id index ---- */

static size_t id_hash(const uint8_t *id)
{
    size_t h;

    memcpy(&h, id, sizeof(h)); /* ids are keyed hashes: already uniform */
    return h;
}

static int ids_put(id_index *x, cs_arch_inst *in)
{
    size_t m, h;

    if ((x->n + 1) * 2 > x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 1024;
        cs_arch_inst **n = calloc(ncap, sizeof(*n)), **old = x->slot;
        size_t ocap = x->cap;

        if (!n)
            return -ENOMEM;
        x->slot = n;
        x->cap = ncap;
        x->n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i])
                ids_put(x, old[i]);
        free(old);
    }
    m = x->cap - 1;
    for (h = id_hash(in->id) & m; x->slot[h]; h = (h + 1) & m)
        if (memcmp(x->slot[h]->id, in->id, CS_ARCH_ID_BYTES) == 0)
            return 0;
    x->slot[h] = in;
    x->n++;
    return 0;
}

static cs_arch_inst *ids_get(const id_index *x, const uint8_t *id)
{
    size_t m, h;

    if (!x->cap)
        return NULL;
    m = x->cap - 1;
    for (h = id_hash(id) & m; x->slot[h]; h = (h + 1) & m)
        if (memcmp(x->slot[h]->id, id, CS_ARCH_ID_BYTES) == 0)
            return x->slot[h];
    return NULL;
}

static int ids_build(ctx *c)
{
    int r = 0;

    if (c->ids_built)
        return 0;
    for (size_t i = 0; r == 0 && i < c->st->ninst; i++)
        if (c->st->inst[i]->has_add && !c->st->inst[i]->deleted)
            r = ids_put(&c->ids, c->st->inst[i]);
    c->ids_built = r == 0;
    return r;
}

/* ---- stamping local changes ---- */

static int upload_segment(ctx *c);
static int keep_own(ctx *c, uint64_t seq);

static int emit(ctx *c, cs_arch_entry *e)
{
    int r;

    e->hlc = cs_hlc_tick(&c->st->clock, cs_hlc_wall_ms());
    c->seg_v2 |= e->type == CS_AE_DIR;
    r = cs_arch_entry_encode(e, &c->out);
    if (r == 0)
        r = cs_arch_state_apply(c->st, 0, e);
    if (r < 0)
        return r;
    c->nout++;
    /* a huge first sync goes out in several segments: each stays far below
     * the readers' limits, and a crash loses less work */
    if (c->out.len >= (c->o->segment_split ? c->o->segment_split : SEGMENT_SPLIT) && !c->o->dry_run)
        return upload_segment(c);
    return 0;
}

/* ---- remote logs ---- */

typedef struct seg_ref {
    uint8_t dev[CS_ARCH_DEV_BYTES];
    uint64_t seq;
} seg_ref;

typedef struct seg_list {
    const char *logprefix;
    seg_ref *v;
    size_t n, cap;
} seg_list;

static int parse_seg_key(const char *rel, seg_ref *out)
{
    char devhex[17], seqhex[17];
    size_t bin;

    if (strlen(rel) != 33 || rel[16] != '/')
        return -EINVAL;
    memcpy(devhex, rel, 16);
    devhex[16] = '\0';
    memcpy(seqhex, rel + 17, 16);
    seqhex[16] = '\0';
    if (strspn(devhex, "0123456789abcdef") != 16 || strspn(seqhex, "0123456789abcdef") != 16)
        return -EINVAL;
    if (sodium_hex2bin(out->dev, sizeof(out->dev), devhex, 16, NULL, &bin, NULL) != 0 || bin != 8)
        return -EINVAL;
    /* exactly 16 hex digits (checked above): strtoull() cannot overflow or stop early */
    out->seq = strtoull(seqhex, NULL, 16);
    return out->seq == 0 ? -EINVAL : 0;
}

static int list_cb(const char *key, const cs_object_stat *st, void *ud)
{
    seg_list *l = ud;
    seg_ref ref;

    (void)st;
    if (strncmp(key, l->logprefix, strlen(l->logprefix)) != 0 ||
        parse_seg_key(key + strlen(l->logprefix), &ref) < 0) {
        log_warning("archive: ignoring unexpected object %s", key);
        return 0;
    }
    if (l->n >= (1u << 24))
        return -E2BIG;
    if (CS_GREEDY_REALLOC(l->v, l->cap, l->n + 1) < 0)
        return -ENOMEM;
    l->v[l->n++] = ref;
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    const seg_ref *x = a, *y = b;
    int r = memcmp(x->dev, y->dev, CS_ARCH_DEV_BYTES);

    if (r)
        return r;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int cs_arch_apply_segment(cs_arch_state *st, uint16_t dev, const uint8_t *plain, size_t len,
                          uint64_t *applied)
{
    cs_reader rd = cs_rd_init(plain, len);
    uint64_t now = cs_hlc_wall_ms();
    cs_arch_entry *e = malloc(sizeof(*e));
    int r = 0;

    if (!e)
        return -ENOMEM;
    while (r == 0 && cs_rd_left(&rd) > 0) {
        r = cs_arch_entry_decode(&rd, e);
        if (r == 0) {
            cs_hlc_recv(&st->clock, e->hlc, now);
            r = cs_arch_state_apply(st, dev, e);
            r = r < 0 ? r : 0;
            if (applied)
                (*applied)++;
        }
    }
    free(e);
    return r;
}

/* Fetch, verify and merge one segment.  A segment past `expected` is
 * accepted only when it is a compacted one that supersedes everything from
 * `expected` on (section 8); anything else is a hole the server made. */
static int fetch_segment(ctx *c, const seg_ref *ref, int dev, uint64_t expected)
{
    char key[400], devhex[17];
    cs_buf raw = CS_BUF_INIT, plain = CS_BUF_INIT;
    uint64_t first = ref->seq;
    size_t skip = 0;
    uint8_t flags = 0;
    cs_arch_claim claim = { 0 };
    int r;

    hex(ref->dev, CS_ARCH_DEV_BYTES, devhex);
    snprintf(key, sizeof(key), "%slog/%s/%016" PRIx64, c->prefix, devhex, ref->seq);
    r = cs_storage_get(c->s, key, 0, 0, CS_ARCH_SEG_MAX, &raw);
    if (r == -ENOENT) { /* compacted away since the listing: the next sync reads its replacement */
        r = 1;
        goto out;
    }
    if (r == 0) {
        c->stats->bytes_downloaded += raw.len;
        r = cs_arch_segment_open_flags(c->keys, ref->dev, ref->seq, raw.data, raw.len, &plain, &flags);
    }
    if (r == 0)
        r = cs_arch_segment_body(plain.data, plain.len, flags, ref->seq, &first, &claim, &skip);
    if (r == 0 && claim.retired && dev == 0) {
        char by[17], day[32];
        time_t when = (time_t)(claim.t / 1000);
        struct tm tm;

        hex(claim.retired_by, CS_ARCH_DEV_BYTES, by);
        strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&when, &tm));
        log_error("archive: this workstation (%s) was forgotten by workstation %s on %s: its Maildir may "
                  "hold mail deleted elsewhere since. Nothing was synced. Move %s away and sync again to "
                  "join as a new workstation", devhex, by, day, c->o->state_dir);
        r = -ESTALE;
        goto out;
    }
    if (r == 0 && first > expected) {
        log_error("archive: segment %" PRIu64 " of device %s is missing from storage: it was deleted "
                  "or tampered with", expected, devhex);
        r = -EBADMSG;
        goto out;
    }
    if (r == 0)
        r = cs_arch_apply_segment(c->st, (uint16_t)dev, plain.data + skip, plain.len - skip,
                                  &c->stats->entries_applied);
    if (r == 0 && (flags & CS_ARCH_SEG_CLAIM))
        r = cs_arch_claim_record(c->st, (uint16_t)dev, ref->seq, &claim, &c->stats->tombstones_collected);
    if (r == 0) {
        c->st->devs[dev].applied = ref->seq;
        if (flags & CS_ARCH_SEG_COMPACTED)
            c->st->devs[dev].floor = ref->seq; /* what it superseded may go */
        c->st->dirty = true;
        c->stats->segments_fetched++;
    } else if (r == -EBADMSG || r == -EMSGSIZE) {
        log_error("archive: %s failed verification: it was tampered with or damaged", key);
        r = -EBADMSG;
    } else if (r == -EPROTONOSUPPORT) {
        log_error("archive: %s was written by a newer cloudseal: upgrade this workstation", key);
    } else {
        log_error_errno(r, "archive: cannot read %s", key);
    }
out:
    cs_arch_claim_free(&claim);
    cs_buf_free(&raw);
    cs_buf_free(&plain);
    return r;
}

static int keep_own(ctx *c, uint64_t seq)
{
    if (CS_GREEDY_REALLOC(c->own, c->capown, c->nown + 1) < 0)
        return -ENOMEM;
    c->own[c->nown++] = seq;
    return 0;
}

static int fetch_remote(ctx *c)
{
    char logprefix[320];
    seg_list l = { logprefix, NULL, 0, 0 };
    bool *listed = NULL;
    int r;

    snprintf(logprefix, sizeof(logprefix), "%slog/", c->prefix);
    r = cs_storage_list(c->s, logprefix, list_cb, &l);
    if (r < 0) {
        log_error_errno(r, "archive: cannot list %s", logprefix);
        goto out;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), seg_cmp);
    for (size_t i = 0; i < l.n;) {
        size_t j = i;
        int dev = cs_arch_state_dev(c->st, l.v[i].dev);
        uint64_t applied;

        if (dev < 0) {
            r = dev;
            goto out;
        }
        while (j < l.n && memcmp(l.v[j].dev, l.v[i].dev, CS_ARCH_DEV_BYTES) == 0)
            j++;
        if (c->st->devs[dev].lowest != l.v[i].seq) { /* a claim counts only in the lowest segment */
            c->st->devs[dev].lowest = l.v[i].seq;
            c->st->dirty = true;
        }
        applied = c->st->devs[dev].applied;
        if (l.v[j - 1].seq < applied) {
            log_error("archive: the log of a device went back from segment %" PRIu64 " to %" PRIu64
                      ": storage was rolled back or tampered with", applied, l.v[j - 1].seq);
            r = -EBADMSG;
            goto out;
        }
        if (l.v[j - 1].seq == applied && applied > 0) {
            /* nothing new: everything since the last compaction must still be there */
            uint64_t floor = c->st->devs[dev].floor ? c->st->devs[dev].floor : 1, have = 0;

            for (size_t k = i; k < j; k++)
                have += l.v[k].seq >= floor && l.v[k].seq <= applied;
            if (have != applied - floor + 1) {
                log_error("archive: segments of a device's log that were read before are missing from "
                          "storage: they were deleted or tampered with");
                r = -EBADMSG;
                goto out;
            }
        }
        for (size_t k = i; k < j; k++) {
            if (dev == 0 && (r = keep_own(c, l.v[k].seq)) < 0)
                goto out;
            if (l.v[k].seq <= c->st->devs[dev].applied)
                continue;
            r = fetch_segment(c, &l.v[k], dev, c->st->devs[dev].applied + 1);
            if (r < 0)
                goto out;
            if (r == 1) { /* this device is compacting: the rest of its log next time */
                r = 0;
                break;
            }
        }
        i = j;
    }
    /* a device we applied segments of must still have them */
    listed = calloc(c->st->ndevs, sizeof(*listed));
    if (!listed) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++)
        listed[cs_arch_state_dev(c->st, l.v[i].dev)] = true;
    for (size_t i = 0; i < c->st->ndevs; i++)
        if (c->st->devs[i].applied > 0 && !listed[i]) {
            log_error("archive: a device's whole log disappeared from storage: it was deleted or "
                      "tampered with");
            r = -EBADMSG;
            goto out;
        }
    r = 0;
out:
    free(l.v);
    free(listed);
    return r;
}

/* ---- local changes ---- */

/* Where in's file is on disk, as last recorded: 0 or -errno. */
static int stat_local(ctx *c, const cs_arch_inst *in, struct stat *st)
{
    char path[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    int r = cs_md_path(in->local_folder, in->local_subdir, in->local_name, path, sizeof(path));

    if (r == 0 && fstatat(c->rootfd, path, st, AT_SYMLINK_NOFOLLOW) < 0)
        r = -errno;
    return r;
}

static void note_stat(ctx *c, cs_arch_inst *in)
{
    struct stat st;

    if (stat_local(c, in, &st) == 0)
        cs_arch_inst_set_stat(in, &st);
}

static int read_message(ctx *c, const char *folder, int subdir, const char *name, cs_buf *buf)
{
    char path[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    int r = cs_md_path(folder, subdir, name, path, sizeof(path));

    buf->len = 0;
    if (r == 0)
        r = cs_read_file_at(c->rootfd, path, CS_ARCH_MSG_MAX, buf);
    if (r == -ENOENT)
        c->stats->vanished++; /* moved or deleted by the mail client mid-scan: next sync sees where */
    else if (r == -EFBIG)
        log_warning("archive: %s is larger than %u MiB: not synced", path, CS_ARCH_MSG_MAX >> 20);
    else if (r < 0)
        log_warning_errno(r, "archive: cannot read %s", path);
    return r;
}

/* A new local message: queued, then read, hashed and sealed in batches
 * (ingest_pending) so that all CPUs work on an initial sync.  The instance
 * is created now so that a second file with the same unique name in this
 * scan is recognised as a copy. */
struct pending {
    char folder[CS_MD_FOLDER_MAX + 1];
    char name[CS_MD_NAME_MAX + 1];
    char unique[CS_MD_UNIQUE_MAX + 1];
    uint8_t subdir;
    uint64_t flags;
    uint64_t size;   /* at queueing time: bounds the memory of a batch */
    int64_t mtime;   /* travels with the message: the received date */
    struct stat st;  /* the file as seen: an in-place edit changes it */
};

static int new_message(ctx *c, const char *folder, int subdir, const char *name,
                       const char *unique, uint64_t flags)
{
    char path[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    struct pending *p;
    struct stat st;
    cs_arch_inst *in;
    int r = cs_md_path(folder, subdir, name, path, sizeof(path));

    if (r < 0)
        return r;
    if (fstatat(c->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
        c->stats->vanished++; /* gone already: the next sync sees where */
        return 0;
    }
    r = cs_arch_state_get(c->st, unique, &in);
    if (r < 0)
        return r;
    in->scan_seen = true;
    if (CS_GREEDY_REALLOC(c->pend, c->cappend, c->npend + 1) < 0)
        return -ENOMEM;
    p = &c->pend[c->npend++];
    snprintf(p->folder, sizeof(p->folder), "%s", folder);
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->unique, sizeof(p->unique), "%s", unique);
    p->subdir = (uint8_t)subdir;
    p->flags = flags;
    p->size = (uint64_t)st.st_size;
    p->mtime = st.st_mtim.tv_sec > 0 && st.st_mtim.tv_sec < (INT64_C(1) << 40) ? st.st_mtim.tv_sec : 0;
    p->st = st;
    return 0;
}

/* Record one ingested message: reuse a stored body with the same content
 * id, else append the sealed body to a pack; then stamp its ADD. */
static int record_new(ctx *c, const struct pending *p, cs_arch_job *j)
{
    cs_arch_entry *e = calloc(1, sizeof(*e));
    cs_arch_inst *same, *in;
    int r = 0;

    if (!e)
        return -ENOMEM;
    e->type = CS_AE_ADD;
    snprintf(e->key, sizeof(e->key), "%s", p->unique);
    memcpy(e->id, j->id, CS_ARCH_ID_BYTES);
    same = ids_get(&c->ids, e->id);
    if (same) {
        e->ref = same->ref; /* the same message is stored once */
        c->stats->bodies_reused++;
    } else if (c->o->dry_run) {
        e->ref.length = CS_ARCH_SEAL_OVERHEAD; /* never written: keeps the entry well formed */
        e->ref.size = (uint32_t)j->msg.len;
    } else {
        r = cs_arch_packer_append(c->packer, j->sealed.data, j->sealed.len, (uint32_t)j->msg.len, &e->ref);
    }
    e->mask = CS_AE_FOLDER | CS_AE_SUBDIR | CS_AE_FLAGS;
    snprintf(e->folder, sizeof(e->folder), "%s", p->folder);
    e->subdir = p->subdir;
    e->flag_mask = CS_MD_FLAGS_ALL;
    e->flags = p->flags;
    e->mtime = p->mtime;
    if (r == 0)
        r = emit(c, e);
    free(e);
    if (r < 0)
        return r;
    in = cs_arch_state_find(c->st, p->unique);
    r = cs_arch_inst_set_local(in, p->folder, p->subdir, p->name);
    cs_arch_inst_set_stat(in, &p->st);
    if (r == 0 && !same)
        r = ids_put(&c->ids, in);
    c->stats->local_added++;
    plan(c, "add %s%s%s/%s", p->folder, p->folder[0] ? "/" : "", p->subdir ? "cur" : "new", p->name);
    return r;
}

#define BATCH_MSGS 512
#define BATCH_BYTES (64u << 20) /* plus what files grew by since the scan, each <= 64 MiB */

static int ingest_pending(ctx *c)
{
    cs_arch_job *jobs = calloc(BATCH_MSGS, sizeof(*jobs));
    size_t *which = calloc(BATCH_MSGS, sizeof(*which));
    char (*paths)[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8] = calloc(BATCH_MSGS, sizeof(*paths));
    int r = 0;

    if (!jobs || !which || !paths) {
        r = -ENOMEM;
        goto out;
    }
    if (c->npend && (r = ids_build(c)) < 0)
        goto out;
    for (size_t i = 0; r == 0 && i < c->npend;) {
        size_t n = 0, bytes = 0;

        /* a batch of up to BATCH_MSGS messages, read and sealed in parallel */
        for (; i < c->npend && n < BATCH_MSGS && (n == 0 || bytes + c->pend[i].size <= BATCH_BYTES); i++, n++) {
            const struct pending *p = &c->pend[i];

            r = cs_md_path(p->folder, p->subdir, p->name, paths[n], sizeof(paths[n]));
            if (r < 0)
                goto out;
            jobs[n].path = paths[n];
            which[n] = i;
            bytes += c->pend[i].size;
        }
        cs_arch_seal_batch(c->keys, c->rootfd, jobs, n, !c->o->dry_run);
        if (c->o->progress)
            c->o->progress(c->o->progress_userdata, "sending", i, c->npend);
        for (size_t k = 0; r == 0 && k < n; k++) {
            const struct pending *p = &c->pend[which[k]];

            r = jobs[k].err;
            if (r == -ENOENT) {
                c->stats->vanished++; /* deleted or moved by the mail client: the next sync sees where */
                r = 0;
                continue;
            } else if (r == -EFBIG) {
                log_warning("archive: %s is larger than %u MiB: not synced", paths[k], CS_ARCH_MSG_MAX >> 20);
                r = 0;
                continue;
            } else if (r == -EINVAL || r == -ELOOP) {
                r = 0; /* replaced by something that is not a regular file */
                continue;
            }
            if (r == 0)
                r = record_new(c, p, &jobs[k]);
        }
    }
out:
    for (size_t k = 0; jobs && k < BATCH_MSGS; k++) {
        cs_buf_free(&jobs[k].msg);
        cs_buf_free(&jobs[k].sealed);
    }
    free(jobs);
    free(which);
    free(paths);
    return r;
}

/* A second file with a unique name we already know (a cp, or another
 * message under a colliding name): give it a fresh unique name, add it. */
static int copy_as_new(ctx *c, const char *folder, int subdir, const char *name, uint64_t flags)
{
    char unique[CS_MD_UNIQUE_MAX + 1], nname[CS_MD_NAME_MAX + 1];
    char from[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8], to[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    int r = cs_md_new_unique(unique);

    if (r == 0) r = cs_md_render_name(unique, subdir, flags, nname);
    if (r == 0) r = cs_md_path(folder, subdir, name, from, sizeof(from));
    if (r == 0) r = cs_md_path(folder, subdir, nname, to, sizeof(to));
    if (r < 0)
        return r;
    plan(c, "rename %s -> %s (its unique name belongs to another message)", from, to);
    c->stats->conflicts++;
    if (c->o->dry_run)
        return 0;
    r = cs_md_rename(c->rootfd, from, to);
    if (r < 0) {
        c->stats->skipped++;
        return 0;
    }
    c->maildir_changed = true;
    return new_message(c, folder, subdir, nname, unique, flags);
}

/* A known message found at (folder, subdir, name): record what the user
 * changed since the last sync as a SET of just those registers.  A message
 * deleted in the merged state (its deletion held here, or an unlink still
 * to come) gets no entry, only its new place on disk: a write after a
 * deletion would outlive the tombstone's collection (docs/archive.md
 * section 8, R5). */
static int moved(ctx *c, cs_arch_inst *in, const char *folder, int subdir, const char *name, uint64_t flags)
{
    char u[CS_MD_UNIQUE_MAX + 1];
    uint64_t old_flags = 0;
    cs_arch_entry *e;
    int r = 0;

    in->scan_seen = true;
    if (strcmp(in->local_folder, folder) == 0 && in->local_subdir == subdir && strcmp(in->local_name, name) == 0)
        return 0;
    if (in->deleted) {
        c->st->dirty = true;
        return cs_arch_inst_set_local(in, folder, subdir, name);
    }
    (void)cs_md_parse_name(in->local_name, u, &old_flags);
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->type = CS_AE_SET;
    snprintf(e->key, sizeof(e->key), "%s", in->key);
    if (strcmp(in->local_folder, folder) != 0) {
        e->mask |= CS_AE_FOLDER;
        snprintf(e->folder, sizeof(e->folder), "%s", folder);
    }
    if (in->local_subdir != subdir) {
        e->mask |= CS_AE_SUBDIR;
        e->subdir = (uint8_t)subdir;
    }
    if (old_flags != flags) {
        e->mask |= CS_AE_FLAGS;
        e->flag_mask = old_flags ^ flags; /* only the flags the user changed */
        e->flags = flags & e->flag_mask;
    }
    if (e->mask) {
        r = emit(c, e);
        c->stats->local_changed++;
        plan(c, "record %s%s%s/%s", folder, folder[0] ? "/" : "", subdir ? "cur" : "new", name);
    }
    if (r == 0)
        r = cs_arch_inst_set_local(in, folder, subdir, name);
    free(e);
    return r;
}

/* A known unique name on disk that the state does not place on disk: a
 * delivery whose sync was killed before it saved, or a colliding name. */
static int found_unrecorded(ctx *c, cs_arch_inst *in, const char *folder, int subdir, const char *name,
                            uint64_t flags)
{
    cs_buf buf = CS_BUF_INIT;
    uint8_t id[CS_ARCH_ID_BYTES];
    int r = read_message(c, folder, subdir, name, &buf);

    if (r < 0) {
        cs_buf_free(&buf);
        return 0;
    }
    cs_arch_content_id(c->keys, buf.data, buf.len, id);
    cs_buf_free(&buf);
    in->scan_seen = true;
    if ((in->has_add && sodium_memcmp(id, in->id, CS_ARCH_ID_BYTES) == 0) || (!in->has_add && in->deleted)) {
        int r2 = cs_arch_inst_set_local(in, folder, subdir, name); /* materialise puts it in place */

        if (r2 == 0)
            note_stat(c, in);
        return r2;
    }
    if (!in->has_add)
        return new_message(c, folder, subdir, name, in->key, flags);
    return copy_as_new(c, folder, subdir, name, flags);
}

/* A known file whose inode, size or mtime changed where it lies: if its
 * content changed (a client rewrote headers in place, against the Maildir
 * rules), it becomes a new message under a fresh unique name and the old
 * version is deleted (recoverable for keep_deleted with archive undelete);
 * instances are immutable, so this is how an edit travels. */
static int edited(ctx *c, cs_arch_inst *in, const char *folder, int subdir, const char *name, uint64_t flags)
{
    char u[CS_MD_UNIQUE_MAX + 1], nname[CS_MD_NAME_MAX + 1];
    char from[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8], to[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    cs_arch_entry e = { .type = CS_AE_DEL };
    cs_buf buf = CS_BUF_INIT;
    uint8_t id[CS_ARCH_ID_BYTES];
    int r = read_message(c, folder, subdir, name, &buf);

    if (r < 0) {
        cs_buf_free(&buf);
        return 0; /* vanished or unreadable: the next sync looks again */
    }
    cs_arch_content_id(c->keys, buf.data, buf.len, id);
    cs_buf_free(&buf);
    if (!in->has_add || sodium_memcmp(id, in->id, CS_ARCH_ID_BYTES) == 0) {
        note_stat(c, in); /* touched, copied back, restored: the same message */
        return 0;
    }
    if ((r = cs_md_new_unique(u)) < 0 || (r = cs_md_render_name(u, subdir, flags, nname)) < 0 ||
        (r = cs_md_path(folder, subdir, name, from, sizeof(from))) < 0 ||
        (r = cs_md_path(folder, subdir, nname, to, sizeof(to))) < 0)
        return r;
    plan(c, "record a new version of %s as %s (edited in place)", from, to);
    c->stats->edited++;
    if (c->o->dry_run)
        return 0;
    if (cs_md_rename(c->rootfd, from, to) < 0) {
        c->stats->skipped++;
        return 0;
    }
    c->maildir_changed = true;
    snprintf(e.key, sizeof(e.key), "%s", in->key);
    if (!in->deleted && (r = emit(c, &e)) < 0)
        return r;
    cs_arch_inst_clear_local(in);
    return new_message(c, folder, subdir, nname, u, flags);
}

/* ---- the mass-deletion guard and damaged folders ---- */

/* A Maildir we may not read is an error of its own (exit 1), not "your
 * keys are locked" (what -EACCES means to the CLI and the agent). */
static int unreadable(int r)
{
    return r == -EACCES || r == -EPERM ? -EIO : r;
}

#define MAX_DELETIONS_DEFAULT 50
#define MAX_DELETIONS_PERCENT_DEFAULT 25

/* More deletions than the user allowed: over both thresholds (a count and
 * a share of base, this device's messages) and over --allow-deletions. */
static bool too_many(const ctx *c, uint64_t n, uint64_t base)
{
    uint64_t max = c->o->max_deletions ? c->o->max_deletions : MAX_DELETIONS_DEFAULT;
    uint64_t pct = c->o->max_deletions_percent ? c->o->max_deletions_percent : MAX_DELETIONS_PERCENT_DEFAULT;

    return n > max && n * 100 > pct * base && n > c->o->allow_deletions;
}

static uint64_t local_messages(const cs_arch_state *st)
{
    uint64_t n = 0;

    for (size_t i = 0; i < st->ninst; i++)
        n += st->inst[i]->local_present;
    return n;
}

static const char *folder_label(const char *f)
{
    return f[0] ? f : "INBOX";
}

/* A folder directory that is there without the new/ or cur/ we hold
 * messages in: not a deletion of those messages but a damaged (or
 * half-copied) Maildir. */
static int check_folders(ctx *c, const cs_scan *sc)
{
    for (size_t f = 0; f < sc->folders.n; f++) {
        if (!sc->missing[f])
            continue;
        for (size_t i = 0; i < c->st->ninst; i++) {
            const cs_arch_inst *in = c->st->inst[i];
            int bit = in->local_subdir == CS_MD_NEW ? CS_SCAN_NO_NEW : CS_SCAN_NO_CUR;

            if (!in->local_present || !(sc->missing[f] & bit) || strcmp(in->local_folder, sc->folders.v[f]) != 0)
                continue;
            log_error("archive: the folder %s of %s has no %s/ directory: the Maildir is damaged or not "
                      "all there; nothing was synced. Put the directory back (or, to delete the folder, "
                      "remove the whole folder) and sync again", folder_label(sc->folders.v[f]), c->o->maildir,
                      bit == CS_SCAN_NO_NEW ? "new" : "cur");
            return -ENOENT;
        }
    }
    return 0;
}

/* Before anything is recorded: the messages this scan will call deleted
 * (on disk at the last sync, their unique name nowhere now). */
static int local_deletion_guard(ctx *c, const cs_scan *sc)
{
    struct { const char *folder; uint64_t n; } per[8];
    size_t nper = 0;
    uint64_t n = 0, base = local_messages(c->st);
    char text[512] = "";
    size_t len = 0;

    for (size_t i = 0; i < c->st->ninst; i++)
        c->st->inst[i]->scan_named = false;
    for (size_t i = 0; i < sc->nfiles; i++) {
        cs_arch_inst *in = cs_arch_state_find(c->st, sc->files[i].unique);

        if (in)
            in->scan_named = true;
    }
    for (size_t i = 0; i < c->st->ninst; i++) {
        const cs_arch_inst *in = c->st->inst[i];
        size_t k;

        if (!in->local_present || in->scan_named || in->deleted)
            continue;
        n++;
        for (k = 0; k < nper && strcmp(per[k].folder, in->local_folder) != 0; k++)
            ;
        if (k == nper && nper < sizeof(per) / sizeof(per[0]))
            per[nper++] = (typeof(per[0])){ in->local_folder, 0 };
        if (k < nper)
            per[k].n++;
    }
    if (!too_many(c, n, base))
        return 0;
    for (size_t k = 0; k < nper && len < sizeof(text); k++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s %llu", k ? ", " : "",
                                folder_label(per[k].folder), (unsigned long long)per[k].n);
    log_error("archive: %llu of the %llu messages of %s are gone (%s%s): this sync would delete them on every "
              "workstation, more than [archive] max_deletions allows. Nothing was synced. If you deleted "
              "them, run 'cloudseal archive sync --allow-deletions %llu'; if not, put them back (is the "
              "disk of the Maildir mounted? is [archive] maildir right?) and sync again",
              (unsigned long long)n, (unsigned long long)base, c->o->maildir, text,
              nper == sizeof(per) / sizeof(per[0]) ? ", ..." : "", (unsigned long long)n);
    return -ECANCELED;
}

/* ---- folders (empty ones travel too) ---- */

static int emit_dir(ctx *c, const char *name, bool exists)
{
    cs_arch_entry e = { .type = CS_AE_DIR, .exists = exists };

    snprintf(e.folder, sizeof(e.folder), "%s", name);
    plan(c, "record folder %s %s", name, exists ? "created" : "removed");
    c->stats->folders_changed++;
    return emit(c, &e);
}

/* Folders are recorded only when a message cannot stand for them: one on
 * disk holding no message, new here or emptied here, is recorded as
 * created unless the register says so already; one gone since the last scan as
 * removed (its messages are deletions, which the guard counted).  A folder
 * with messages needs no entry: it exists wherever they are. */
static int local_folders(ctx *c, const cs_scan *sc)
{
    bool *seen = NULL, *has_msgs = calloc(sc->folders.n + 1, sizeof(*has_msgs));
    int r = 0;

    if (!has_msgs)
        return -ENOMEM;
    for (size_t i = 0; i < sc->nfiles; i++)
        has_msgs[sc->files[i].folder] = true;
    for (size_t i = 0; r == 0 && i < sc->folders.n; i++) {
        cs_arch_folder *f;
        bool was_local;

        if (!sc->folders.v[i][0])
            continue; /* INBOX is the Maildir itself */
        if ((r = cs_arch_state_folder_get(c->st, sc->folders.v[i], &f)) < 0)
            break;
        was_local = f->local;
        if (!f->local) {
            f->local = true;
            c->st->dirty = true;
        }
        /* empty and not recorded as existing: made here, or emptied here
         * (never recorded); a removal recorded elsewhere is materialise's */
        if (!has_msgs[i] && !f->exists && (!was_local || !f->w.hlc))
            r = emit_dir(c, sc->folders.v[i], true);
    }
    if (r == 0 && !(seen = calloc(c->st->nfolders + 1, sizeof(*seen))))
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < sc->folders.n; i++) {
        cs_arch_folder *f = sc->folders.v[i][0] ? cs_arch_state_folder(c->st, sc->folders.v[i]) : NULL;

        if (f)
            seen[f - c->st->folders] = true;
    }
    for (size_t i = 0; r == 0 && i < c->st->nfolders; i++) {
        cs_arch_folder *f = &c->st->folders[i];

        if (seen[i] || !f->local)
            continue;
        f->local = false;
        c->st->dirty = true;
        if (f->exists || !f->w.hlc)
            r = emit_dir(c, f->name, false);
    }
    free(seen);
    free(has_msgs);
    return r;
}

/* A file under a name whose deletion every device applied and whose
 * tombstone was collected (an old Maildir copy joining, a file restored
 * from a backup): recording it would bring a deleted message back under
 * its old name on some devices only (docs/archive.md section 8, R6).  It
 * is left alone: neither recorded nor deleted. */
static void collected_name(ctx *c, const char *folder, int subdir, const char *name)
{
    char path[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];

    if (cs_md_path(folder, subdir, name, path, sizeof(path)) < 0)
        return;
    plan(c, "ignore %s (deleted on every workstation)", path);
    if (!c->stats->collected_names++)
        log_warning("archive: %s/%s is a message that was deleted on every workstation long ago; it is not "
                    "synced. Delete it, or to keep it, move it out of the Maildir and put it back as a new "
                    "message (under a new file name)", c->o->maildir, path);
}

static int local_changes(ctx *c)
{
    cs_scan sc, again;
    size_t missing = 0;
    int r;

    for (size_t i = 0; i < c->st->ninst; i++)
        c->st->inst[i]->scan_seen = false;
    r = cs_scan_maildir(c->rootfd, &sc);
    if (r < 0) {
        log_error_errno(r, "archive: cannot scan the Maildir %s: %m; nothing was synced and nothing is deleted",
                        c->o->maildir);
        return unreadable(r);
    }
    c->stats->scanned = sc.nfiles;
    if ((r = check_folders(c, &sc)) < 0 || (r = local_deletion_guard(c, &sc)) < 0) {
        cs_scan_free(&sc);
        return r;
    }
    /* pass 1: files exactly where we left them (the common, stat-free case) */
    for (size_t i = 0; i < sc.nfiles; i++) {
        cs_scan_file *f = &sc.files[i];
        cs_arch_inst *in = cs_arch_state_find(c->st, f->unique);

        if (in && in->local_present && !in->scan_seen && f->subdir == in->local_subdir &&
            strcmp(in->local_name, f->name) == 0 && strcmp(in->local_folder, sc.folders.v[f->folder]) == 0) {
            struct stat st;

            in->scan_seen = true;
            f->mark = 1;
            /* one stat per message: what an in-place edit changes */
            if (stat_local(c, in, &st) < 0)
                continue; /* gone since the readdir: pass 3 looks again */
            if (cs_arch_inst_stat_changed(in, &st))
                f->mark = 2;
            else if (!in->local_ino)
                cs_arch_inst_set_stat(in, &st); /* first seen by a version that records it */
        }
    }
    /* pass 2: everything else */
    for (size_t i = 0; r == 0 && i < sc.nfiles; i++) {
        cs_scan_file *f = &sc.files[i];
        const char *folder = sc.folders.v[f->folder];
        cs_arch_inst *in;

        if (f->mark == 1)
            continue;
        in = cs_arch_state_find(c->st, f->unique);
        if (f->mark == 2)
            r = edited(c, in, folder, f->subdir, f->name, f->flags);
        else if (!in && c->st->ncollected && cs_arch_collected(c->st, f->unique))
            collected_name(c, folder, f->subdir, f->name);
        else if (!in)
            r = new_message(c, folder, f->subdir, f->name, f->unique, f->flags);
        else if (in->scan_seen)
            r = copy_as_new(c, folder, f->subdir, f->name, f->flags);
        else if (in->local_present)
            r = moved(c, in, folder, f->subdir, f->name, f->flags);
        else
            r = found_unrecorded(c, in, folder, f->subdir, f->name, f->flags);
    }
    if (r == 0)
        r = local_folders(c, &sc);
    cs_scan_free(&sc);
    if (r == 0)
        r = ingest_pending(c);
    if (r < 0)
        return r;
    /* pass 3: recorded but not seen.  A rename by the mail client during
     * our readdir can hide a file, so look once more before calling it a
     * deletion: a deletion is the one change we never want to invent. */
    for (size_t i = 0; i < c->st->ninst; i++)
        missing += c->st->inst[i]->local_present && !c->st->inst[i]->scan_seen;
    if (!missing)
        return 0;
    r = cs_scan_maildir(c->rootfd, &again);
    if (r < 0)
        return r;
    for (size_t i = 0; r == 0 && i < again.nfiles; i++) {
        cs_scan_file *f = &again.files[i];
        cs_arch_inst *in = cs_arch_state_find(c->st, f->unique);

        if (in && in->local_present && !in->scan_seen)
            r = moved(c, in, again.folders.v[f->folder], f->subdir, f->name, f->flags);
    }
    cs_scan_free(&again);
    for (size_t i = 0; r == 0 && i < c->st->ninst; i++) {
        cs_arch_inst *in = c->st->inst[i];
        cs_arch_entry e = { .type = CS_AE_DEL };

        if (!in->local_present || in->scan_seen)
            continue;
        plan(c, "record deletion of %s", in->local_name);
        snprintf(e.key, sizeof(e.key), "%s", in->key);
        if (!in->deleted)
            r = emit(c, &e);
        cs_arch_inst_clear_local(in);
        c->stats->local_deleted++;
    }
    return r;
}

/* ---- undelete ---- */

/* Bring one deleted message back as a new instance of the same content
 * (remove-wins keeps the old one deleted).  A file still here because its
 * deletion is held becomes the new instance's file: nothing to download. */
static int restore_one(ctx *c, cs_arch_inst *old)
{
    char u[CS_MD_UNIQUE_MAX + 1], name[CS_MD_NAME_MAX + 1], ou[CS_MD_UNIQUE_MAX + 1];
    char from[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8], to[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    cs_arch_entry *e = calloc(1, sizeof(*e));
    cs_arch_inst *nin;
    uint64_t fl = 0;
    int r = e ? cs_md_new_unique(u) : -ENOMEM;

    if (r < 0)
        goto out;
    *e = (cs_arch_entry){ .type = CS_AE_ADD, .ref = old->ref, .mtime = old->mtime,
                          .mask = CS_AE_FOLDER | CS_AE_SUBDIR | CS_AE_FLAGS, .subdir = old->subdir,
                          .flag_mask = CS_MD_FLAGS_ALL, .flags = old->flags };
    memcpy(e->id, old->id, CS_ARCH_ID_BYTES);
    snprintf(e->key, sizeof(e->key), "%s", u);
    snprintf(e->folder, sizeof(e->folder), "%s", old->folder);
    if ((r = emit(c, e)) < 0)
        goto out;
    c->stats->undeleted++;
    plan(c, "undelete %s as %s", old->key, u);
    if (c->o->dry_run || !old->local_present || old->local_stale)
        goto out;
    (void)cs_md_parse_name(old->local_name, ou, &fl);
    if (cs_md_render_name(u, old->local_subdir, fl, name) < 0 ||
        cs_md_path(old->local_folder, old->local_subdir, old->local_name, from, sizeof(from)) < 0 ||
        cs_md_path(old->local_folder, old->local_subdir, name, to, sizeof(to)) < 0 ||
        cs_md_rename(c->rootfd, from, to) < 0)
        goto out; /* then it is downloaded like on the other workstations */
    c->maildir_changed = true;
    nin = cs_arch_state_find(c->st, u);
    r = cs_arch_inst_set_local(nin, old->local_folder, old->local_subdir, name);
    nin->local_ino = old->local_ino; /* a rename keeps them */
    nin->local_size = old->local_size;
    nin->local_mtime_ns = old->local_mtime_ns;
    cs_arch_inst_clear_local(old);
out:
    free(e);
    return r;
}

static bool asked_for(const cs_archive_opts *o, const cs_arch_inst *in, uint64_t now)
{
    if (o->undelete_all || (o->undelete_since_sec && CS_HLC_MS(in->del_w.hlc) + o->undelete_since_sec * 1000 >= now))
        return true;
    for (size_t k = 0; k < o->undelete_n; k++)
        if (strcmp(o->undelete_ids[k], in->key) == 0)
            return true;
    return false;
}

static int undelete(ctx *c)
{
    const cs_archive_opts *o = c->o;
    uint64_t now = cs_hlc_wall_ms(), keep = o->keep_deleted_sec * 1000;
    cs_arch_live_ids live = { 0 };
    cs_arch_inst **v = NULL;
    size_t n = 0;
    int r;

    if (!o->undelete_all && !o->undelete_since_sec && !o->undelete_n)
        return 0;
    if ((r = cs_arch_live_ids_build(c->st, &live)) < 0)
        return r;
    for (size_t k = 0; k < o->undelete_n; k++) {
        cs_arch_inst *in = cs_arch_state_find(c->st, o->undelete_ids[k]);

        if (!in || !cs_arch_restorable(in, &live, now, keep)) {
            log_error("archive: %s is not a message deleted within [archive] keep_deleted; nothing was "
                      "undeleted ('cloudseal archive deleted' lists those that can come back)", o->undelete_ids[k]);
            r = -ENOENT;
            goto out;
        }
    }
    /* a snapshot: restoring adds instances */
    if (!(v = calloc(c->st->ninst ? c->st->ninst : 1, sizeof(*v)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->st->ninst; i++)
        if (cs_arch_restorable(c->st->inst[i], &live, now, keep) && asked_for(o, c->st->inst[i], now))
            v[n++] = c->st->inst[i];
    for (size_t i = 0; r == 0 && i < n; i++)
        r = restore_one(c, v[i]);
out:
    cs_arch_live_ids_free(&live);
    free(v);
    return r;
}

/* ---- upload of this sync's segment ---- */

static int upload_segment(ctx *c)
{
    char key[400], devhex[17];
    cs_buf sealed = CS_BUF_INIT;
    uint64_t seq = c->st->devs[0].applied + 1;
    int r;

    /* a device with nothing to record still uploads one (empty) segment:
     * its log puts it in every device's table, so that no tombstone is
     * collected before it has claimed (docs/archive.md section 8, R3) */
    if ((c->nout == 0 && c->nown > 0) || c->o->dry_run)
        return 0;
    r = cs_arch_packer_finish(c->packer); /* bodies before the entries that reference them */
    if (r < 0)
        return r;
    hex(c->st->devs[0].id, CS_ARCH_DEV_BYTES, devhex);
    snprintf(key, sizeof(key), "%slog/%s/%016" PRIx64, c->prefix, devhex, seq);
    r = cs_arch_segment_seal_flags(c->keys, c->st->devs[0].id, seq, c->seg_v2 ? CS_ARCH_SEG_V2 : 0,
                                   c->out.data, c->out.len, &sealed);
    if (r == 0)
        r = cs_storage_put(c->s, key, sealed.data, sealed.len, CS_PUT_IMMUTABLE);
    if (r == -EEXIST)
        log_error("archive: %s already exists: another device writes with this device's id "
                  "(was the state directory %s copied?); delete that copy's state directory", key,
                  c->o->state_dir);
    else if (r < 0)
        log_error_errno(r, "archive: cannot upload %s", key);
    if (r == 0) {
        c->seg_bytes += sealed.len;
        c->st->devs[0].applied = seq;
        c->st->dirty = true;
        c->out.len = 0;
        c->nout = 0;
        c->seg_v2 = false;
        r = keep_own(c, seq);
    }
    cs_buf_free(&sealed);
    return r;
}

static uint64_t keep_ms(const ctx *c)
{
    return c->o->keep_deleted_sec * 1000;
}

/* Replace our segments in storage by one compacted segment that carries
 * our claim and condenses old deletions to a DEL (docs/archive.md section 8,
 * R1, R2).  A skipped compaction is retried next time. */
static int compact(ctx *c)
{
    uint64_t next = c->st->devs[0].applied + 1, now = cs_hlc_wall_ms();
    cs_arch_claim claim;
    cs_arch_compact_ctx x = { .merged = c->st, .now_ms = now, .keep_ms = keep_ms(c), .claim = &claim };
    int r = cs_arch_claim_make(c->st, now, &claim);

    if (r < 0)
        return r;
    x.del_hlc = cs_hlc_tick(&c->st->clock, now);
    if (cs_arch_compact_own(c->s, c->prefix, c->keys, c->st->devs[0].id, c->own, c->nown, next, &x) == 0) {
        c->st->devs[0].applied = next;
        c->st->devs[0].floor = next;
        c->st->dirty = true;
        c->own[0] = next;
        c->nown = 1;
        r = cs_arch_claim_record(c->st, 0, next, &claim, NULL);
    }
    cs_arch_claim_free(&claim);
    return r;
}

/* Retire device index dev (archive forget-device, or again when its last
 * retirement does not cover a deletion past the keep period): its log is
 * condensed against our merged state and sealed in its name as its next
 * sequence, CS_PUT_IMMUTABLE, with a claim saying who retired it; its older
 * segments go.  -EEXIST: it wrote that sequence first, it is alive. */
static int retire(ctx *c, size_t dev)
{
    char logprefix[320], devprefix[340], devhex[17];
    seg_list l = { logprefix, NULL, 0, 0 };
    uint64_t *seqs = NULL, now = cs_hlc_wall_ms();
    cs_arch_claim claim = { 0 };
    cs_arch_compact_ctx x = { .merged = c->st, .now_ms = now, .keep_ms = keep_ms(c), .claim = &claim };
    int r;

    hex(c->st->devs[dev].id, CS_ARCH_DEV_BYTES, devhex);
    snprintf(logprefix, sizeof(logprefix), "%slog/", c->prefix);
    snprintf(devprefix, sizeof(devprefix), "%s%s/", logprefix, devhex);
    r = cs_storage_list(c->s, devprefix, list_cb, &l);
    if (r == 0 && l.n == 0)
        r = -ENOENT;
    if (r == 0 && !(seqs = malloc(l.n * sizeof(*seqs))))
        r = -ENOMEM;
    if (r < 0)
        goto out;
    qsort(l.v, l.n, sizeof(*l.v), seg_cmp);
    for (size_t i = 0; i < l.n; i++)
        seqs[i] = l.v[i].seq;
    if ((r = cs_arch_claim_make(c->st, now, &claim)) < 0)
        goto out;
    claim.retired = true;
    memcpy(claim.retired_by, c->st->devs[0].id, CS_ARCH_DEV_BYTES);
    x.del_hlc = cs_hlc_tick(&c->st->clock, now);
    r = cs_arch_compact_own(c->s, c->prefix, c->keys, c->st->devs[dev].id, seqs, l.n, seqs[l.n - 1] + 1, &x);
    if (r == 0)
        r = cs_arch_claim_record(c->st, (uint16_t)dev, seqs[l.n - 1] + 1, &claim, NULL);
out:
    cs_arch_claim_free(&claim);
    free(seqs);
    free(l.v);
    return r;
}

/* archive forget-device ID: never this device; one we have read the log of. */
static int forget_device(ctx *c)
{
    char id[17];
    int dev = -1, r;

    hex(c->o->forget_device, CS_ARCH_DEV_BYTES, id);
    for (size_t i = 0; i < c->st->ndevs; i++)
        if (memcmp(c->st->devs[i].id, c->o->forget_device, CS_ARCH_DEV_BYTES) == 0)
            dev = (int)i;
    if (dev == 0) {
        log_error("archive: %s is this workstation: forget it from another one", id);
        return -EINVAL;
    }
    if (dev < 0) {
        log_error("archive: no workstation %s in this archive; 'cloudseal archive devices' lists them", id);
        return -ENOENT;
    }
    plan(c, "forget workstation %s", id);
    if (c->o->dry_run)
        return 0;
    r = retire(c, (size_t)dev);
    if (r == -EEXIST)
        log_error("archive: workstation %s synced just now: it is alive, nothing was forgotten", id);
    else if (r < 0)
        log_error_errno(r, "archive: cannot forget workstation %s", id);
    return r;
}

/* A forgotten device's log may hold an ADD of a message deleted after it
 * was retired: retire it again (anyone may; two at once: one put wins). */
static void reretire(ctx *c, uint64_t now)
{
    for (size_t d = 1; d < c->st->ndevs; d++) {
        bool due = false;

        if (!c->st->devs[d].retired)
            continue;
        for (size_t i = 0; !due && i < c->st->ninst; i++) {
            const cs_arch_inst *in = c->st->inst[i];

            due = in->deleted && !in->local_present && CS_HLC_MS(in->del_w.hlc) + keep_ms(c) <= now &&
                  !cs_arch_claim_covers(c->st, d, in, keep_ms(c));
        }
        if (due && retire(c, d) < 0)
            log_debug("archive: a forgotten workstation's log was not condensed this time");
    }
}

/* Compact our log once it has more than compact_after segments: fewer
 * objects for every device to list and read. */
static int maybe_compact(ctx *c)
{
    size_t limit = c->o->compact_after ? c->o->compact_after : COMPACT_AFTER_DEFAULT;

    if (c->o->dry_run || c->nown <= limit)
        return 0;
    return compact(c);
}

/* ---- materialise ---- */

static int folder_made(ctx *c, const char *name);

static int place_one(ctx *c, cs_arch_inst *in, bool *need_delivery)
{
    char name[CS_MD_NAME_MAX + 1], from[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    char to[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    int r;

    *need_delivery = false;
    if (in->local_present) {
        r = cs_md_path(in->local_folder, in->local_subdir, in->local_name, from, sizeof(from));
        if (r < 0)
            return r;
    }
    if (in->local_present && in->local_stale) {
        /* our file holds the content that lost the name: keep it under a new name */
        char u[CS_MD_UNIQUE_MAX + 1], nn[CS_MD_NAME_MAX + 1];
        uint64_t fl = 0;

        (void)cs_md_parse_name(in->local_name, u, &fl);
        if ((r = cs_md_new_unique(u)) < 0 || (r = cs_md_render_name(u, in->local_subdir, fl, nn)) < 0 ||
            (r = cs_md_path(in->local_folder, in->local_subdir, nn, to, sizeof(to))) < 0)
            return r;
        plan(c, "rename %s -> %s (another message owns its unique name)", from, to);
        c->stats->conflicts++;
        if (!c->o->dry_run) {
            if (cs_md_rename(c->rootfd, from, to) < 0)
                return c->stats->skipped++, 0;
            c->maildir_changed = true;
            cs_arch_inst_clear_local(in);
        }
    }
    if (in->deleted) {
        if (!in->local_present)
            return 0;
        if (c->held && c->held[in->del_w.dev]) {
            c->stats->deletions_held++;
            return 0;
        }
        plan(c, "delete %s", from);
        c->stats->removed++;
        if (c->o->dry_run)
            return 0;
        if (unlinkat(c->rootfd, from, 0) < 0 && errno != ENOENT)
            return -errno;
        c->maildir_changed = true;
        cs_arch_inst_clear_local(in);
        return 0;
    }
    if (!in->has_add || !in->folder)
        return 0;
    r = cs_md_render_name(in->key, in->subdir, in->flags, name);
    if (r < 0)
        return r;
    if (!in->local_present) {
        plan(c, "deliver %s%s%s/%s", in->folder, in->folder[0] ? "/" : "", in->subdir ? "cur" : "new", name);
        *need_delivery = true;
        return 0;
    }
    if (in->local_subdir == in->subdir && strcmp(in->local_folder, in->folder) == 0 &&
        strcmp(in->local_name, name) == 0)
        return 0;
    r = cs_md_path(in->folder, in->subdir, name, to, sizeof(to));
    if (r < 0)
        return r;
    plan(c, "rename %s -> %s", from, to);
    c->stats->renamed++;
    if (c->o->dry_run)
        return 0;
    r = cs_md_ensure_folder(c->rootfd, in->folder);
    if (r == 0)
        r = folder_made(c, in->folder);
    if (r == 0)
        r = cs_md_rename(c->rootfd, from, to);
    if (r == -EEXIST || r == -ENOENT) { /* the mail client is busy with it: next sync */
        c->stats->skipped++;
        c->stats->renamed--;
        return 0;
    }
    if (r < 0)
        return r;
    c->maildir_changed = true;
    return cs_arch_inst_set_local(in, in->folder, in->subdir, name);
}

/* A folder materialise made for a message is on disk now. */
static int folder_made(ctx *c, const char *name)
{
    cs_arch_folder *f;
    int r;

    if (!name[0])
        return 0; /* INBOX, the Maildir itself */
    if ((r = cs_arch_state_folder_get(c->st, name, &f)) < 0)
        return r;
    if (!f->local) {
        f->local = true;
        c->st->dirty = true;
    }
    return 0;
}

/* Empty folders: create those the merged state says exist, remove those it
 * says were removed when nothing is left in them. */
static int place_folders(ctx *c)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < c->st->nfolders; i++) {
        cs_arch_folder *f = &c->st->folders[i];

        if (f->exists == f->local)
            continue;
        plan(c, "%s folder %s", f->exists ? "create" : "remove", f->name);
        if (c->o->dry_run)
            continue;
        if (f->exists)
            r = cs_md_ensure_folder(c->rootfd, f->name);
        else
            r = cs_md_remove_empty_folder(c->rootfd, f->name);
        if (r == -ENOTEMPTY || r == -ENOENT) { /* messages or a client's files in it: it stays */
            r = 0;
            continue;
        }
        if (r < 0)
            log_error_errno(r, "archive: cannot %s the folder %s in %s", f->exists ? "create" : "remove",
                            f->name, c->o->maildir);
        else {
            f->local = f->exists;
            c->st->dirty = true;
            c->maildir_changed = true;
        }
    }
    return r;
}

static int deliver_pending(ctx *c, cs_arch_inst **todo, size_t n)
{
    cs_arch_delivery *v = calloc(n, sizeof(*v));
    int r, first_err = 0;

    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].in = todo[i];
        if ((r = cs_md_render_name(todo[i]->key, todo[i]->subdir, todo[i]->flags, v[i].name)) < 0)
            goto out;
    }
    first_err = cs_arch_deliver_all(c->s, c->prefix, c->keys, c->rootfd, v, n, &c->stats->bytes_downloaded,
                                    c->o->progress, c->o->progress_userdata);
    for (size_t i = 0; i < n; i++) {
        cs_arch_inst *in = (cs_arch_inst *)v[i].in;

        r = v[i].result;
        if (r == 0) {
            c->maildir_changed = true;
            c->stats->delivered++;
            r = cs_arch_inst_set_local(in, in->folder, in->subdir, v[i].name);
            if (r == 0)
                r = folder_made(c, in->folder);
            if (r == 0)
                note_stat(c, in);
            else
                log_error_errno(r, "archive: cannot record the delivery of %s (%m); sync again", in->key);
        } else if (r == -EEXIST) { /* a file took that name meanwhile: the next scan looks at it */
            c->stats->skipped++;
            r = 0;
        } else if (r == -EBADMSG) {
            log_error("archive: the body of message %s failed verification: storage was tampered with",
                      in->key);
        } else if (first_err == 0) {
            log_error_errno(r, "archive: cannot deliver %s into %s", in->key, c->o->maildir);
        }
        if (r < 0 && !first_err)
            first_err = r;
    }
    r = first_err;
out:
    free(v);
    return r;
}

/* Remote deletions by one device that would take more than the guard
 * allows from this workstation stay undone (they are applied by a sync
 * that allows them; `archive undelete` brings them back instead). */
static int hold_mass_deletions(ctx *c)
{
    uint64_t *count = calloc(c->st->ndevs, sizeof(*count)), base = local_messages(c->st);

    if (!count)
        return -ENOMEM;
    for (size_t i = 0; i < c->st->ninst; i++) {
        const cs_arch_inst *in = c->st->inst[i];

        count[in->del_w.dev] += in->deleted && in->local_present && !in->local_stale;
    }
    for (size_t d = 0; d < c->st->ndevs; d++) {
        char devhex[17];

        if (!too_many(c, count[d], base))
            continue;
        if (!c->held && !(c->held = calloc(c->st->ndevs, sizeof(*c->held)))) {
            free(count);
            return -ENOMEM;
        }
        c->held[d] = true;
        hex(c->st->devs[d].id, CS_ARCH_DEV_BYTES, devhex);
        log_error("archive: workstation %s deleted %llu of the %llu messages here, more than [archive] "
                  "max_deletions allows: they are kept on this workstation for now. If that was meant, "
                  "run 'cloudseal archive sync --allow-deletions %llu'; if not, 'cloudseal archive deleted' "
                  "lists them and 'cloudseal archive undelete' brings them back everywhere",
                  devhex, (unsigned long long)count[d], (unsigned long long)base, (unsigned long long)count[d]);
    }
    free(count);
    return 0;
}

static int materialise(ctx *c)
{
    cs_arch_inst **todo = calloc(c->st->ninst ? c->st->ninst : 1, sizeof(*todo));
    size_t n = 0;
    int r = 0, first_err = 0;

    if (!todo || hold_mass_deletions(c) < 0) {
        free(todo);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->st->ninst; i++) {
        bool need = false;

        r = place_one(c, c->st->inst[i], &need);
        if (r < 0 && !first_err)
            first_err = r;
        if (need)
            todo[n++] = c->st->inst[i];
    }
    if (n && !c->o->dry_run) {
        r = deliver_pending(c, todo, n);
        if (r < 0 && !first_err)
            first_err = r;
    } else if (n) {
        c->stats->delivered += n;
    }
    r = place_folders(c);
    if (r < 0 && !first_err)
        first_err = r;
    free(todo);
    return first_err;
}

/* ---- setup, state files ---- */

static int open_private_dir(const char *path, int *fd_out)
{
    struct stat st;
    int fd, r = cs_mkdir_p(path, 0700);

    if (r < 0)
        return r;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
        close(fd);
        return -EPERM;
    }
    if ((st.st_mode & 077) && fchmod(fd, 0700) < 0) { /* owner-only, whatever umask made it */
        r = -errno;
        close(fd);
        return r;
    }
    *fd_out = fd;
    return 0;
}

int cs_arch_load_state(int statefd, const char *state_dir, cs_arch_state **out)
{
    cs_buf buf = CS_BUF_INIT;
    int r = cs_read_file_at(statefd, "state", CS_ARCH_STATE_MAX, &buf);

    if (r == -ENOENT)
        r = cs_arch_state_new(out);
    else if (r == 0) {
        r = cs_arch_state_decode(buf.data, buf.len, out);
        if (r == -EBADMSG)
            log_error("archive: the local state %s/state is damaged; move it away and sync again "
                      "(nothing is lost: the Maildir is rescanned and the logs are re-read)", state_dir);
    }
    cs_buf_free(&buf);
    return r;
}

static int save_state(ctx *c)
{
    cs_buf buf = CS_BUF_INIT;
    int r;

    if (!c->st->dirty && !c->maildir_changed) /* what is on disk is in the state too */
        return 0;
    r = cs_arch_state_encode(c->st, &buf);
    if (r == 0)
        r = cs_write_file_atomic_at(c->statefd, "state", buf.data, buf.len, 0600);
    if (r < 0)
        log_error_errno(r, "archive: cannot save the local state in %s", c->o->state_dir);
    else
        c->st->dirty = false;
    cs_buf_free(&buf);
    return r;
}

static int write_last_sync(ctx *c)
{
    char line[128];
    int n = snprintf(line, sizeof(line), "%lld\n", (long long)(cs_hlc_wall_ms() / 1000));

    return cs_write_file_atomic_at(c->statefd, "last-sync", line, (size_t)n, 0600);
}

/* Open the Maildir.  Only a device that never synced one creates it: for
 * any other, a missing Maildir, or one without new/ and cur/ (an empty
 * mount point), is an error, never "every message was deleted". */
static int open_maildir(ctx *c)
{
    const char *root = c->o->maildir;
    bool known = c->st->md_bound || local_messages(c->st) > 0, rejoined = false;
    int r, fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT && !known) {
        if ((r = cs_mkdir_p(root, 0700)) < 0)
            return r;
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        r = -errno;
        if (r == -ENOENT)
            log_error("archive: the Maildir %s does not exist; nothing was synced and nothing is deleted. "
                      "If it is on a disk, mount it; if you moved or renamed it, set [archive] maildir to "
                      "where it is now", root);
        else
            log_error_errno(r, "archive: cannot open the Maildir %s: %m; nothing was synced and nothing is "
                            "deleted", root);
        return unreadable(r);
    }
    c->rootfd = fd;
    for (int sub = 0; known && sub < 2; sub++) {
        struct stat st;

        if (fstatat(fd, sub ? "cur" : "new", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
            log_error("archive: %s has no %s/ directory: it is not the Maildir this workstation synced (a "
                      "disk that is not mounted?); nothing was synced and nothing is deleted. Mount its "
                      "disk, or set [archive] maildir to where the Maildir is", root, sub ? "cur" : "new");
            return -ENOENT;
        }
    }
    if ((r = cs_arch_maildir_bind(fd, root, c->st, c->o->dry_run, &rejoined)) < 0)
        return unreadable(r);
    r = cs_md_ensure_folder(fd, ""); /* tmp/, and the whole of a new Maildir */
    if (r < 0)
        log_error_errno(r, "archive: cannot open the Maildir %s", root);
    return r;
}

/* Asked for, or the last collection is gc_interval old (a clock set back
 * makes it due as well: better early than never). */
static bool gc_due(ctx *c)
{
    int64_t last, now = (int64_t)time(NULL);

    if (c->o->gc)
        return true;
    if (!c->o->gc_interval_sec)
        return false;
    last = cs_arch_gc_last_run(c->statefd);
    return now < last || (uint64_t)(now - last) >= c->o->gc_interval_sec;
}

/* With the pack collection, after materialise (a claim says what is done
 * on this disk): publish a claim when our log has not condensed a deletion
 * past the keep period yet, then drop the tombstones every device's claim
 * covers (docs/archive.md section 8). */
static int collect_tombstones(ctx *c)
{
    uint64_t now = cs_hlc_wall_ms();
    cs_arch_collect_stats cs;
    int r = 0;

    if (!c->o->dry_run && c->nown && cs_arch_claim_due(c->st, now, keep_ms(c)))
        r = compact(c);
    if (r == 0 && !c->o->dry_run)
        reretire(c, now);
    if (r == 0)
        r = cs_arch_collect_tombstones(c->st, now, keep_ms(c), c->o->gc_grace_sec * 1000, c->o->dry_run, &cs, NULL);
    /* and out of our log (dropped here, or on reading another's claim):
     * the compaction leaves collected names out */
    if (r == 0 && (cs.collected || c->stats->tombstones_collected) && !c->o->dry_run && c->nown)
        r = compact(c);
    if (r < 0)
        return r;
    if (cs.collected)
        plan(c, "collect %llu deletions seen by every device", (unsigned long long)cs.collected);
    c->stats->tombstones_collected += cs.collected;
    c->stats->tombstones_waiting = cs.waiting;
    c->stats->tombstones_blocked = cs.blocked;
    return 0;
}

/* Pack garbage collection with the state this sync merged from every log. */
static int collect(ctx *c)
{
    cs_arch_gc_opts g = { .storage = c->s, .prefix = c->prefix, .statefd = c->statefd,
                          .grace_sec = c->o->gc_grace_sec, .keep_deleted_sec = c->o->keep_deleted_sec, .dry_run = c->o->dry_run, .plan = c->o->plan };
    cs_arch_gc_stats gs;
    int r = cs_arch_gc(&g, c->st, &gs);

    c->stats->gc_packs = gs.packs;
    c->stats->gc_deleted = gs.deleted;
    c->stats->gc_bytes_freed = gs.bytes_freed;
    c->stats->gc_waiting = gs.waiting;
    if (r < 0 && !c->o->gc) {
        /* a collection nobody asked for: the sync itself succeeded */
        log_warning_errno(r, "archive: packs not collected this time");
        r = 0;
    }
    if (gs.foreign)
        log_warning("archive: %llu objects under %spack/ are not packs; left alone",
                    (unsigned long long)gs.foreign, c->prefix);
    return r;
}

static int run(ctx *c, const cs_amk *amk)
{
    const cs_archive_opts *o = c->o;
    int r, r2;

    if (!o->storage || !o->user || !o->maildir || !o->state_dir || !o->user[0] || strchr(o->user, '/'))
        return -EINVAL;
    {
        char probe[sizeof(c->prefix) + 64];

        /* the user name becomes part of every key: it must make valid ones */
        if (strlen(o->user) > 128)
            return -EINVAL;
        snprintf(c->prefix, sizeof(c->prefix), "users/%s/archive/", o->user);
        snprintf(probe, sizeof(probe), "%slog/0000000000000000/0000000000000001", c->prefix);
        if (cs_storage_key_valid(probe) < 0)
            return -EINVAL;
    }
    if ((r = cs_arch_keys_derive(amk, &c->keys)) < 0)
        return r;
    if ((r = open_private_dir(o->state_dir, &c->statefd)) < 0)
        return log_error_errno(r, "archive: cannot use the state directory %s", o->state_dir);
    c->lockfd = openat(c->statefd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (c->lockfd < 0)
        return -errno;
    if (flock(c->lockfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            log_error("archive: another sync is running for %s; try again when it is done", o->state_dir);
            return -EBUSY;
        }
        return -errno;
    }
    if ((r = cs_arch_load_state(c->statefd, o->state_dir, &c->st)) < 0)
        return r;
    if ((r = open_maildir(c)) < 0)
        return r;
    if ((r = cs_arch_packer_new(c->s, c->prefix, o->pack_target ? o->pack_target : PACK_TARGET_DEFAULT,
                           &c->packer)) < 0)
        return r;
    if ((r = fetch_remote(c)) < 0)
        return r;
    if (o->forget_device && (r = forget_device(c)) < 0)
        return r;
    if ((r = local_changes(c)) < 0 || (r = undelete(c)) < 0)
        return r;
    r = upload_segment(c);
    c->stats->packs_uploaded = cs_arch_packer_packs(c->packer);
    c->stats->bytes_uploaded = cs_arch_packer_bytes(c->packer) + c->seg_bytes;
    if (r < 0)
        return r;
    if ((r = maybe_compact(c)) < 0)
        return r;
    r = materialise(c);
    if (r == 0 && gc_due(c))
        r = collect_tombstones(c);
    if (o->dry_run)
        r = r == 0 && gc_due(c) ? collect(c) : r;
    if (o->dry_run)
        return r == 0 && c->held ? -ECANCELED : r;
    /* the Maildir is durable before the state says it is so */
    if (c->maildir_changed && syncfs(c->rootfd) < 0 && r == 0)
        r = -errno;
    r2 = save_state(c);
    if (r == 0 && r2 == 0)
        r2 = write_last_sync(c);
    if (r == 0 && r2 == 0 && gc_due(c))
        r2 = collect(c);
    if (r == 0 && r2 == 0 && c->held)
        r2 = -ECANCELED; /* complete but for the held deletions: the user decides */
    return r < 0 ? r : r2;
}

int cs_archive_sync(const cs_archive_opts *o, const cs_amk *amk, cs_archive_stats *stats)
{
    cs_archive_stats dummy;
    ctx c = { .o = o, .stats = stats ? stats : &dummy, .rootfd = -1, .statefd = -1, .lockfd = -1 };
    int r;

    assert(o && amk);
    memset(c.stats, 0, sizeof(*c.stats));
    c.s = o->storage;
    r = run(&c, amk);
    cs_arch_keys_free(c.keys);
    cs_arch_state_free(c.st);
    cs_buf_free(&c.out);
    cs_arch_packer_free(c.packer);
    free(c.pend);
    free(c.own);
    free(c.held);
    free(c.ids.slot);
    if (c.rootfd >= 0)
        close(c.rootfd);
    if (c.lockfd >= 0)
        close(c.lockfd); /* releases the flock */
    if (c.statefd >= 0)
        close(c.statefd);
    return r;
}
