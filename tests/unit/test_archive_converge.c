/* SPDX-License-Identifier: MIT */
/* Property test of the archive sync: 2 and 3 simulated devices (separate
 * Maildirs and state directories, one repository) run seeded random
 * deliveries, flag changes, moves, copies (`cp`, same unique name),
 * deletions, Maildirs moved away for a while (every sync must fail and
 * record nothing) or recreated empty (the device joins again, nothing is
 * deleted), in-place edits (a new version replaces the message), empty
 * folders made and removed (every device must end with the same folders),
 * undeletes (on even seeds, with a keep period the collector
 * honours), tombstone collection (on odd seeds: keep_deleted 0, every --gc
 * sync collects what every device's claim covers; at the end every
 * tombstone must be gone from every state and every log; with 3 devices
 * the last may die and be forgotten by another) and syncs (on odd seeds each
 * device compacts its log past 1 to 4 segments); after quiescent
 * sync rounds every Maildir must be identical, every message created and
 * not deleted must exist exactly once, and no deleted one may survive.
 *
 *   ARCHIVE_SEEDS=N        seeds per device count (default 200: 400 runs in all)
 *   ARCHIVE_SEED_BASE=N    first seed (default 1)
 *   ARCHIVE_TEST_STORAGE=URL  repository (default file:// in a temp dir);
 *                          for s3:// the test uses a fresh prefix per seed
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "archive/archive.h"
#include "archive/maildir.h"
#include "util/fileio.h"
#include "util/log.h"
#include <syslog.h>
#include "util/secmem.h"

#define MAX_DEV 4 /* 3 devices and the fresh one that checks the collected store */
#define MAX_MSGS 256

static const char *const folders[] = { "", ".Sent", ".Archive", ".Lists.debian" };
static const char flag_letters[] = "DFPRST";

typedef struct sim {
    char base[256];
    char maildir[MAX_DEV][300];
    char state[MAX_DEV][300];
    int ndev;
    uint64_t rng;
    cs_storage *s;
    cs_amk *amk;
    char user[64];
    /* model: every unique ever created, and whether a device deleted it */
    size_t compact_after;   /* small, so that runs compact their logs often */
    int nmsgs;
    char uniq[MAX_MSGS][CS_MD_UNIQUE_MAX + 1];
    int deleted[MAX_MSGS];
    int edited[MAX_MSGS];   /* rewritten in place somewhere: its old version may be gone */
    bool keep;              /* even seeds: keep_deleted, and undeletes */
    bool away[MAX_DEV];     /* the device's Maildir is moved away */
    int recreated;
} sim;

static uint32_t rnd(sim *m)
{
    /* xorshift64*: deterministic per seed, independent of libc */
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return (uint32_t)((m->rng * 2685821657736338717ULL) >> 32);
}

static void rm_rf(const char *path)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* A message file found on a device */
typedef struct found {
    char rel[600];
    char folder[64];
    int subdir;
    char name[300];
} found;

