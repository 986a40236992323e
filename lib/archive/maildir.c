/* SPDX-License-Identifier: MIT */
/* Maildir naming, folders and delivery. */
#include "archive/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <sodium.h>
#include "util/fileio.h"
#include "util/macros.h"

int cs_md_unique_valid(const char *s)
{
    size_t n = strnlen(s, CS_MD_UNIQUE_MAX + 1);

    if (n == 0 || n > CS_MD_UNIQUE_MAX || s[0] == '.')
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == ':')
            return -EINVAL;
    }
    return 0;
}

int cs_md_folder_valid(const char *s)
{
    size_t n = strnlen(s, CS_MD_FOLDER_MAX + 1);

    if (n == 0)
        return 0;
    if (n > CS_MD_FOLDER_MAX || s[0] != '.' || s[n - 1] == '.')
        return -EINVAL;
    /* ".a.b": components after each dot must be non-empty ("..", "." rejected) */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x20 || ch == 0x7f || ch == '/')
            return -EINVAL;
        if (ch == '.' && (i + 1 >= n || s[i + 1] == '.'))
            return -EINVAL;
    }
    return 0;
}

static int flag_bit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return 26 + (c - 'a');
    return -1;
}

void cs_md_flags_str(uint64_t flags, char out[53])
{
    size_t n = 0;

    for (int b = 0; b < 52; b++)
        if (flags & (UINT64_C(1) << b))
            out[n++] = (char)(b < 26 ? 'A' + b : 'a' + (b - 26));
    out[n] = '\0';
}

int cs_md_parse_name(const char *name, char unique[CS_MD_UNIQUE_MAX + 1], uint64_t *flags)
{
    const char *colon = strchr(name, ':');
    size_t ulen = colon ? (size_t)(colon - name) : strlen(name);

    *flags = 0;
    if (ulen == 0 || ulen > CS_MD_UNIQUE_MAX)
        return -EINVAL;
    memcpy(unique, name, ulen);
    unique[ulen] = '\0';
    if (cs_md_unique_valid(unique) < 0)
        return -EINVAL;
    if (colon && strncmp(colon, ":2,", 3) == 0) {
        for (const char *p = colon + 3; *p; p++) {
            int b = flag_bit(*p);

            if (b < 0) { /* not a flag letter: an info part we do not know */
                *flags = 0;
                break;
            }
            *flags |= UINT64_C(1) << b;
        }
    }
    return 0;
}

int cs_md_render_name(const char *unique, int subdir, uint64_t flags, char out[CS_MD_NAME_MAX + 1])
{
    char fl[53];
    int n;

    if (cs_md_unique_valid(unique) < 0 || (flags & ~CS_MD_FLAGS_ALL))
        return -EINVAL;
    if (subdir == CS_MD_NEW && flags == 0)
        n = snprintf(out, CS_MD_NAME_MAX + 1, "%s", unique);
    else {
        cs_md_flags_str(flags, fl);
        n = snprintf(out, CS_MD_NAME_MAX + 1, "%s:2,%s", unique, fl);
    }
    return n < 0 || n > CS_MD_NAME_MAX ? -ENAMETOOLONG : 0;
}

