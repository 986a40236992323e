/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD fault injection for the backup walk (issue 19 item 2): fail
 * the Nth strdup() or asprintf() whose string is, or ends in "/", a given
 * name, as a real ENOMEM would; or the Nth readdir() of a directory whose
 * path is (or ends in) the name, with EIO, as a disk error in the middle
 * of a listing would.  Matching by name (not by call count) keeps the
 * failure on the one entry under test whatever the worker threads,
 * libcurl or json-c allocate meanwhile.
 *   CS_FAILALLOC_NAME  the name      CS_FAILALLOC_CALL  strdup, asprintf or readdir
 *   CS_FAILALLOC_NTH   which match (1 = the first)
 *   CS_FAILALLOC_MARK  a file created when the failure was injected */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int seen;

static int matches(const char *call, const char *s)
{
    const char *want = getenv("CS_FAILALLOC_CALL"), *name = getenv("CS_FAILALLOC_NAME");
    const char *nth = getenv("CS_FAILALLOC_NTH"), *mark = getenv("CS_FAILALLOC_MARK");
    size_t ls, ln;

    if (!want || !name || !s || strcmp(want, call) != 0)
        return 0;
    ls = strlen(s);
    ln = strlen(name);
    if (!(ls == ln && strcmp(s, name) == 0) && !(ls > ln && s[ls - ln - 1] == '/' && strcmp(s + ls - ln, name) == 0))
        return 0;
    if (++seen != (nth ? atoi(nth) : 1))
        return 0;
    if (mark)
        close(open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    return 1;
}

char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p;

    if (matches("strdup", s)) {
        errno = ENOMEM;
        return NULL;
    }
    if ((p = malloc(n)))
        memcpy(p, s, n);
    return p;
}

int vasprintf(char **out, const char *fmt, va_list ap)
{
    static int (*real)(char **, const char *, va_list);
    int r;

    if (!real)
        real = (int (*)(char **, const char *, va_list))dlsym(RTLD_NEXT, "vasprintf");
    r = real(out, fmt, ap);
    if (r >= 0 && matches("asprintf", *out)) {
        free(*out);
        *out = NULL; /* glibc leaves it undefined; NULL catches a caller that uses it anyway */
        errno = ENOMEM;
        return -1;
    }
    return r;
}

int asprintf(char **out, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(out, fmt, ap);
    va_end(ap);
    return r;
}

int __asprintf_chk(char **out, int flag, const char *fmt, ...)
{
    va_list ap;
    int r;

    (void)flag;
    va_start(ap, fmt);
    r = vasprintf(out, fmt, ap);
    va_end(ap);
    return r;
}

int __vasprintf_chk(char **out, int flag, const char *fmt, va_list ap)
{
    (void)flag;
    return vasprintf(out, fmt, ap);
}

struct dirent *readdir(DIR *d)
{
    static struct dirent *(*real)(DIR *);
    const char *want = getenv("CS_FAILALLOC_CALL");
    char link[64], path[4096];
    ssize_t n;

    if (!real)
        real = (struct dirent *(*)(DIR *))dlsym(RTLD_NEXT, "readdir");
    if (want && strcmp(want, "readdir") == 0) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd(d));
        n = readlink(link, path, sizeof(path) - 1);
        if (n > 0) {
            path[n] = '\0';
            if (matches("readdir", path)) {
                errno = EIO;
                return NULL;
            }
        }
    }
    return real(d);
}