static int list_device(const char *maildir, found *out, int max)
{
    int n = 0;

    for (size_t f = 0; f < sizeof(folders) / sizeof(folders[0]); f++)
        for (int sd = 0; sd < 2; sd++) {
            char dir[700];
            DIR *d;
            struct dirent *e;

            snprintf(dir, sizeof(dir), "%s/%s%s%s", maildir, folders[f], folders[f][0] ? "/" : "",
                     sd ? "cur" : "new");
            d = opendir(dir);
            if (!d)
                continue;
            while ((e = readdir(d)) && n < max) {
                if (e->d_name[0] == '.')
                    continue;
                snprintf(out[n].rel, sizeof(out[n].rel), "%s%s%s/%s", folders[f], folders[f][0] ? "/" : "",
                         sd ? "cur" : "new", e->d_name);
                snprintf(out[n].folder, sizeof(out[n].folder), "%s", folders[f]);
                snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
                out[n].subdir = sd;
                n++;
            }
            closedir(d);
        }
    return n;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void op_deliver(sim *m, int d)
{
    char body[2048], path[900];
    int f, n, reuse;

    if (m->nmsgs >= MAX_MSGS)
        return;
    f = (int)(rnd(m) % 4);
    reuse = m->nmsgs > 0 && rnd(m) % 5 == 0; /* same content as an earlier message: stored once */
    n = snprintf(body, sizeof(body), "From: a@example.org\nSubject: %d\n\nbody %u\n",
                 reuse ? (int)(rnd(m) % (unsigned)m->nmsgs) : m->nmsgs, reuse ? 0 : rnd(m));
    for (int i = 0, extra = (int)(rnd(m) % 8); i < extra; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "line %d of some text\n", i);
    snprintf(m->uniq[m->nmsgs], sizeof(m->uniq[0]), "1700000000.M%dP%dQ%d.dev%d", m->nmsgs, d, (int)rnd(m), d);
    snprintf(path, sizeof(path), "%s/%s", m->maildir[d], folders[f]);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%s%s%s", m->maildir[d], folders[f], folders[f][0] ? "/" : "", "new");
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%s%s%s/%s", m->maildir[d], folders[f], folders[f][0] ? "/" : "",
             "new", m->uniq[m->nmsgs]);
    write_file(path, body, (size_t)n);
    m->nmsgs++;
}

static int pick(sim *m, int d, found *fs, found **out)
{
    int n = list_device(m->maildir[d], fs, MAX_MSGS * 2);

    if (n == 0)
        return 0;
    *out = &fs[rnd(m) % (unsigned)n];
    return 1;
}

static void rename_to(sim *m, int d, found *f, const char *folder, int subdir, uint64_t flags)
{
    char uniq[CS_MD_UNIQUE_MAX + 1], name[CS_MD_NAME_MAX + 1], from[1000], to[1000];
    uint64_t old;

    assert_int_equal(cs_md_parse_name(f->name, uniq, &old), 0);
    assert_int_equal(cs_md_render_name(uniq, subdir, flags, name), 0);
    snprintf(to, sizeof(to), "%s/%s", m->maildir[d], folder);
    mkdir(to, 0700);
    snprintf(to, sizeof(to), "%s/%s%s%s", m->maildir[d], folder, folder[0] ? "/" : "", subdir ? "cur" : "new");
    mkdir(to, 0700);
    snprintf(from, sizeof(from), "%s/%s", m->maildir[d], f->rel);
    snprintf(to, sizeof(to), "%s/%s%s%s/%s", m->maildir[d], folder, folder[0] ? "/" : "", subdir ? "cur" : "new", name);
    assert_int_equal(rename(from, to), 0);
}

static void op_flag(sim *m, int d)
{
    found fs[MAX_MSGS * 2], *f;
    char uniq[CS_MD_UNIQUE_MAX + 1];
    uint64_t flags;
    char letter = flag_letters[rnd(m) % 6];

    if (!pick(m, d, fs, &f))
        return;
    assert_int_equal(cs_md_parse_name(f->name, uniq, &flags), 0);
    flags ^= UINT64_C(1) << (letter - 'A');
    rename_to(m, d, f, f->folder, 1, flags); /* a mail client moves a message it touches to cur/ */
}

static void op_move(sim *m, int d)
{
    found fs[MAX_MSGS * 2], *f;
    char uniq[CS_MD_UNIQUE_MAX + 1];
    uint64_t flags;

    if (!pick(m, d, fs, &f))
        return;
    assert_int_equal(cs_md_parse_name(f->name, uniq, &flags), 0);
    rename_to(m, d, f, folders[rnd(m) % 4], f->subdir, flags);
}

