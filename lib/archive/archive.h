/* SPDX-License-Identifier: MIT */
/* Message-archive sync: the public entry points (docs/archive.md).
 *
 *   cs_archive_opts o = { .storage = s, .user = "alice",
 *                         .maildir = "/home/alice/Maildir",
 *                         .state_dir = "/home/alice/.local/state/cloudseal/archive" };
 *   cs_archive_stats st;
 *   r = cs_archive_sync(&o, amk, &st);
 *
 * Used by `cloudseal archive sync` and by the agent (on its schedule and on
 * inotify changes).  One sync at a time per state directory: a concurrent
 * call returns -EBUSY.
 */
#ifndef CS_ARCHIVE_ARCHIVE_H
#define CS_ARCHIVE_ARCHIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "config/config.h"
#include "crypto/keys.h"
#include "storage/storage.h"

typedef struct cs_archive_opts {
    cs_storage *storage;     /* open backend; the caller closes it */
    const char *user;        /* objects go under users/<user>/archive/ */
    const char *maildir;     /* Maildir root (created 0700 if missing) */
    const char *state_dir;   /* local state (created 0700 if missing) */
    bool dry_run;            /* read storage, change nothing anywhere */
    FILE *plan;              /* when set, one line per action taken (or planned) */
    size_t pack_target;      /* pack size in bytes; 0 = 8 MiB */
    size_t compact_after;    /* compact our log past this many segments; 0 = 64 */
    size_t segment_split;    /* start another segment past this many bytes of entries; 0 = 16 MiB */
    /* After the sync, delete packs no live message needs any more: those
     * found unreferenced at an earlier gc of this device at least
     * gc_grace_sec ago (docs/archive.md section 8). */
    bool gc;
    uint64_t gc_grace_sec;
    uint64_t gc_interval_sec; /* also collect when the last collection is this old; 0 = only with gc */
    /* Mass-deletion guard (docs/archive.md section 5): more local
     * deletions in one sync than max_deletions (0 = 50) that are also more
     * than max_deletions_percent (0 = 25) of this device's messages stop the
     * sync (-ECANCELED, nothing recorded) unless allow_deletions covers
     * them; as many remote deletions by one other device are held (left on
     * disk, applied by a later sync that allows them; -ECANCELED after an
     * otherwise complete sync). */
    uint64_t max_deletions, max_deletions_percent, allow_deletions;
    /* Bodies of messages deleted less than this long ago are kept by the
     * pack gc and can be undeleted ([archive] keep_deleted, 30 days;
     * 0 = none). */
    uint64_t keep_deleted_sec;
    /* Undelete (a new instance of the same content under a new unique
     * name) the deleted messages: every one within the keep period, those
     * deleted within undelete_since_sec, or those with the given unique
     * names (-ENOENT, nothing done, when one is not a deleted message). */
    bool undelete_all;
    uint64_t undelete_since_sec;
    const char *const *undelete_ids;
    size_t undelete_n;
    /* Called now and then during long work (phase "sending" or "receiving",
     * messages done out of total), from any one thread at a time. */
    /* Forget this device (8 bytes; NULL = none): its log is condensed and
     * retired in its name, so that it no longer holds tombstone collection
     * back; it refuses to sync if it comes back.  -EINVAL for this device,
     * -ENOENT for an unknown one, -EEXIST when it wrote meanwhile (alive). */
    const uint8_t *forget_device;
    void (*progress)(void *userdata, const char *phase, uint64_t done, uint64_t total);
    void *progress_userdata;
} cs_archive_opts;

typedef struct cs_archive_stats {
    uint64_t scanned;          /* message files seen in the Maildir */
    uint64_t local_added;      /* new local messages recorded */
    uint64_t local_changed;    /* local moves / flag changes recorded */
    uint64_t local_deleted;    /* local deletions recorded */
    uint64_t edited;           /* messages edited in place: recorded as new versions */
    uint64_t folders_changed;  /* folders created or removed here, recorded */
    uint64_t vanished;         /* files that disappeared while being read */
    uint64_t segments_fetched, entries_applied;
    uint64_t delivered, renamed, removed, conflicts;
    uint64_t packs_uploaded, bytes_uploaded, bytes_downloaded, bodies_reused;
    uint64_t skipped;          /* actions retried at the next sync */
    uint64_t deletions_held;   /* remote deletions left undone (mass-deletion guard) */
    uint64_t undeleted;        /* messages brought back */
    /* with opts.gc */
    uint64_t gc_packs, gc_deleted, gc_bytes_freed, gc_waiting;
    /* tombstone collection (at the same time): dropped (here, or on reading
     * another device's claim naming them), covered by every device's claim
     * but within the grace, held back by a device's claim */
    uint64_t tombstones_collected, tombstones_waiting, tombstones_blocked;
    uint64_t collected_names;  /* files under a collected deletion's name: left alone */
} cs_archive_stats;

