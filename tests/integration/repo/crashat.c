/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD crash injection for test_kill9_during_backup_and_prune: the
 * process SIGKILLs itself just before its Nth write-side system call
 * (write, fsync, renameat, linkat, unlinkat: the steps by which a backup or
 * a prune changes the disk).  A kill placed by operation count instead of
 * by a timer lands mid-run however busy the machine is, and the same seed
 * picks the same instants.
 *   CS_CRASHAT_OP     kill before this operation (1 = the first); unset: never
 *   CS_CRASHAT_COUNT  a file that receives the number of operations when the
 *                     process exits normally (how long a run is, in steps)
 *   CS_CRASHAT_CALL   count only this call (e.g. linkat: an object published)
 *   CS_CRASHAT_PATH   count only calls whose (new) path contains this text */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic unsigned long ops;
static unsigned long kill_at;
static const char *only_call, *only_path;

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_unlinkat)(int, const char *, int);

__attribute__((constructor)) static void crashat_init(void)
{
    const char *at = getenv("CS_CRASHAT_OP");

    real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_renameat = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
    real_linkat = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
    real_unlinkat = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
    if (!real_write || !real_fsync || !real_renameat || !real_linkat || !real_unlinkat)
        abort();
    kill_at = at ? strtoul(at, NULL, 10) : 0;
    only_call = getenv("CS_CRASHAT_CALL");
    only_path = getenv("CS_CRASHAT_PATH");
}

__attribute__((destructor)) static void crashat_report(void)
{
    const char *path = getenv("CS_CRASHAT_COUNT");
    char line[32];
    int fd, n;

    if (!path)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    n = snprintf(line, sizeof(line), "%lu\n", (unsigned long)ops);
    /* the raw system call: this count must not count itself */
    (void)syscall(SYS_write, fd, line, (size_t)n);
    close(fd);
}

static void step(const char *call, const char *path)
{
    if (only_call && strcmp(call, only_call) != 0)
        return;
    if (only_path && (!path || !strstr(path, only_path)))
        return;
    if (++ops == kill_at)
        raise(SIGKILL);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    step("write", NULL);
    return real_write(fd, buf, len);
}

int fsync(int fd)
{
    step("fsync", NULL);
    return real_fsync(fd);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    step("renameat", newpath);
    return real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    step("linkat", newpath);
    return real_linkat(olddirfd, oldpath, newdirfd, newpath, flags);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    step("unlinkat", path);
    return real_unlinkat(dirfd, path, flags);
}