static void op_delete(sim *m, int d)
{
    found fs[MAX_MSGS * 2], *f;
    char uniq[CS_MD_UNIQUE_MAX + 1], path[1000];
    uint64_t flags;

    if (!pick(m, d, fs, &f))
        return;
    assert_int_equal(cs_md_parse_name(f->name, uniq, &flags), 0);
    snprintf(path, sizeof(path), "%s/%s", m->maildir[d], f->rel);
    assert_int_equal(unlink(path), 0);
    /* with an unsynced `cp` of it still there, the message lives on (as a move) */
    for (int i = 0, n = list_device(m->maildir[d], fs, MAX_MSGS * 2); i < n; i++) {
        char u2[CS_MD_UNIQUE_MAX + 1];

        assert_int_equal(cs_md_parse_name(fs[i].name, u2, &flags), 0);
        if (strcmp(u2, uniq) == 0)
            return;
    }
    for (int i = 0; i < m->nmsgs; i++)
        if (strcmp(m->uniq[i], uniq) == 0)
            m->deleted[i] = 1;
}

/* A client rewrites a message where it lies (a header added): once the
 * device syncs, a new version under a new name replaces it everywhere. */
static void op_edit(sim *m, int d)
{
    found fs[MAX_MSGS * 2], *f;
    char path[1000], uniq[CS_MD_UNIQUE_MAX + 1];
    uint64_t flags;
    FILE *out;

    if (!pick(m, d, fs, &f))
        return;
    assert_int_equal(cs_md_parse_name(f->name, uniq, &flags), 0);
    snprintf(path, sizeof(path), "%s/%s", m->maildir[d], f->rel);
    out = fopen(path, "r+");
    assert_non_null(out);
    fprintf(out, "X-Label: %u\n", rnd(m)); /* over the first line: new content, maybe the same size */
    fclose(out);
    for (int i = 0; i < m->nmsgs; i++)
        if (strcmp(m->uniq[i], uniq) == 0)
            m->edited[i] = 1;
}

static uint64_t gc_deleted_total; /* over every seed: the collector must have had work */
static uint64_t tombstones_total; /* tombstones collected (odd seeds: keep_deleted 0) */
static uint64_t forgotten_total;  /* devices that died and were forgotten */
/* and these happened */
static uint64_t moved_away_total, recreated_total, undeleted_total, edited_total, folders_total;

/* A client creates a folder, or removes one holding no messages. */
static void op_mkdir(sim *m, int d)
{
    const char *folder = folders[1 + rnd(m) % 3];
    char path[700];

    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s/%s", m->maildir[d], folder, (const char *const[]){ "cur", "new", "tmp" }[i]);
        assert_int_equal(cs_mkdir_p(path, 0700), 0);
    }
    folders_total++;
}

static void op_rmdir(sim *m, int d)
{
    const char *folder = folders[1 + rnd(m) % 3];
    char path[700];
    found fs[MAX_MSGS * 2];
    int n = list_device(m->maildir[d], fs, MAX_MSGS * 2);

    for (int i = 0; i < n; i++)
        if (strcmp(fs[i].folder, folder) == 0)
            return; /* removing it would delete messages: op_delete does that */
    snprintf(path, sizeof(path), "%s/%s", m->maildir[d], folder);
    if (access(path, F_OK) < 0)
        return;
    for (int i = 0; i < 4; i++) { /* what a client removes: the folder and all in it (no messages) */
        char sub[800];

        snprintf(sub, sizeof(sub), "%s/%s", path, (const char *const[]){ "cur", "new", "tmp", "maildirfolder" }[i]);
        if (i < 3)
            rmdir(sub);
        else
            unlink(sub);
    }
    assert_int_equal(rmdir(path), 0);
    folders_total++;
}

static void op_copy(sim *m, int d)
{
    /* `cp` keeps the unique name: the sync must give the copy its own */
    found fs[MAX_MSGS * 2], *f;
    char from[1000], to[1000], buf[4096];
    const char *folder = folders[rnd(m) % 4];
    size_t n;
    FILE *in, *out;

    if (!pick(m, d, fs, &f) || strcmp(folder, f->folder) == 0)
        return;
    snprintf(to, sizeof(to), "%s/%s", m->maildir[d], folder);
    mkdir(to, 0700);
    snprintf(to, sizeof(to), "%s/%s%s%s", m->maildir[d], folder, folder[0] ? "/" : "", f->subdir ? "cur" : "new");
    mkdir(to, 0700);
    snprintf(from, sizeof(from), "%s/%s", m->maildir[d], f->rel);
    snprintf(to, sizeof(to), "%s/%s%s%s/%s", m->maildir[d], folder, folder[0] ? "/" : "",
             f->subdir ? "cur" : "new", f->name);
    in = fopen(from, "r");
    assert_non_null(in);
    n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    out = fopen(to, "wx");
    if (!out)
        return;
    assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(out);
}

