/* SPDX-License-Identifier: MIT */
/* file:// backend: a directory on a local disk or an NFS mount.
 *
 * Objects are plain files under the root.  Writes go to a temporary file in
 * the same directory, are fsynced, then renamed (put-immutable uses link(2),
 * which fails atomically if the name exists), then the directory is fsynced:
 * a crash leaves either the old object or the new one, never a torn one.
 * Everything is created owner-only (0700 directories, 0600 files).
 * Objects put with CS_PUT_UNCACHED (packs) are written with O_DIRECT: see
 * write_object.  A root directory that does not exist is created by the
 * first put, never by opening, listing or reading: a read-only command
 * given a wrong URL must not create directories.
 */
#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "util/fileio.h"
#include "util/macros.h"

typedef struct file_storage {
    cs_storage base;
    pthread_mutex_t mu;
    int rootfd;   /* -1 while the root directory does not exist */
    char *path;
} file_storage;

/* The root's fd, or -1 when it does not exist (yet); with create, it is
 * made first (puts only). */
static int root_get(cs_storage *s, bool create)
{
    file_storage *fs = (file_storage *)s;
    int fd = __atomic_load_n(&fs->rootfd, __ATOMIC_ACQUIRE);

    if (fd >= 0)
        return fd; /* set once, never changed */
    pthread_mutex_lock(&fs->mu);
    if (fs->rootfd < 0 && (!create || cs_mkdir_p(fs->path, 0700) == 0))
        __atomic_store_n(&fs->rootfd, open(fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), __ATOMIC_RELEASE);
    fd = fs->rootfd;
    pthread_mutex_unlock(&fs->mu);
    return fd;
}

static int root_of(cs_storage *s)
{
    return root_get(s, false);
}

