/* SPDX-License-Identifier: MIT */
/* cloudseal-helper prepare --user NAME: create, as root, the directories a
 * user's own `cloudseal enroll` needs and cannot create:
 *
 *   <state_dir>/keybags/NAME        the keybag cache (lib/account/account.c)
 *   <store>/users/NAME              with a file:// store only
 *
 * each 0700 and owned by the user.  The PAM session step runs this in its
 * one helper run (login/handoff --session), so a user's first login
 * prepares everything and no administrator runs `install -d` per user.
 *
 * The user must never be able to steer root: every directory is opened
 * with O_NOFOLLOW relative to its parent's descriptor, a fresh one is
 * chowned through its descriptor, never by name, and an existing one that
 * is not the user's (or a parent writable by others) is refused, not
 * repaired.  The store's root is the administrator's (a mount point, say):
 * it is never created here, so an unmounted store is not papered over. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"
#include "util/log.h"

/* Accounts below this uid (Debian's UID_MIN) are system accounts: a sudo or
 * su session of root or a daemon does not get directories. */
#define PREPARE_UID_MIN 1000

/* LOG_WARNING for the prepare command; LOG_DEBUG in a session's run, whose
 * first stderr line the PAM module reports as the cause of a failure (a
 * store that is not mounted must not hide why the unlock failed). */
static int prio = LOG_WARNING;

/* Open (creating with mode when missing) name under dirfd as a directory,
 * without following a symlink.  created tells whether it is new. */
static int open_dir_at(int dirfd, const char *name, mode_t mode, bool *created)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    *created = false;
    if (fd < 0 && errno == ENOENT) {
        if (mkdirat(dirfd, name, mode) == 0)
            *created = true;
        else if (errno != EEXIST)
            return -errno;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return errno == ELOOP || errno == ENOTDIR ? -ENOTDIR : -errno;
    return fd;
}

/* <store>/users: root's (or the store owner's), not writable by others,
 * else a user could swap another user's directory; 0711 when made here, so
 * users can reach their own directory without listing everyone's. */
static int open_users_dir(int rootfd, const char *root)
{
    struct stat st, rst;
    bool created;
    int fd = open_dir_at(rootfd, "users", 0711, &created);

    if (fd < 0)
        return fd;
    if (created && fchmod(fd, 0711) < 0) { /* the umask may have narrowed it */
        close(fd);
        return -errno;
    }
    if (fstat(fd, &st) < 0 || fstat(rootfd, &rst) < 0) {
        close(fd);
        return -errno;
    }
    if ((st.st_uid != 0 && st.st_uid != rst.st_uid) || (st.st_mode & 022)) {
        cs_log(prio, "%s/users must be owned by root (or the store's owner) and not writable by others; "
                  "refusing to create users' directories in it", root);
        close(fd);
        return -EPERM;
    }
    return fd;
}

/* <store>/users/NAME for a file:// store; nothing for other stores. */
static int prepare_store_dir(const cs_config *cfg, const struct passwd *pw)
{
    const char *url = cs_config_str(cfg, "storage", "url");
    const char *root = url + strlen("file://");
    _cleanup_close_ int rootfd = -1, usersfd = -1, fd = -1;
    struct stat st;
    bool created;

    if (strncmp(url, "file://", 7) != 0 || root[0] != '/')
        return 0;
    rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        cs_log(prio, "the store %s cannot be opened (%s; not mounted?): %s's directory in it not created",
                    root, strerror(errno), pw->pw_name);
        return -errno;
    }
    usersfd = open_users_dir(rootfd, root);
    if (usersfd < 0)
        return usersfd;
    fd = open_dir_at(usersfd, pw->pw_name, 0700, &created);
    if (fd == -ENOTDIR)
        cs_log(prio, "%s/users/%s is not a directory (a symlink?); refusing to use it", root, pw->pw_name);
    if (fd < 0)
        return fd;
    if (created && (fchown(fd, pw->pw_uid, pw->pw_gid) < 0 || fchmod(fd, 0700) < 0))
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_uid != pw->pw_uid) {
        cs_log(prio, "%s/users/%s belongs to uid %u, not to %s: left as it is", root, pw->pw_name,
                    (unsigned)st.st_uid, pw->pw_name);
        return -EPERM;
    }
    return 0;
}

int helper_prepare_user(const cs_config *cfg, const struct passwd *pw, int log_priority)
{
    int r, r2;

    prio = log_priority;
    if (geteuid() != 0)
        return -EPERM;
    if (pw->pw_uid < PREPARE_UID_MIN)
        return 0;
    r = cs_account_prepare_cache(cfg, pw->pw_name);
    if (r < 0)
        cs_log_errno(prio, r, "keybag cache of %s not prepared", pw->pw_name);
    r2 = prepare_store_dir(cfg, pw);
    if (r2 < 0)
        cs_log_errno(prio, r2, "storage directory of %s not prepared", pw->pw_name);
    return r < 0 ? r : r2;
}

int helper_prepare(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        {}
    };
    const char *user = NULL;
    char pwbuf[4096];
    struct passwd pw;
    int c, code;

    while ((c = cs_verb_getopt(argc, argv, "u:", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        default: return helper_opt_exit(c);
        }
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    if (geteuid() != 0) {
        log_error("prepare creates directories in root's places: run it as root (a login does it too)");
        return CS_HELPER_DENIED;
    }
    if (pw.pw_uid < PREPARE_UID_MIN) {
        log_error("%s is a system account (uid below %d): nothing prepared", user, PREPARE_UID_MIN);
        return CS_HELPER_DENIED;
    }
    return helper_prepare_user(helper_config(), &pw, LOG_WARNING) < 0 ? CS_HELPER_INTERNAL : CS_HELPER_OK;
}
