/* SPDX-License-Identifier: MIT */
/* Listing a Maildir tree: INBOX and every Maildir++ ".Folder", new/ then
 * cur/ (a message moving new -> cur during the scan is then seen at least
 * once).  Only names are read: no stat() of messages, which is what makes a
 * no-change sync of a large archive fast. */
#ifndef CS_ARCHIVE_SCAN_H
#define CS_ARCHIVE_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include "util/strv.h"

#define CS_SCAN_NO_NEW 1
#define CS_SCAN_NO_CUR 2

typedef struct cs_scan_file {
    uint32_t folder;   /* index into cs_scan.folders.v */
    uint8_t subdir;    /* CS_MD_NEW / CS_MD_CUR */
    uint8_t mark;      /* free for the caller */
    uint64_t flags;
    char *name;        /* file name */
    char *unique;      /* its unique part */
} cs_scan_file;

typedef struct cs_scan {
    cs_strv folders;   /* "" (INBOX, the Maildir itself) first */
    uint8_t *missing;  /* per folder: CS_SCAN_NO_NEW | CS_SCAN_NO_CUR, the folder itself being there */
    cs_scan_file *files;
    size_t nfiles, cap;
} cs_scan;

/* Scan the Maildir open at rootfd.  Entries that vanish, are not regular
 * files or are not Maildir names are skipped; a folder whose new/ or cur/
 * is missing while the folder is there is marked in missing[]. */
int cs_scan_maildir(int rootfd, cs_scan *out);
void cs_scan_free(cs_scan *sc);

#endif
