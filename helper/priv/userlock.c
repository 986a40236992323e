/* SPDX-License-Identifier: MIT */
/* One password derivation per user at a time.
 *
 * Every password attempt on a user (sshd, su, polkit, a login screen, all
 * at once if an attacker likes) execs a helper that runs the keybag's
 * Argon2id as root with up to [kdf] max_memory.  Twenty parallel attempts
 * on one user must cost one derivation's memory at a time, not twenty: the
 * helper takes an exclusive flock on <state_dir>/helper-locks/<user> before
 * it fetches and unwraps, and keeps it until it exits (the kernel drops it
 * then, whatever way the process ends).  The wait is bounded by half the
 * run's time limit (--timeout, which pam_cloudseal sets just past its own),
 * so a waiter gives up with a message before PAM gives up on it.
 *
 * The directory is root's, 0700: a user cannot open the file and hold the
 * lock to keep their own (or anyone's) logins out.  Callers other than root
 * act only for themselves and pay for their own attempts: no lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "util/fileio.h"
#include "util/log.h"

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_lock(const cs_config *cfg, const char *user)
{
    const char *state = cs_config_str(cfg, "paths", "state_dir");
    _cleanup_free_ char *dir = NULL;
    _cleanup_close_ int dfd = -1;
    struct stat st;
    int fd, r;

    if (asprintf(&dir, "%s/helper-locks", state) < 0) {
        dir = NULL;
        return -ENOMEM;
    }
    /* the state directory as the package makes it (others read the fleet
     * cache there), only the lock directory root's alone */
    r = cs_mkdir_p(state, 0755);
    if (r < 0)
        return r;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    if (fstat(dfd, &st) < 0)
        return -errno;
    if (st.st_uid != 0 || (st.st_mode & 077)) {
        log_error("%s must be root's and 0700: run 'chown root: %s; chmod 700 %s'", dir, dir, dir);
        return -EPERM;
    }
    fd = openat(dfd, user, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    return fd < 0 ? -errno : fd;
}

int helper_serialise_user(const cs_config *cfg, const char *user)
{
    static int held = -1; /* kept open until exit: the lock lives as long as we do */
    unsigned wait_s = helper.timeout_sec / 2 ? helper.timeout_sec / 2 : 1;
    long long deadline = now_ms() + (long long)wait_s * 1000;
    struct timespec nap = { 0, 5 * 1000 * 1000 };
    int fd;

    if (held >= 0 || geteuid() != 0)
        return 0;
    fd = open_lock(cfg, user);
    if (fd < 0)
        return log_error_errno(fd, "cannot open the password lock of %s", user);
    /* polled rather than blocked on: alarm() is the whole run's bound and
     * must keep its default action */
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int r = -errno;

            close(fd);
            return r;
        }
        if (now_ms() >= deadline) {
            close(fd);
            log_error("other password attempts for %s kept this one waiting %u s; try again later",
                      user, wait_s);
            return -EBUSY;
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50 * 1000 * 1000)
            nap.tv_nsec += 5 * 1000 * 1000;
    }
    held = fd;
    log_debug("holding the password lock of %s", user);
    return 0;
}
