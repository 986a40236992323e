/* SPDX-License-Identifier: MIT */
/* Restore into a directory that holds files already: which ones to replace
 * (--overwrite), and what to remove for an exact mirror (--delete).  A file
 * with unsaved edits must never be replaced without being asked to. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/log.h"

static bool same_link(const cs_node *nd, const char *dest, const struct stat *st)
{
    char buf[4097];
    ssize_t n;

    if ((uint64_t)st->st_size != nd->link_len || nd->link_len >= sizeof(buf))
        return false;
    n = readlink(dest, buf, sizeof(buf));
    return n == (ssize_t)nd->link_len && memcmp(buf, nd->link ? nd->link : "", (size_t)n) == 0;
}

static bool same(const cs_node *nd, const char *dest, const struct stat *st)
{
    switch (nd->type) {
    case CS_NODE_FILE:
        return S_ISREG(st->st_mode) && (uint64_t)st->st_size == nd->size && st->st_mtim.tv_sec == nd->mtime_s &&
               (uint32_t)st->st_mtim.tv_nsec == nd->mtime_ns;
    case CS_NODE_SYMLINK: return S_ISLNK(st->st_mode) && same_link(nd, dest, st);
    case CS_NODE_FIFO: return S_ISFIFO(st->st_mode);
    case CS_NODE_SOCKET: return S_ISSOCK(st->st_mode);
    case CS_NODE_CHR: return S_ISCHR(st->st_mode) && (uint64_t)st->st_rdev == nd->rdev;
    case CS_NODE_BLK: return S_ISBLK(st->st_mode) && (uint64_t)st->st_rdev == nd->rdev;
    default: return false;
    }
}

int cs_restore_decide(const cs_node *nd, const char *dest, int overwrite)
{
    struct stat st;
    bool newer;

    if (lstat(dest, &st) < 0)
        return CS_RESTORE_NEW; /* or unreachable: creating it says why */
    if (S_ISDIR(st.st_mode))
        return CS_RESTORE_KEEP; /* a directory is never replaced by a file */
    if (same(nd, dest, &st))
        return overwrite == CS_OVERWRITE_ALWAYS ? CS_RESTORE_REPLACE : CS_RESTORE_SAME;
    newer = nd->mtime_s > st.st_mtim.tv_sec ||
            (nd->mtime_s == st.st_mtim.tv_sec && nd->mtime_ns > (uint32_t)st.st_mtim.tv_nsec);
    switch (overwrite) {
    case CS_OVERWRITE_ALWAYS:
    case CS_OVERWRITE_IF_CHANGED: return CS_RESTORE_REPLACE;
    case CS_OVERWRITE_IF_NEWER: return newer ? CS_RESTORE_REPLACE : CS_RESTORE_KEEP;
    default: return CS_RESTORE_KEEP;
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0) {
        log_warning_errno(-errno, "cannot delete %s", path);
        return -1;
    }
    return 0;
}

static bool in_tree(const cs_tree *t, const char *name)
{
    size_t lo = 0, hi = t->n, len = strlen(name);

    while (lo < hi) { /* nodes are in cs_name_cmp order */
        size_t mid = lo + (hi - lo) / 2;
        int c = cs_name_cmp(t->nodes[mid].name, t->nodes[mid].name_len, name, len);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

int cs_restore_delete_extra(const char *dest, const struct cs_tree *t, const cs_restore_opts *o, uint64_t *deleted)
{
    DIR *d = opendir(dest);
    struct dirent *e;
    int rc = 0;

    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d))) {
        char *p = NULL;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || in_tree(t, e->d_name))
            continue;
        if (asprintf(&p, "%s/%s", dest, e->d_name) < 0) {
            rc = -ENOMEM;
            break;
        }
        if (o->report)
            o->report("delete", p, o->report_ud);
        /* FTW_PHYS: a symlink is removed, never followed */
        if (o->dry_run || nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0)
            (*deleted)++;
        free(p);
    }
    closedir(d);
    return rc;
}
