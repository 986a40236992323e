/* SPDX-License-Identifier: MIT */
/* Maildir names and delivery (https://cr.yp.to/proto/maildir.html plus
 * Maildir++ folders).
 *
 *   <root>/{cur,new,tmp}            INBOX, folder ""
 *   <root>/.Sent/{cur,new,tmp}      folder ".Sent"; ".Lists.debian" nests
 *
 * A file name is "<unique>" or "<unique>:2,<flags>"; <unique> is the
 * instance key the archive syncs by, <flags> a sorted run of ASCII letters.
 */
#ifndef CS_ARCHIVE_MAILDIR_H
#define CS_ARCHIVE_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_MD_NAME_MAX 255      /* a whole file name */
#define CS_MD_UNIQUE_MAX 200    /* the unique part: leaves room for ":2," + 52 flags */
#define CS_MD_FOLDER_MAX 255

enum { CS_MD_NEW = 0, CS_MD_CUR = 1 };

/* Flags: bit 0..25 = 'A'..'Z', bit 26..51 = 'a'..'z'. */
#define CS_MD_FLAGS_ALL ((UINT64_C(1) << 52) - 1)

/* 0 when s is an acceptable unique name: 1..CS_MD_UNIQUE_MAX bytes, no '/',
 * ':', NUL or control bytes, not starting with '.'.  Else -EINVAL. */
int cs_md_unique_valid(const char *s);
/* 0 when s is "" (INBOX) or a Maildir++ folder ".Name[.Sub...]" without
 * '/', control bytes, empty components or "." / ".." components. */
int cs_md_folder_valid(const char *s);

/* Split a file name into its unique part and flags.  Names without an info
 * part, or with one other than ":2,<letters>", keep flags 0.  -EINVAL for
 * names that are not message files (dot-files, invalid unique part). */
int cs_md_parse_name(const char *name, char unique[CS_MD_UNIQUE_MAX + 1], uint64_t *flags);

/* The canonical file name for an instance: "<unique>" in new/ without
 * flags, else "<unique>:2,<sorted flags>". */
int cs_md_render_name(const char *unique, int subdir, uint64_t flags, char out[CS_MD_NAME_MAX + 1]);

/* Flags as sorted letters (at most 52 + NUL). */
void cs_md_flags_str(uint64_t flags, char out[53]);

/* A fresh unique name: "<sec>.M<usec>P<pid>Q<n>R<random>.<host>". */
int cs_md_new_unique(char out[CS_MD_UNIQUE_MAX + 1]);

/* Make sure folder exists as a Maildir under rootfd (cur/ new/ tmp/ and,
 * for a subfolder, the Maildir++ "maildirfolder" marker).  0700. */
int cs_md_ensure_folder(int rootfd, const char *folder);

/* Remove a Maildir++ folder that holds nothing: its cur/ new/ tmp/ empty,
 * nothing else in it but the "maildirfolder" marker.  -ENOTEMPTY (the
 * folder left whole) when anything else is there, 0 when it is gone. */
int cs_md_remove_empty_folder(int rootfd, const char *folder);

/* Relative path "<folder>/<sub>/<name>" ("cur/x" for INBOX). */
int cs_md_path(const char *folder, int subdir, const char *name, char *out, size_t cap);

/* Deliver data as folder/subdir/name: write tmp/<name>, then rename into
 * place without ever replacing an existing file (-EEXIST).  mtime (> 0)
 * becomes the file's modification time, which Dovecot and mutt show as the
 * received date.  No fsync: the caller syncfs()es the Maildir before
 * recording the delivery. */
int cs_md_deliver(int rootfd, const char *folder, int subdir, const char *name,
                  const void *data, size_t len, int64_t mtime);

/* Rename from one relative path to another, never replacing (-EEXIST). */
int cs_md_rename(int rootfd, const char *from, const char *to);

#endif