/* every third run starts a new segment every few hundred bytes of entries */
static size_t seed_split(const sim *m)
{
    return m->compact_after == 2 || m->compact_after == 4 ? 300 : 0;
}


/* A sync; with gc, pack collection after it with no grace period (a pack
 * goes at the second collection that finds it unreferenced). */
static int try_sync_all(sim *m, int d, bool gc, const char *undelete, bool all, cs_archive_stats *st)
{
    cs_archive_opts o = { .storage = m->s, .user = m->user, .maildir = m->maildir[d],
                          .state_dir = m->state[d], .pack_target = 4096,
                          .compact_after = m->compact_after,
                          .segment_split = seed_split(m), .gc = gc, .gc_grace_sec = 0,
                          .keep_deleted_sec = m->keep ? 30 * 86400 : 0, .undelete_all = all,
                          .undelete_ids = &undelete, .undelete_n = undelete ? 1 : 0 };

    return cs_archive_sync(&o, m->amk, st);
}

static int try_sync(sim *m, int d, bool gc, const char *undelete, cs_archive_stats *st)
{
    return try_sync_all(m, d, gc, undelete, false, st);
}

static uint64_t sync_device(sim *m, int d, bool gc)
{
    cs_archive_stats st;
    int r;

    /* odd seeds (keep_deleted 0): every sync collects, so that tombstones
     * go while other devices are behind, away or holding deletions */
    r = try_sync(m, d, gc || !m->keep, NULL, &st);

    if (r != 0)
        fail_msg("sync%s of device %d failed: %s", gc ? " --gc" : "", d, strerror(-r));
    if (st.skipped)
        fail_msg("device %d skipped %llu actions (a body that could not be fetched?)", d,
                 (unsigned long long)st.skipped);
    gc_deleted_total += st.gc_deleted;
    tombstones_total += st.tombstones_collected;
    edited_total += st.edited;
    return st.local_added + st.local_changed + st.local_deleted + st.conflicts;
}

static uint64_t op_sync(sim *m, int d)
{
    return sync_device(m, d, false);
}

static bool synced_before(const sim *m, int d)
{
    char path[400];

    snprintf(path, sizeof(path), "%s/state", m->state[d]);
    return access(path, F_OK) == 0;
}

/* The Maildir moved away (a typo, a disk not mounted): every sync fails and
 * records nothing until it is back; never recreated by the sync. */
static void op_move_away(sim *m, int d, uint64_t seed)
{
    char away[400];
    cs_archive_stats st;
    int r;

    snprintf(away, sizeof(away), "%s.away", m->maildir[d]);
    if (m->away[d]) {
        assert_int_equal(rename(away, m->maildir[d]), 0);
        m->away[d] = false;
        return;
    }
    if (!synced_before(m, d))
        return; /* a device that never synced creates its Maildir */
    assert_int_equal(rename(m->maildir[d], away), 0);
    m->away[d] = true;
    moved_away_total++;
    r = try_sync(m, d, false, NULL, &st);
    if (r != -ENOENT || st.local_deleted || access(m->maildir[d], F_OK) == 0)
        fail_msg("seed %llu: device %d synced without its Maildir: %s, %llu deletions",
                 (unsigned long long)seed, d, strerror(-r), (unsigned long long)st.local_deleted);
}

/* A new empty Maildir where the old one was (moved aside after a sync that
 * recorded everything on it): the device joins again, nothing is deleted. */
