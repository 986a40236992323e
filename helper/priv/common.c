/* SPDX-License-Identifier: MIT */
/* Exit codes, framing and user handling shared by the helper's commands. */
#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "basic/user_name.h"
#include "util/fileio.h"
#include "util/log.h"

int helper_exit_code(int r)
{
    switch (r) {
    case 0: return CS_HELPER_OK;
    case -EACCES: return CS_HELPER_WRONG_PASSWORD;
    case -ENOENT: return CS_HELPER_NOT_ENROLLED;
    case -EBADMSG: case -E2BIG: case -EPROTO: case -EMSGSIZE: return CS_HELPER_CORRUPT;
    case -ESTALE: return CS_HELPER_ROLLBACK;
    case -EKEYREJECTED: return CS_HELPER_NOT_PINNED; /* cs_account_unlock_expect: another account's keybag */
    case -ENOKEY: return CS_HELPER_NO_KEY;
    case -EPERM: return CS_HELPER_DENIED;
    case -EBUSY: return CS_HELPER_UNAVAILABLE; /* other attempts for the user held the lock */
    case -ENODEV: return CS_HELPER_SECURITY_KEY; /* helper_unlock_password(): the key did not answer */
    /* what storage backends say when they cannot be reached */
    case -EHOSTUNREACH: case -ENETUNREACH: case -ECONNREFUSED: case -ECONNRESET:
    case -ETIMEDOUT: case -EAGAIN: case -EIO: case -ENOTCONN: case -EHOSTDOWN:
    case -ENOMEDIUM: case -ENOTDIR: case -ESHUTDOWN:
        return CS_HELPER_UNAVAILABLE;
    default: return CS_HELPER_INTERNAL;
    }
}

const char *helper_exit_reason(int code)
{
    switch (code) {
    case CS_HELPER_OK: return "ok";
    case CS_HELPER_USAGE: return "bad command line";
    case CS_HELPER_WRONG_PASSWORD: return "wrong password";
    case CS_HELPER_NOT_ENROLLED: return "not enrolled";
    case CS_HELPER_CORRUPT: return "keybag corrupt or tampered";
    case CS_HELPER_ROLLBACK: return "keybag rolled back to an older generation";
    case CS_HELPER_UNAVAILABLE: return "storage unavailable and no usable cache";
    case CS_HELPER_DENIED: return "permission denied";
    case CS_HELPER_NO_KEY: return "no key in the keyring";
    case CS_HELPER_NOT_IN_FLEET: return "not a user of the fleet directory";
    case CS_HELPER_FLEET_DENIED: return "refused by the fleet directory";
    case CS_HELPER_NOT_PINNED: return "the keybag's key is not the one the fleet directory pins";
    case CS_HELPER_PASSWORD_EXPIRED: return "unlocked; the password was set by an administrator and must be changed";
    case CS_HELPER_WRONG_ACCOUNT: return "the key is not the one of this user's keybag";
    case CS_HELPER_CONFIG: return "the configuration file is invalid or unreadable";
    case CS_HELPER_SECURITY_KEY: return "the security key did not answer";
    default: return "internal error";
    }
}

/* read exactly len bytes; -EPROTO on a short stream */
static int read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EPROTO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_frame_len(int fd, size_t max, size_t *len)
{
    uint8_t hdr[CS_HELPER_FRAME_HDR];
    unsigned long n;
    int r = read_exact(fd, hdr, sizeof(hdr));

    if (r < 0)
        return r;
    n = cs_helper_frame_hdr_get(hdr);
    if (n > max)
        return -EMSGSIZE;
    *len = n;
    return 0;
}

int helper_read_secret(int fd, cs_secret **out)
{
    _cleanup_secret_ cs_secret *s = NULL;
    size_t len;
    int r;

    r = read_frame_len(fd, CS_SECRET_MAX, &len);
    if (r < 0)
        return r;
    r = cs_secret_new(&s);
    if (r < 0)
        return r;
    r = read_exact(fd, s->data, len); /* straight into secure memory */
    if (r < 0)
        return r;
    s->data[len] = '\0';
    s->len = len;
    *out = CS_TAKE_PTR(s);
    return 0;
}

int helper_read_amk(int fd, cs_amk **out)
{
    uint8_t *raw = cs_secure_alloc(CS_KEY_BYTES);
    size_t len;
    int r;

    if (!raw)
        return -ENOMEM;
    r = read_frame_len(fd, CS_KEY_BYTES, &len);
    if (r == 0 && len != CS_KEY_BYTES)
        r = -EPROTO;
    if (r == 0)
        r = read_exact(fd, raw, len);
    if (r == 0)
        r = cs_amk_from_bytes(raw, len, out);
    cs_secure_free(raw);
    return r;
}

int helper_write_frame(int fd, const void *data, size_t len)
{
    uint8_t hdr[CS_HELPER_FRAME_HDR];
    int r;

    if (len > CS_HELPER_FRAME_MAX)
        return -EMSGSIZE;
    cs_helper_frame_hdr_put(hdr, len);
    r = cs_write_all(fd, hdr, sizeof(hdr));
    return r < 0 ? r : cs_write_all(fd, data, len);
}

int helper_resolve_user(const char *name, struct passwd *pw, char *buf, size_t buflen)
{
    struct passwd *res = NULL;
    uid_t caller = getuid();
    int r;

    if (!name) {
        log_error("--user NAME is required");
        return CS_HELPER_USAGE;
    }
    if (!cs_user_name_valid(name, CS_USER_NAME_LOGIN)) {
        log_error("'%s' is not a valid user name", name);
        return CS_HELPER_USAGE;
    }
    r = getpwnam_r(name, pw, buf, buflen, &res);
    if (r != 0 || !res) {
        log_error("no such user '%s'", name);
        return CS_HELPER_NOT_ENROLLED;
    }
    if (caller != 0 && pw->pw_uid != caller) {
        log_error("uid %u may act only for itself, not for '%s'", (unsigned)caller, name);
        return CS_HELPER_DENIED;
    }
    return CS_HELPER_OK;
}

/* The child's half of helper_as_user: become the user for good.  setgroups
 * first (needs root), then gid, then uid; a check that root cannot be
 * regained. */
static int drop_to(const struct passwd *pw)
{
    if (setgroups(0, NULL) < 0)
        return -errno;
    if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0)
        return -errno;
    if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
        return -errno;
    if (pw->pw_uid != 0 && (setresuid(0, 0, 0) == 0 || geteuid() == 0))
        return -EPERM;
    /* changing uid re-enables dumping; we still hold the key */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return -errno;
    /* Possession of @u (TESTING-NOTES §4) is taken by lib/crypto/keyring.c,
     * which links @u into this child's own process keyring. */
    return 0;
}

int helper_as_user(const struct passwd *pw, int (*fn)(void *), void *arg)
{
    pid_t pid;
    int status, r;

    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
        return fn(arg);
    if (geteuid() != 0)
        return -EPERM;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        r = drop_to(pw);
        if (r == 0)
            r = fn(arg);
        _exit(r < 0 ? (-r & 0xff) : 0);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (!WIFEXITED(status))
        return -ECHILD;
    return -WEXITSTATUS(status);
}