/* Create the parent directories of key under the root. */
static int make_parents(int rootfd, const char *key)
{
    char path[1100];
    size_t n = strlen(key);

    if (n >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, key, n + 1);
    for (char *p = path; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdirat(rootfd, path, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

static int fsync_parent(int rootfd, const char *key)
{
    const char *slash = strrchr(key, '/');
    char dir[1100];
    _cleanup_close_ int fd = -1;

    if (slash) {
        memcpy(dir, key, (size_t)(slash - key));
        dir[slash - key] = '\0';
    } else {
        strcpy(dir, ".");
    }
    fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return fsync(fd) < 0 ? -errno : 0;
}

static int file_open(const char *url, const cs_storage_opts *opts, cs_storage **out)
{
    const char *path = url + strlen("file://");
    file_storage *fs;
    int r;

    (void)opts;
    if (path[0] != '/')
        return -EINVAL;
    fs = calloc(1, sizeof(*fs));
    if (!fs || !(fs->path = strdup(path))) {
        free(fs);
        return -ENOMEM;
    }
    fs->base.ops = &cs_storage_file_ops;
    pthread_mutex_init(&fs->mu, NULL);
    fs->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->rootfd < 0 && errno != ENOENT) {
        r = -errno;
        pthread_mutex_destroy(&fs->mu);
        free(fs->path);
        free(fs);
        return r;
    }
    *out = &fs->base;
    return 0;
}

static void file_close(cs_storage *s)
{
    file_storage *fs = (file_storage *)s;

    if (fs->rootfd >= 0)
        close(fs->rootfd);
    pthread_mutex_destroy(&fs->mu);
    free(fs->path);
    free(fs);
}

static int file_get(cs_storage *s, const char *key, uint64_t offset, uint64_t length,
                    size_t max_len, cs_buf *out)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    uint64_t want;
    int r = cs_storage_key_valid(key);

    if (r < 0)
        return r;
    if (root_of(s) < 0)
        return -ENOENT;
    fd = openat(root_of(s), key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EIO;
    if (offset > (uint64_t)st.st_size)
        return -EINVAL;
    want = (uint64_t)st.st_size - offset;
    if (length && length < want)
        want = length;
    if (length && length > want)
        return -EINVAL; /* range past the end: the object is shorter than the caller believes */
    if (want > max_len)
        return -EMSGSIZE;
    r = cs_buf_reserve(out, (size_t)want);
    if (r < 0)
        return r;
    while (want > 0) {
        ssize_t n = pread(fd, out->data + out->len, (size_t)want, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* shrank under us */
        out->len += (size_t)n;
        offset += (uint64_t)n;
        want -= (uint64_t)n;
    }
    return 0;
}

static void etag_of(const struct stat *st, char etag[80])
{
    snprintf(etag, 80, "%llx-%llx-%llx.%09ld", (unsigned long long)st->st_ino,
             (unsigned long long)st->st_size, (unsigned long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

static int file_stat(cs_storage *s, const char *key, cs_object_stat *out)
{
    struct stat st;
    int r = cs_storage_key_valid(key);

    if (r < 0)
        return r;
    if (root_of(s) < 0)
        return -ENOENT;
    if (fstatat(root_of(s), key, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -ENOENT;
    out->size = (uint64_t)st.st_size;
    out->mtime_sec = st.st_mtim.tv_sec;
    etag_of(&st, out->etag);
    return 0;
}

static int file_get_if_changed(cs_storage *s, const char *key, const char *if_none_match,
                               size_t max_len, cs_buf *out, char etag_out[80])
{
    cs_object_stat st;
    int r = file_stat(s, key, &st);

    if (r < 0)
        return r;
    if (if_none_match && strcmp(if_none_match, st.etag) == 0)
        return 1;
    r = file_get(s, key, 0, 0, max_len, out);
    if (r == 0 && etag_out)
        memcpy(etag_out, st.etag, 80);
    return r;
}

/* Write an object's bytes to the new file fd.  Big page-aligned objects put
 * with CS_PUT_UNCACHED (packs) bypass the page cache: a backup should not
 * evict the user's working set for ciphertext nobody reads back soon, filling
 * fresh page-cache pages was up to 18 % of a backup's CPU, and the fsync that
 * follows waits for the disk either way.  The file is sized first (ext4
 * serialises direct writes that extend a file); only the block-aligned prefix
 * goes direct; the tail, and any filesystem that refuses O_DIRECT, take the
 * ordinary path. */
#define DIRECT_MIN (1u << 20)
#define DIRECT_ALIGN 4096u

static int write_object(int fd, const uint8_t *data, size_t len, bool uncached)
{
    size_t direct = 0;
    int fl;

    if (uncached && len >= DIRECT_MIN && (uintptr_t)data % DIRECT_ALIGN == 0 && ftruncate(fd, (off_t)len) == 0 &&
        (fl = fcntl(fd, F_GETFL)) >= 0 && fcntl(fd, F_SETFL, fl | O_DIRECT) == 0) {
        size_t n = len & ~(size_t)(DIRECT_ALIGN - 1);
        if (cs_write_all(fd, data, n) == 0)
            direct = n;
        if (fcntl(fd, F_SETFL, fl) < 0)
            return -errno;
        if (lseek(fd, (off_t)direct, SEEK_SET) < 0)
            return -errno;
    }
    return cs_write_all(fd, data + direct, len - direct);
}

static int file_put(cs_storage *s, const char *key, const void *data, size_t len, int flags)
{
    int rootfd;
    char tmp[1200];
    _cleanup_close_ int fd = -1;
    int r = cs_storage_key_valid(key);

    if (r < 0)
        return r;
    if ((rootfd = root_get(s, true)) < 0)
        return -errno;
    r = make_parents(rootfd, key);
    if (r < 0)
        return r;
    snprintf(tmp, sizeof(tmp), "%s.tmp-%08x%08x", key, randombytes_random(), randombytes_random());
    fd = openat(rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    r = write_object(fd, data, len, flags & CS_PUT_UNCACHED);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0) {
        if (flags & CS_PUT_IMMUTABLE) {
            /* link(2) refuses an existing target: no window where an object is replaced */
            if (linkat(rootfd, tmp, rootfd, key, 0) < 0)
                r = -errno;
            (void)unlinkat(rootfd, tmp, 0);
        } else if (renameat(rootfd, tmp, rootfd, key) < 0) {
            r = -errno;
        }
    }
    if (r < 0) {
        (void)unlinkat(rootfd, tmp, 0);
        return r;
    }
    return fsync_parent(rootfd, key);
}

static int file_del(cs_storage *s, const char *key)
{
    int r = cs_storage_key_valid(key);

    if (r < 0)
        return r;
    if (root_of(s) < 0)
        return -ENOENT;
    if (unlinkat(root_of(s), key, 0) < 0)
        return -errno;
    return fsync_parent(root_of(s), key);
}

/* Walk dir (relative path rel under the root) depth-first: objects, or with
 * partial only the temporary files of interrupted puts. */
static int walk(int rootfd, const char *rel, const char *prefix, cs_storage_list_cb cb, void *ud, int depth,
                bool partial)
{
    _cleanup_close_ int fd = -1;
    DIR *d;
    struct dirent *e;
    int r = 0;

    if (depth > 32)
        return -ELOOP;
    fd = openat(rootfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    d = fdopendir(fd);
    if (!d)
        return -errno;
    fd = -1;
    while (r == 0 && (errno = 0, e = readdir(d))) {
        char path[1100];
        struct stat st;
        bool tmp = strstr(e->d_name, ".tmp-") != NULL; /* an interrupted write, not an object */

        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (snprintf(path, sizeof(path), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof(path))
            continue; /* longer than any key (cs_storage_key_valid): not an object */
        /* prune subtrees that cannot match the prefix */
        if (strncmp(path, prefix, strlen(path) < strlen(prefix) ? strlen(path) : strlen(prefix)) != 0)
            continue;
        if (fstatat(rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                continue; /* vanished */
            r = -errno; /* an object left out would look deleted (prune, check) */
            break;
        }
        if (S_ISDIR(st.st_mode) && !tmp) {
            r = walk(rootfd, path, prefix, cb, ud, depth + 1, partial);
        } else if (S_ISREG(st.st_mode) && tmp == partial && strncmp(path, prefix, strlen(prefix)) == 0) {
            cs_object_stat ss = { .size = (uint64_t)st.st_size, .mtime_sec = st.st_mtim.tv_sec };
            etag_of(&st, ss.etag);
            r = cb(path, &ss, ud);
        }
    }
    if (r == 0 && !e && errno) /* readdir() failed: the listing is not whole */
        r = -errno;
    closedir(d);
    return r;
}

static int file_list(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *ud)
{
    return root_of(s) < 0 ? 0 : walk(root_of(s), "", prefix ? prefix : "", cb, ud, 0, false);
}

static int file_list_partial(cs_storage *s, const char *prefix, cs_storage_list_cb cb, void *ud)
{
    return root_of(s) < 0 ? 0 : walk(root_of(s), "", prefix ? prefix : "", cb, ud, 0, true);
}

const struct cs_storage_ops cs_storage_file_ops = {
    .scheme = "file",
    .open = file_open,
    .get = file_get,
    .get_if_changed = file_get_if_changed,
    .put = file_put,
    .del = file_del,
    .stat = file_stat,
    .list = file_list,
    .list_partial = file_list_partial,
    .close = file_close,
};
