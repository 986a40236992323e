/* SPDX-License-Identifier: MIT */
/* Maildir tree listing. */
#include "archive/scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "archive/archive.h"
#include "archive/maildir.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/strv.h"

void cs_scan_free(cs_scan *sc)
{
    for (size_t i = 0; i < sc->nfiles; i++)
        free(sc->files[i].name); /* unique shares the allocation */
    cs_strv_free(&sc->folders);
    free(sc->missing);
    free(sc->files);
    memset(sc, 0, sizeof(*sc));
}

static int add_folder(cs_scan *sc, const char *name)
{
    uint8_t *m = realloc(sc->missing, sc->folders.n + 1);

    if (!m)
        return -ENOMEM;
    sc->missing = m;
    m[sc->folders.n] = 0;
    return cs_strv_add(&sc->folders, name);
}

static int add_file(cs_scan *sc, uint32_t folder, int subdir, const char *name,
                    const char *unique, uint64_t flags)
{
    size_t nl = strlen(name), ul = strlen(unique);
    char *mem;

    if (CS_GREEDY_REALLOC(sc->files, sc->cap, sc->nfiles + 1) < 0 || !(mem = malloc(nl + ul + 2)))
        return -ENOMEM;
    memcpy(mem, name, nl + 1);
    memcpy(mem + nl + 1, unique, ul + 1);
    sc->files[sc->nfiles++] = (cs_scan_file){ folder, (uint8_t)subdir, 0, flags, mem, mem + nl + 1 };
    return 0;
}

static int is_dir_at(int dirfd, const struct dirent *e)
{
    struct stat st;

    if (e->d_type == DT_DIR)
        return 1;
    if (e->d_type != DT_UNKNOWN)
        return 0;
    return fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int is_reg_at(int dirfd, const struct dirent *e)
{
    struct stat st;

    if (e->d_type == DT_REG)
        return 1;
    if (e->d_type != DT_UNKNOWN)
        return 0;
    return fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static int scan_subdir(int rootfd, cs_scan *sc, uint32_t folder, int subdir)
{
    char path[CS_MD_FOLDER_MAX + 8];
    const char *fname = sc->folders.v[folder];
    struct dirent *e;
    DIR *d;
    int fd, r = 0;

    snprintf(path, sizeof(path), "%s%s%s", fname, fname[0] ? "/" : "", subdir == CS_MD_NEW ? "new" : "cur");
    fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        struct stat st;

        /* a folder removed meanwhile holds nothing; one that is there
         * without its new/ or cur/ is damaged (the caller decides) */
        if (fstatat(rootfd, fname[0] ? fname : ".", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            sc->missing[folder] |= subdir == CS_MD_NEW ? CS_SCAN_NO_NEW : CS_SCAN_NO_CUR;
        return 0;
    }
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        close(fd);
        return r;
    }
    while (r == 0 && (errno = 0, e = readdir(d))) {
        char unique[CS_MD_UNIQUE_MAX + 1];
        uint64_t flags;

        if (e->d_name[0] == '.')
            continue;
        if (cs_md_parse_name(e->d_name, unique, &flags) < 0) {
            log_debug("archive: ignoring %s/%s: not a Maildir message name", path, e->d_name);
            continue;
        }
        if (!is_reg_at(dirfd(d), e))
            continue;
        r = add_file(sc, folder, subdir, e->d_name, unique, flags);
    }
    if (r == 0 && errno)
        r = -errno;
    closedir(d);
    return r;
}

static int list_folders(int rootfd, cs_scan *sc)
{
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *e;
    DIR *d;
    int r;

    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        close(fd);
        return r;
    }
    r = add_folder(sc, "");
    while (r == 0 && (errno = 0, e = readdir(d))) {
        if (e->d_name[0] != '.' || cs_md_folder_valid(e->d_name) < 0)
            continue; /* ".", "..", and names that are not Maildir++ folders */
        if (is_dir_at(dirfd(d), e))
            r = add_folder(sc, e->d_name);
    }
    if (r == 0 && !e && errno) /* a read error: the folders after it would go unseen */
        r = -errno;
    closedir(d);
    return r;
}

int cs_scan_maildir(int rootfd, cs_scan *out)
{
    int r;

    memset(out, 0, sizeof(*out));
    r = list_folders(rootfd, out);
    for (uint32_t i = 0; r == 0 && i < out->folders.n; i++) {
        r = scan_subdir(rootfd, out, i, CS_MD_NEW);
        if (r == 0)
            r = scan_subdir(rootfd, out, i, CS_MD_CUR);
    }
    if (r < 0)
        cs_scan_free(out);
    return r;
}

int cs_archive_watch_dirs(const char *maildir, int (*cb)(const char *path, void *userdata), void *userdata)
{
    char path[4096];
    cs_scan sc = { 0 };
    int fd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r;

    if (fd < 0)
        return -errno;
    r = list_folders(fd, &sc);
    close(fd);
    if (r == 0)
        r = cb(maildir, userdata);
    for (size_t i = 0; r == 0 && i < sc.folders.n; i++)
        for (int sub = 0; r == 0 && sub < 2; sub++) {
            const char *f = sc.folders.v[i];

            if (snprintf(path, sizeof(path), "%s/%s%s%s", maildir, f, f[0] ? "/" : "", sub ? "cur" : "new") >=
                (int)sizeof(path))
                continue;
            r = cb(path, userdata);
        }
    cs_scan_free(&sc);
    return r;
}
