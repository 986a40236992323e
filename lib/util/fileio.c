/* SPDX-License-Identifier: MIT */
/* Bounded reads and atomic, durable writes. */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "util/macros.h"

int cs_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_fd_bounded(int fd, size_t max_len, cs_buf *out)
{
    struct stat st;
    size_t start = out->len;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if ((uint64_t)st.st_size > max_len)
        return -EFBIG;
    for (;;) {
        ssize_t n;
        int r = cs_buf_reserve(out, 65536);

        if (r < 0)
            return r;
        n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        out->len += (size_t)n;
        if (out->len - start > max_len)
            return -EFBIG; /* grew while we read */
    }
    return 0;
}

int cs_read_file_at(int dirfd, const char *name, size_t max_len, cs_buf *out)
{
    /* O_NONBLOCK: a FIFO planted in place of a file must not block the open;
     * it is then refused as not a regular file */
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);

    if (fd < 0)
        return -errno;
    return read_fd_bounded(fd, max_len, out);
}

int cs_read_file(const char *path, size_t max_len, cs_buf *out)
{
    return cs_read_file_at(AT_FDCWD, path, max_len, out);
}

int cs_write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    _cleanup_close_ int fd = -1;
    _cleanup_close_ int dfd = -1;
    const char *slash = strrchr(name, '/');
    int r;

    /* fsync the directory that holds name, which may be a sub path of dirfd */
    if (slash) {
        char dir[PATH_MAX];
        size_t dl = (size_t)(slash - name);

        if (dl >= sizeof(dir))
            return -ENAMETOOLONG;
        memcpy(dir, name, dl);
        dir[dl] = '\0';
        dfd = openat(dirfd, dl ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dfd < 0)
        return -errno;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%08x", name, randombytes_random()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    r = fchmod(fd, mode) < 0 ? -errno : 0; /* umask must not widen or narrow it */
    if (r == 0)
        r = cs_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(dirfd, tmp, 0);
        return r;
    }
    if (fsync(dfd) < 0)
        return -errno;
    return 0;
}

int cs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    return cs_write_file_atomic_at(AT_FDCWD, path, data, len, mode);
}

int cs_mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}