static void op_recreate(sim *m, int d)
{
    char old[400], path[500];

    if (!synced_before(m, d))
        return;
    sync_device(m, d, false);
    snprintf(old, sizeof(old), "%s.old%d", m->maildir[d], m->recreated++);
    assert_int_equal(rename(m->maildir[d], old), 0);
    recreated_total++;
    for (int sd = 0; sd < 3; sd++) {
        snprintf(path, sizeof(path), "%s/%s", m->maildir[d], (const char *const[]){ "cur", "new", "tmp" }[sd]);
        assert_int_equal(cs_mkdir_p(path, 0700), 0);
    }
}

/* The last device dies after a last sync (a disk gone for good) and another
 * forgets it: tombstone collection must go on without it, and nothing it
 * added may be lost.  Returns whether it died. */
static bool op_die(sim *m, int dead, uint64_t seed)
{
    cs_archive_status s;
    uint8_t id[8];
    int other = -1;

    if (!synced_before(m, dead) || m->away[dead])
        return false;
    for (int d = 0; d < dead && other < 0; d++)
        if (!m->away[d] && synced_before(m, d))
            other = d;
    if (other < 0)
        return false;
    sync_device(m, dead, false);
    sync_device(m, other, false); /* it must have read the log it forgets */
    assert_int_equal(cs_archive_get_status(m->state[dead], &s), 0);
    assert_int_equal(sodium_hex2bin(id, sizeof(id), s.device_id, 16, NULL, NULL, NULL), 0);
    {
        cs_archive_opts o = { .storage = m->s, .user = m->user, .maildir = m->maildir[other],
                              .state_dir = m->state[other], .pack_target = 4096,
                              .compact_after = m->compact_after, .segment_split = seed_split(m),
                              .keep_deleted_sec = m->keep ? 30 * 86400 : 0, .forget_device = id };
        cs_archive_stats st;
        int r = cs_archive_sync(&o, m->amk, &st);

        if (r != 0)
            fail_msg("seed %llu: device %d forgetting device %d: %s", (unsigned long long)seed, other, dead,
                     strerror(-r));
    }
    forgotten_total++;
    return true;
}

static void add_new_to_model(sim *m, int d);

/* Undelete a deleted message on a device that knows it: it comes back
 * under a new unique name, which joins the model. */
static void op_undelete(sim *m, int d, uint64_t seed)
{
    cs_archive_stats st;
    int del[MAX_MSGS], ndel = 0, i, r;

    if (!m->keep || !synced_before(m, d) || m->nmsgs >= MAX_MSGS)
        return;
    for (int j = 0; j < m->nmsgs; j++)
        if (m->deleted[j])
            del[ndel++] = j;
    if (!ndel)
        return;
    i = del[rnd(m) % (unsigned)ndel];
    r = try_sync(m, d, false, m->uniq[i], &st);
    if (r == -ENOENT) /* not seen deleted here, or its content lives on under another name */
        return;
    if (r != 0 || st.undeleted != 1 || st.skipped)
        fail_msg("seed %llu: undelete of %s on device %d: %s", (unsigned long long)seed, m->uniq[i], d, strerror(-r));
    undeleted_total++;
    add_new_to_model(m, d);
}

/* Messages on device d the model does not know: undeleted ones. */
static void add_new_to_model(sim *m, int d)
{
    static found fs[MAX_MSGS * 2];
    int n = list_device(m->maildir[d], fs, MAX_MSGS * 2);

    for (int k = 0; k < n; k++) {
        char u[CS_MD_UNIQUE_MAX + 1];
        uint64_t fl;
        int known = 0;

        assert_int_equal(cs_md_parse_name(fs[k].name, u, &fl), 0);
        for (int j = 0; j < m->nmsgs && !known; j++)
            known = strcmp(m->uniq[j], u) == 0;
        if (!known && m->nmsgs < MAX_MSGS)
            snprintf(m->uniq[m->nmsgs++], sizeof(m->uniq[0]), "%s", u);
    }
}

