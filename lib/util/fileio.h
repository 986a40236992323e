/* SPDX-License-Identifier: MIT */
/* File helpers: bounded reads and crash-safe writes. */
#ifndef CS_UTIL_FILEIO_H
#define CS_UTIL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>
#include "util/buf.h"

/* Read a whole regular file of at most max_len bytes into out (appends).
 * -EFBIG if larger, -EINVAL if not a regular file, else -errno. */
int cs_read_file(const char *path, size_t max_len, cs_buf *out);
/* Same, relative to a directory fd, never following a final symlink. */
int cs_read_file_at(int dirfd, const char *name, size_t max_len, cs_buf *out);

/* Atomically replace path with data: write a temporary file in the same
 * directory with the given mode, fsync it, rename over path, fsync the
 * directory.  On any failure path is untouched and the temp file removed. */
int cs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int cs_write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* mkdir -p with the given mode for created components. */
int cs_mkdir_p(const char *path, mode_t mode);

/* Write all of buf to fd, retrying on EINTR/short writes. */
int cs_write_all(int fd, const void *buf, size_t len);

#endif
