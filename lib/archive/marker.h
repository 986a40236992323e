/* SPDX-License-Identifier: MIT */
/* The Maildir identity marker (docs/archive.md section 9): a dot-file in
 * the Maildir root naming it with a random id, so that a sync can tell the
 * Maildir its state was made from from an empty mount point, a typo in
 * [archive] maildir or a Maildir recreated or put in its place.
 *
 *   <maildir>/.cloudseal-maildir-id:  "cloudseal-maildir-id v1 <32 hex>\n"
 */
#ifndef CS_ARCHIVE_MARKER_H
#define CS_ARCHIVE_MARKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "archive/state.h"

#define CS_ARCH_MARKER_NAME ".cloudseal-maildir-id"
#define CS_ARCH_MARKER_LEN 57 /* the exact size of a marker file */

/* Strict: exactly the line above with lowercase hex.  0 or -EBADMSG. */
int cs_arch_marker_parse(const void *data, size_t len, uint8_t id[CS_ARCH_MD_ID_BYTES]);
void cs_arch_marker_format(const uint8_t id[CS_ARCH_MD_ID_BYTES], char out[CS_ARCH_MARKER_LEN + 1]);

/* Read the marker of the Maildir open at rootfd: 0, -ENOENT (none),
 * -EBADMSG (not a marker), or another read error. */
int cs_arch_marker_read(int rootfd, uint8_t id[CS_ARCH_MD_ID_BYTES]);

/* The root's device number where it identifies the file system across
 * mounts and reboots, else 0 (network and FUSE file systems, btrfs and
 * overlayfs number devices at mount time). */
uint64_t cs_arch_maildir_dev(int rootfd);

/* Bind st to the Maildir open at rootfd, or find that it is another one.
 * A state that never saw a Maildir adopts this one (writing a marker when
 * it has none).  A bound state whose Maildir has no marker, another id, or
 * the same id on another file system is given this Maildir as a new device
 * would be: every local record is dropped (*rejoined = true), so the sync
 * merges what is there and deletes nothing.  Nothing is written when
 * dry_run. */
int cs_arch_maildir_bind(int rootfd, const char *maildir, cs_arch_state *st, bool dry_run, bool *rejoined);

#endif