/* One two-way sync.  0, or a negative errno after logging a message:
 *   -EBUSY    another sync of this state directory is running
 *   -EBADMSG  tampering or corruption (storage object or local state)
 *   -EEXIST   another device writes with this device's id (copied state)
 *   -ENOENT   the Maildir or a directory of a known folder is missing
 *   -ECANCELED  mass deletions need consent (see allow_deletions)
 *   storage errors as in storage/storage.h */
int cs_archive_sync(const cs_archive_opts *o, const cs_amk *amk, cs_archive_stats *stats);

typedef struct cs_archive_status {
    char device_id[17];
    uint64_t messages;        /* live messages in the merged state */
    uint64_t local_messages;  /* of which on this device's disk */
    uint64_t deleted;         /* tombstones */
    uint64_t held;            /* deleted elsewhere, still here: held by the mass-deletion guard */
    uint64_t devices;         /* devices seen, this one included */
    uint64_t segments_written;
    int64_t last_sync;        /* unix seconds of the last successful sync, 0 = never */
    bool initialised;         /* false: no sync has run with this state directory */
} cs_archive_status;

/* The directories whose changes call for a sync (for the agent's inotify
 * watches): the Maildir root (folders created or removed) and new/ and cur/
 * of INBOX and of every Maildir++ folder.  cb gets absolute paths; a
 * non-zero return stops and is returned.  -ENOENT when there is no Maildir. */
int cs_archive_watch_dirs(const char *maildir, int (*cb)(const char *path, void *userdata), void *userdata);

/* A deleted message that can still be brought back. */
typedef struct cs_archive_deleted {
    const char *id;           /* its unique name: the ID of `archive undelete` */
    const char *folder;       /* "" = INBOX */
    int64_t deleted_at;       /* unix seconds */
    int64_t received;         /* the file's mtime, unix seconds (0 = unknown) */
    uint64_t size;            /* bytes */
    char device[17];          /* the device that deleted it */
} cs_archive_deleted;

/* Every deleted message of the local state (as of the last sync) within
 * keep_sec and since since_sec (0 = all), in folder (NULL =
 * all), whose content is not live under another name (a message moved by
 * copy and delete, or undeleted already), oldest deletion first.  cb's
 * non-zero return stops and is returned. */
int cs_archive_list_deleted(const char *state_dir, uint64_t keep_sec, uint64_t since_sec, const char *folder,
                            int (*cb)(const cs_archive_deleted *d, void *userdata), void *userdata);

/* Local state only: needs no key and no network. */
int cs_archive_get_status(const char *state_dir, cs_archive_status *out);

/* One device of the table: every workstation whose log this one has read
 * (docs/archive.md section 8, "Devices that never come back"). */
typedef struct cs_archive_device {
    char id[17];
    bool this_device;
    bool forgotten;           /* retired with forget_device: never claims again */
    int64_t claimed_at;       /* unix seconds of its latest claim counting, 0 = none */
    uint64_t segments;        /* its log, as far as applied here */
    uint64_t holding;         /* deletions past keep_deleted its claim does not cover yet */
} cs_archive_device;

/* The device table of the local state (as of the last sync), this device
 * first.  cb's non-zero return stops and is returned. */
int cs_archive_list_devices(const char *state_dir, uint64_t keep_sec,
                            int (*cb)(const cs_archive_device *d, void *userdata), void *userdata);

/* Default directory for the local state: $XDG_STATE_HOME/cloudseal/archive
 * or ~/.local/state/cloudseal/archive.  Returns a malloc()ed string. */
char *cs_archive_default_state_dir(void);

/* [archive] maildir and state_dir from the configuration, "~" expanded to
 * the user's home (malloc()ed).  -EINVAL for a relative path. */
int cs_archive_paths_from_config(const cs_config *c, char **maildir, char **state_dir);

#endif