static int cmp_found(const void *a, const void *b)
{
    return strcmp(((const found *)a)->rel, ((const found *)b)->rel);
}

static void read_all(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    *len = fread(buf, 1, cap, f);
    fclose(f);
}

/* The Maildir++ folders on a device, as a bit set over folders[]. */
static unsigned folder_set(const char *maildir)
{
    unsigned set = 0;

    for (size_t f = 1; f < sizeof(folders) / sizeof(folders[0]); f++) {
        char path[700];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", maildir, folders[f]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            set |= 1u << f;
    }
    return set;
}

static void check_converged(sim *m, uint64_t seed)
{
    for (int d = 1; d < m->ndev; d++)
        if (folder_set(m->maildir[d]) != folder_set(m->maildir[0]))
            fail_msg("seed %llu: device 0 has folders %#x, device %d has %#x", (unsigned long long)seed,
                     folder_set(m->maildir[0]), d, folder_set(m->maildir[d]));
    static found a[MAX_MSGS * 2], b[MAX_MSGS * 2];
    int na = list_device(m->maildir[0], a, MAX_MSGS * 2);

    qsort(a, (size_t)na, sizeof(*a), cmp_found);
    for (int d = 1; d < m->ndev; d++) {
        int nb = list_device(m->maildir[d], b, MAX_MSGS * 2);

        qsort(b, (size_t)nb, sizeof(*b), cmp_found);
        if (na != nb)
            fail_msg("seed %llu: device 0 has %d messages, device %d has %d", (unsigned long long)seed, na, d, nb);
        for (int i = 0; i < na; i++) {
            char p1[2048], p2[2048], c1[4096], c2[4096];
            size_t l1, l2;

            if (strcmp(a[i].rel, b[i].rel) != 0)
                fail_msg("seed %llu: device 0 has %s where device %d has %s", (unsigned long long)seed,
                         a[i].rel, d, b[i].rel);
            snprintf(p1, sizeof(p1), "%.300s/%.600s", m->maildir[0], a[i].rel);
            snprintf(p2, sizeof(p2), "%.300s/%.600s", m->maildir[d], b[i].rel);
            read_all(p1, c1, sizeof(c1), &l1);
            read_all(p2, c2, sizeof(c2), &l2);
            if (l1 != l2 || memcmp(c1, c2, l1) != 0)
                fail_msg("seed %llu: %s differs between devices 0 and %d", (unsigned long long)seed, a[i].rel, d);
        }
    }
    /* the model: created and not deleted <=> present exactly once */
    for (int i = 0; i < m->nmsgs; i++) {
        int count = 0;

        for (int j = 0; j < na; j++) {
            char u[CS_MD_UNIQUE_MAX + 1];
            uint64_t fl;

            assert_int_equal(cs_md_parse_name(a[j].name, u, &fl), 0);
            count += strcmp(u, m->uniq[i]) == 0;
        }
        if (count != (m->deleted[i] ? 0 : 1) && !(m->edited[i] && count == 0))
            fail_msg("seed %llu: message %s present %d times (deleted: %d)", (unsigned long long)seed,
                     m->uniq[i], count, m->deleted[i]);
    }
}