int cs_md_new_unique(char out[CS_MD_UNIQUE_MAX + 1])
{
    static _Atomic unsigned counter; /* deliveries run in several threads */
    struct timeval tv;
    char host[256] = "localhost";
    char clean[64];
    size_t j = 0;

    gettimeofday(&tv, NULL);
    if (gethostname(host, sizeof(host) - 1) < 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    /* the spec replaces '/' and ':' in the host name; we keep only safe bytes */
    for (size_t i = 0; host[i] && j < sizeof(clean) - 1; i++) {
        unsigned char ch = (unsigned char)host[i];
        clean[j++] = (ch > 0x20 && ch < 0x7f && ch != '/' && ch != ':') ? (char)ch : '_';
    }
    clean[j] = '\0';
    snprintf(out, CS_MD_UNIQUE_MAX + 1, "%lld.M%06ldP%dQ%uR%08x%08x.%s", (long long)tv.tv_sec,
             (long)tv.tv_usec, (int)getpid(), ++counter, randombytes_random(), randombytes_random(),
             j ? clean : "localhost");
    return 0;
}

static const char *const subdirs[] = { "new", "cur" };

int cs_md_path(const char *folder, int subdir, const char *name, char *out, size_t cap)
{
    int n;

    if (subdir != CS_MD_NEW && subdir != CS_MD_CUR)
        return -EINVAL;
    if (folder[0])
        n = snprintf(out, cap, "%s/%s/%s", folder, subdirs[subdir], name);
    else
        n = snprintf(out, cap, "%s/%s", subdirs[subdir], name);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int cs_md_ensure_folder(int rootfd, const char *folder)
{
    static const char *const parts[] = { "cur", "new", "tmp" };
    char path[CS_MD_FOLDER_MAX + 16];
    int r = cs_md_folder_valid(folder);

    if (r < 0)
        return r;
    if (folder[0] && mkdirat(rootfd, folder, 0700) < 0 && errno != EEXIST)
        return -errno;
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s%s", folder, folder[0] ? "/" : "", parts[i]);
        if (mkdirat(rootfd, path, 0700) < 0 && errno != EEXIST)
            return -errno;
    }
    if (folder[0]) {
        int fd;

        snprintf(path, sizeof(path), "%s/maildirfolder", folder);
        fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return -errno;
        close(fd);
    }
    return 0;
}

static bool dir_empty_at(int rootfd, const char *path)
{
    int fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    struct dirent *e;
    bool empty = true;
    DIR *d;

    if (fd < 0)
        return errno == ENOENT;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return false;
    }
    while (empty && (e = readdir(d)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int cs_md_remove_empty_folder(int rootfd, const char *folder)
{
    static const char *const parts[] = { "cur", "new", "tmp" };
    char path[CS_MD_FOLDER_MAX + 16];
    int r = 0;

    if (!folder[0] || cs_md_folder_valid(folder) < 0)
        return -EINVAL;
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", folder, parts[i]);
        if (!dir_empty_at(rootfd, path))
            return -ENOTEMPTY;
    }
    snprintf(path, sizeof(path), "%s/maildirfolder", folder);
    (void)unlinkat(rootfd, path, 0);
    for (size_t i = 0; r == 0 && i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", folder, parts[i]);
        if (unlinkat(rootfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
            r = -errno; /* a client delivering into it right now */
    }
    if (r == 0 && unlinkat(rootfd, folder, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = -errno; /* a client's own files (an index): the folder stays */
    if (r < 0) {
        (void)cs_md_ensure_folder(rootfd, folder); /* whole again, as it was */
        return r == -EEXIST ? -ENOTEMPTY : r;
    }
    return 0;
}

int cs_md_rename(int rootfd, const char *from, const char *to)
{
    /* RENAME_NOREPLACE: a file the mail client created meanwhile under the
     * same name is never replaced */
    if (renameat2(rootfd, from, rootfd, to, RENAME_NOREPLACE) < 0)
        return -errno;
    return 0;
}

int cs_md_deliver(int rootfd, const char *folder, int subdir, const char *name,
                  const void *data, size_t len, int64_t mtime)
{
    char tmp[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8], dst[CS_MD_FOLDER_MAX + CS_MD_NAME_MAX + 8];
    char tmpname[CS_MD_UNIQUE_MAX + 1];
    _cleanup_close_ int fd = -1;
    int r;

    r = cs_md_ensure_folder(rootfd, folder);
    if (r < 0)
        return r;
    r = cs_md_new_unique(tmpname); /* tmp/ names must be unique too */
    if (r < 0)
        return r;
    snprintf(tmp, sizeof(tmp), "%s%stmp/%s", folder, folder[0] ? "/" : "", tmpname);
    r = cs_md_path(folder, subdir, name, dst, sizeof(dst));
    if (r < 0)
        return r;
    fd = openat(rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    r = cs_write_all(fd, data, len);
    if (r == 0 && mtime > 0) {
        struct timespec ts[2] = { { (time_t)mtime, 0 }, { (time_t)mtime, 0 } };

        (void)futimens(fd, ts); /* only the displayed date: not worth failing for */
    }
    if (r == 0 && close(CS_TAKE_FD(fd)) < 0)
        r = -errno;
    if (r == 0)
        r = cs_md_rename(rootfd, tmp, dst);
    if (r < 0)
        (void)unlinkat(rootfd, tmp, 0);
    return r;
}
