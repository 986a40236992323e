/* SPDX-License-Identifier: MIT */
/* cloudseal-helper collect: the session step's half of park (parked.h).
 * The handle in on fd 0; the parked key is revoked as soon as it is read
 * (one try per handle, whatever follows), then it must be this user's and
 * this connection's, and the user's account key, before it reaches the
 * user's @u as handoff stores it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <keyutils.h>

#include "helper.h"
#include "parked.h"
#include "util/log.h"

/* Find, read and revoke the parked key: -ENOKEY when it is not there (never
 * parked, expired, collected already), -EBADMSG when its payload is not a
 * parked_key. */
static int take(const char *desc, parked_key *p)
{
    key_serial_t id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, 0);
    long n;

    if (id < 0)
        return errno == EKEYEXPIRED || errno == EKEYREVOKED ? -ENOKEY : -errno;
    n = keyctl_read(id, (char *)p, sizeof(*p));
    keyctl_revoke(id);
    keyctl_unlink(id, KEY_SPEC_USER_KEYRING);
    if (n < 0)
        return -errno;
    return n == (long)sizeof(*p) ? 0 : -EBADMSG;
}

/* The handle is 32 hex digits: read it like any frame, bounded. */
static int read_handle(uid_t uid, char desc[PARKED_DESC_MAX])
{
    _cleanup_secret_ cs_secret *h = NULL;
    int r = helper_read_secret(STDIN_FILENO, &h);

    return r < 0 ? r : parked_desc(uid, (const char *)h->data, h->len, desc);
}

static int collect(const struct passwd *pw, const char *user, bool session)
{
    _cleanup_amk_ cs_amk *amk = NULL;
    char desc[PARKED_DESC_MAX];
    parked_key *p;
    pid_t caller = getppid();
    int r, code = CS_HELPER_INTERNAL;

    if (read_handle(pw->pw_uid, desc) < 0) {
        log_error("collect wants the handle park wrote");
        return CS_HELPER_USAGE;
    }
    p = cs_secure_alloc(sizeof(*p));
    if (!p)
        return CS_HELPER_INTERNAL;
    r = take(desc, p);
    if (r == -ENOKEY) {
        log_error("no key parked for %s under this handle (expired: the session opened too late?)", user);
        code = CS_HELPER_NO_KEY;
    } else if (r < 0) {
        log_error_errno(r, "the key parked for %s could not be read", user);
    } else if (p->uid != pw->pw_uid || (p->pid[0] != caller && p->pid[1] != caller)) {
        log_error("the key parked for uid %u by process %d/%d is not for this session of %s (pid %d): refused",
                  (unsigned)p->uid, (int)p->pid[0], (int)p->pid[1], user, (int)caller);
        code = CS_HELPER_DENIED;
    } else if (cs_amk_from_bytes(p->key, sizeof(p->key), &amk) == 0) {
        code = CS_HELPER_OK;
    }
    cs_secure_free(p);
    if (code != CS_HELPER_OK) /* the module falls back to its other paths, which record the session */
        return code;
    return helper_give_key(pw, user, amk, session, 0, false);
}

int helper_collect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "session", no_argument, NULL, 'S' },
        {}
    };
    const char *user = NULL;
    bool session = false;
    char pwbuf[4096];
    struct passwd pw;
    int c, code;

    while ((c = cs_verb_getopt(argc, argv, "u:S", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 'S': session = true; break;
        default: return helper_opt_exit(c);
        }
    }
    if (geteuid() != 0 || getuid() != 0) {
        log_error("collect is for pam_cloudseal.so, running as root");
        return CS_HELPER_DENIED;
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    /* an SSH session opens: what the user's own `cloudseal enroll` needs,
     * as login and handoff do for the other session paths */
    if (session)
        (void)helper_prepare_user(helper_config(), &pw, LOG_DEBUG);
    return collect(&pw, user, session);
}