static void run_seed(int ndev, uint64_t seed)
{
    static sim m;
    const char *url = getenv("ARCHIVE_TEST_STORAGE");
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    char store[400];
    uint8_t key[32];
    int steps, quiet;

    memset(&m, 0, sizeof(m));
    m.ndev = ndev;
    m.rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)ndev;
    m.compact_after = seed % 2 ? 1 + (seed / 2) % 4 : 0; /* odd seeds: compact often */
    m.keep = seed % 2 == 0;
    snprintf(m.base, sizeof(m.base), "%s/cs-arch-prop-XXXXXX", tmp);
    assert_non_null(mkdtemp(m.base));
    for (int d = 0; d < ndev; d++) {
        char base[sizeof(m.base)];

        memcpy(base, m.base, sizeof(base)); /* not m.base itself: snprintf into the same struct */
        snprintf(m.maildir[d], sizeof(m.maildir[d]), "%s/dev%d/Maildir", base, d);
        snprintf(m.state[d], sizeof(m.state[d]), "%s/dev%d/state", base, d);
        assert_int_equal(cs_mkdir_p(m.maildir[d], 0700), 0);
    }
    snprintf(m.user, sizeof(m.user), "prop%d-%llu-%d", ndev, (unsigned long long)seed, (int)getpid());
    if (url)
        snprintf(store, sizeof(store), "%s", url);
    else
        snprintf(store, sizeof(store), "file://%s/store", m.base);
    assert_int_equal(cs_storage_open(store, NULL, &m.s), 0);
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(seed + (uint64_t)i);
    assert_int_equal(cs_amk_from_bytes(key, 32, &m.amk), 0);

    steps = 20 + (int)(rnd(&m) % 30);
    for (int i = 0; i < steps; i++) {
        int d = (int)(rnd(&m) % (unsigned)ndev);
        cs_archive_stats st;

        /* odd seeds of 3 devices: the last may die and be forgotten; the
         * others carry on (and the fresh device at the end takes its slot) */
        if (ndev == 3 && !m.keep && rnd(&m) % 40 == 0 && op_die(&m, 2, seed)) {
            ndev = m.ndev = 2;
            continue;
        }
        if (m.away[d]) { /* its Maildir is away: back, or a sync that must fail */
            if (rnd(&m) % 2)
                op_move_away(&m, d, seed);
            else if (try_sync(&m, d, false, NULL, &st) != -ENOENT || access(m.maildir[d], F_OK) == 0)
                fail_msg("seed %llu: device %d synced without its Maildir", (unsigned long long)seed, d);
            continue;
        }
        switch (rnd(&m) % 18) {
        case 16: op_mkdir(&m, d); break;
        case 17: op_rmdir(&m, d); break;
        case 15: op_edit(&m, d); break;
        case 11: op_move_away(&m, d, seed); break;
        case 12: op_recreate(&m, d); break;
        case 13: case 14: op_undelete(&m, d, seed); break;
        case 0: case 1: case 2: op_deliver(&m, d); break;
        case 3: case 4: op_flag(&m, d); break;
        case 5: case 6: op_move(&m, d); break;
        case 7: op_delete(&m, d); break;
        case 10: op_copy(&m, d); break;
        case 9: sync_device(&m, d, true); break;
        default: op_sync(&m, d); break;
        }
    }
    for (int d = 0; d < ndev; d++)
        if (m.away[d])
            op_move_away(&m, d, seed); /* back for the end */
    /* quiescence: sync rounds in a random order until nobody records anything */
    for (int round = 0, changed = 1; changed; round++) {
        int order[MAX_DEV];

        if (round > 4)
            fail_msg("seed %llu: still changing after %d rounds", (unsigned long long)seed, round);
        for (int d = 0; d < ndev; d++)
            order[d] = d;
        for (int d = ndev - 1; d > 0; d--) {
            int j = (int)(rnd(&m) % (unsigned)(d + 1)), t = order[d];
            order[d] = order[j];
            order[j] = t;
        }
        changed = 0;
        for (int d = 0; d < ndev; d++)
            changed |= op_sync(&m, order[d]) != 0;
        if (round == 0)
            changed = 1; /* everyone must see the last writer's segment */
    }
    add_new_to_model(&m, 0); /* new versions of edited messages */
    /* one more round must be a no-op everywhere */
    quiet = 1;
    for (int d = 0; d < ndev; d++)
        quiet &= op_sync(&m, d) == 0;
    assert_true(quiet);
    check_converged(&m, seed);
    /* Collect twice everywhere (nothing is referenced anew in between), then
     * a new device must still receive every live message from the store. */
    for (int pass = 0; pass < 2; pass++)
        for (int d = 0; d < ndev; d++)
            assert_true(sync_device(&m, d, true) == 0);
    if (!m.keep) {
        /* keep_deleted 0: two more collections (claim, note, drop) leave no
         * tombstone anywhere, and nothing deleted came back meanwhile */
        for (int pass = 0; pass < 2; pass++)
            for (int d = 0; d < ndev; d++)
                assert_true(sync_device(&m, d, true) == 0);
        for (int d = 0; d < ndev; d++) {
            cs_archive_status s;

            assert_int_equal(cs_archive_get_status(m.state[d], &s), 0);
            if (s.deleted)
                fail_msg("seed %llu: device %d still has %llu tombstones after the collections",
                         (unsigned long long)seed, d, (unsigned long long)s.deleted);
        }
        check_converged(&m, seed);
    }
    if (m.keep) {
        /* within the keep period every deleted body survived them: all back */
        cs_archive_stats st;
        int r = try_sync_all(&m, 0, false, NULL, true, &st);

        if (r != 0 || st.skipped)
            fail_msg("seed %llu: undelete --all after collections: %s, %llu skipped", (unsigned long long)seed,
                     strerror(-r), (unsigned long long)st.skipped);
        undeleted_total += st.undeleted;
        add_new_to_model(&m, 0);
        for (int d = 0; d < ndev; d++)
            op_sync(&m, d);
        check_converged(&m, seed);
    }
    {
        char base[sizeof(m.base)];

        memcpy(base, m.base, sizeof(base));
        snprintf(m.maildir[ndev], sizeof(m.maildir[ndev]), "%s/fresh/Maildir", base);
        snprintf(m.state[ndev], sizeof(m.state[ndev]), "%s/fresh/state", base);
        assert_int_equal(cs_mkdir_p(m.maildir[ndev], 0700), 0);
        op_sync(&m, ndev);
        m.ndev = ndev + 1;
        check_converged(&m, seed);
        m.ndev = ndev;
        if (!m.keep) { /* the logs hold nothing of a collected message either */
            cs_archive_status s;

            assert_int_equal(cs_archive_get_status(m.state[ndev], &s), 0);
            if (s.deleted)
                fail_msg("seed %llu: a new device read %llu tombstones from the store after the collections",
                         (unsigned long long)seed, (unsigned long long)s.deleted);
        }
    }
    cs_amk_free(m.amk);
    cs_storage_close(m.s);
    rm_rf(m.base);
}

