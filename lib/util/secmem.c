/* SPDX-License-Identifier: MIT */
/* Secure memory on top of libsodium's guarded allocations. */
#include "util/secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>
#include <sodium.h>
#include "util/log.h"

int cs_crypto_init(void)
{
    return sodium_init() < 0 ? -EIO : 0;
}

int cs_process_harden(void)
{
    struct rlimit no_core = { 0, 0 };

    if (setrlimit(RLIMIT_CORE, &no_core) < 0)
        return -errno;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

/* sodium_malloc() locks its pages but ignores a failing mlock (it still
 * keeps them out of core dumps with MADV_DONTDUMP): a key could then reach
 * swap without a word.  Refusing to run would lock people out of their
 * logins over a resource limit, so: lock again here (a no-op for pages
 * already locked) and, the first time that fails, warn once per process
 * with what to change.  Root with CAP_IPC_LOCK is not bound by the limit. */
static void check_locked(const void *p, size_t len)
{
    static bool warned;
    struct rlimit rl;
    int err;

    if (warned || mlock(p, len) == 0)
        return;
    err = errno;
    warned = true;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
        rl.rlim_cur = 0;
    log_warning_errno(-err, "cannot lock key memory in RAM (%m; RLIMIT_MEMLOCK %llu KiB): keys may reach "
                      "swap.  Raise the limit (LimitMEMLOCK= of the unit, or limits.conf memlock) or use "
                      "encrypted swap",
                      rl.rlim_cur == RLIM_INFINITY ? 0ULL : (unsigned long long)(rl.rlim_cur / 1024));
}

void *cs_secure_alloc(size_t len)
{
    void *p;

    if (cs_crypto_init() < 0)
        return NULL;
    p = sodium_malloc(len ? len : 1);
    if (p) {
        sodium_memzero(p, len ? len : 1);
        check_locked(p, len ? len : 1);
    }
    return p;
}

void cs_secure_free(void *p)
{
    if (p)
        sodium_free(p); /* zeroes before freeing */
}

void cs_wipe(void *p, size_t len)
{
    if (p && len)
        sodium_memzero(p, len);
}

int cs_memeq_ct(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len);
}

int cs_secret_new(cs_secret **out)
{
    cs_secret *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    s->data = cs_secure_alloc(CS_SECRET_MAX + 1);
    if (!s->data) {
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

int cs_secret_set(cs_secret *s, const char *src, size_t len)
{
    if (len > CS_SECRET_MAX)
        return -EMSGSIZE;
    cs_wipe(s->data, CS_SECRET_MAX + 1);
    memcpy(s->data, src, len);
    s->len = len;
    return 0;
}

void cs_secret_free(cs_secret *s)
{
    if (!s)
        return;
    cs_secure_free(s->data);
    free(s);
}

int cs_secret_read_fd(int fd, cs_secret **out)
{
    cs_secret *s = NULL;
    int r = cs_secret_new(&s);

    if (r < 0)
        return r;
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto fail;
        }
        if (n == 0 || c == '\n')
            break;
        if (s->len >= CS_SECRET_MAX) {
            r = -EMSGSIZE;
            goto fail;
        }
        s->data[s->len++] = c;
    }
    s->data[s->len] = '\0';
    *out = s;
    return 0;
fail:
    cs_secret_free(s);
    return r;
}

/* A secret kept in a file (one line, trailing blanks dropped): refused when
 * other users may read it.  what names it in messages ("[storage]
 * secret_key_file").  -EACCES silently when this user may not open it: the
 * caller decides whether that matters. */
int cs_secret_read_file(const char *path, const char *what, cs_secret **out)
{
    struct stat st;
    int fd, r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0 && errno == EACCES)
        return -EACCES;
    if (fd < 0)
        return log_error_errno(-errno, "cannot read %s %s", what, path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        log_error("%s %s is not a regular file", what, path);
        return -EINVAL;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        close(fd);
        log_error("%s %s is readable by other users: run 'chmod 600 %s'", what, path, path);
        return -EPERM;
    }
    r = cs_secret_read_fd(fd, out);
    close(fd);
    if (r < 0)
        return r;
    while ((*out)->len > 0 && strchr(" \t\r", (*out)->data[(*out)->len - 1]))
        (*out)->data[--(*out)->len] = '\0';
    if ((*out)->len == 0) {
        cs_secret_free(*out);
        *out = NULL;
        log_error("%s %s is empty", what, path);
        return -EINVAL;
    }
    return 0;
}

int cs_secret_prompt(const char *prompt, cs_secret **out)
{
    struct termios old, noecho;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    int r;

    if (fd < 0) {
        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &old) < 0)
            return cs_secret_read_fd(STDIN_FILENO, out); /* a pipe: one line */
        fd = dup(STDIN_FILENO);
        if (fd < 0)
            return -errno;
    }
    if (tcgetattr(fd, &old) < 0) {
        r = -ENOTTY;
        goto out;
    }
    noecho = old;
    noecho.c_lflag &= ~(tcflag_t)ECHO;
    noecho.c_lflag |= ECHONL;
    if (prompt && write(fd, prompt, strlen(prompt)) < 0) {
        r = -errno;
        goto out;
    }
    if (tcsetattr(fd, TCSAFLUSH, &noecho) < 0) {
        r = -errno;
        goto out;
    }
    r = cs_secret_read_fd(fd, out);
    (void)tcsetattr(fd, TCSAFLUSH, &old);
out:
    close(fd);
    return r;
}