static void run_seeds(int ndev)
{
    const char *n = getenv("ARCHIVE_SEEDS"), *b = getenv("ARCHIVE_SEED_BASE");
    uint64_t count = n ? strtoull(n, NULL, 10) : 200, base = b ? strtoull(b, NULL, 10) : 1;

    for (uint64_t s = base; s < base + count; s++)
        run_seed(ndev, s);
    print_message("%d devices: %llu seeds converged; %llu packs and %llu tombstones collected on the way, %llu "
                  "devices forgotten; %llu Maildirs moved away, %llu recreated, %llu messages undeleted, %llu edits recorded, %llu folders "
                  "made or removed\n",
                  ndev, (unsigned long long)count,
                  (unsigned long long)gc_deleted_total, (unsigned long long)tombstones_total,
                  (unsigned long long)forgotten_total, (unsigned long long)moved_away_total,
                  (unsigned long long)recreated_total, (unsigned long long)undeleted_total,
                  (unsigned long long)edited_total, (unsigned long long)folders_total);
    if (count >= 20) /* the collector had work (and nothing live was lost), every op happened */
        assert_true((ndev < 3 || forgotten_total > 0) && gc_deleted_total > 0 && tombstones_total > 0 && moved_away_total > 0 && recreated_total > 0 && undeleted_total > 0 &&
                    edited_total > 0 && folders_total > 0);
}

static void test_two_devices(void **state) { (void)state; run_seeds(2); }
static void test_three_devices(void **state) { (void)state; run_seeds(3); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_devices),
        cmocka_unit_test(test_three_devices),
    };

    if (cs_crypto_init() < 0)
        return 1;
    cs_log_setup("test_archive_converge", LOG_CRIT); /* the errors of syncs without a Maildir are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
