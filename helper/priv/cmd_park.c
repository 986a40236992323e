/* SPDX-License-Identifier: MIT */
/* cloudseal-helper park: unwrap at authentication time (or take the key an
 * authoritative auth unwrapped) and park it in root's keyring for the
 * session step of the same login, which runs in another process under
 * sshd's keyboard-interactive (parked.h).  Writes the token as one frame on
 * fd 1. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <keyutils.h>
#include <sodium.h>

#include "helper.h"
#include "parked.h"
#include "util/log.h"
#include "util/parse.h"

typedef struct park_args {
    const char *user, *secret;
    int pid[2];
    int timeout;
} park_args;

/* --bind PID,PID */
static int parse_bind(const char *s, int pid[2])
{
    char buf[32], *comma;

    if (strlen(s) >= sizeof(buf))
        return -ERANGE;
    strcpy(buf, s);
    if (!(comma = strchr(buf, ',')))
        return -EINVAL;
    *comma = '\0';
    if (cs_parse_int(buf, 1, INT32_MAX, &pid[0]) < 0 || cs_parse_int(comma + 1, 1, INT32_MAX, &pid[1]) < 0)
        return -EINVAL;
    return 0;
}

static int parse(int argc, char **argv, park_args *a)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "secret", required_argument, NULL, 's' },
        { "bind", required_argument, NULL, 'b' },
        { "timeout-park", required_argument, NULL, 't' },
        {}
    };
    int c;

    while ((c = cs_verb_getopt(argc, argv, "u:s:b:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'u': a->user = optarg; break;
        case 's': a->secret = optarg; break;
        case 'b':
            if (parse_bind(optarg, a->pid) < 0)
                goto bad_bind;
            break;
        case 't':
            if (cs_parse_int(optarg, 1, PARKED_TIMEOUT_MAX, &a->timeout) < 0) {
                log_error("--timeout-park wants 1..%d seconds", PARKED_TIMEOUT_MAX);
                return CS_HELPER_USAGE;
            }
            break;
        case CS_VERB_HELP: return -1;
        default: return CS_HELPER_USAGE;
        }
    }
    if (!a->secret || (strcmp(a->secret, "password") && strcmp(a->secret, "key")) || !a->pid[0]) {
        log_error("park wants --secret password|key and --bind PID,PID; see 'cloudseal-helper park --help'");
        return CS_HELPER_USAGE;
    }
    return CS_HELPER_OK;
bad_bind:
    log_error("--bind wants two process ids: PID,PID");
    return CS_HELPER_USAGE;
}

/* The key: unwrapped with the password, or as it came. */
static int read_key(const park_args *a, cs_amk **amk)
{
    _cleanup_secret_ cs_secret *pw = NULL;
    int r;

    if (strcmp(a->secret, "key") == 0)
        r = helper_read_amk(STDIN_FILENO, amk);
    else if ((r = helper_read_secret(STDIN_FILENO, &pw)) == 0)
        return helper_unlock_kind(helper_config(), a->user, pw, "password", CS_UNLOCK_LOGIN, amk);
    if (r < 0)
        log_error_errno(r, "could not read the secret from fd 0");
    return r < 0 ? -EPROTO : 0;
}

/* add_key, then the timeout: a key without one never lives past this
 * function (revoked on failure). */
static int park_key(const parked_key *p, const char *desc, unsigned timeout)
{
    key_serial_t id;

    /* Setting the permissions needs possession of the new key, hence of
     * root's @u: a system service's session keyring does not link it
     * (systemd's KeyringMode=private, sshd.service's), so link it into
     * this process's own keyring first. */
    if (keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_PROCESS_KEYRING) < 0)
        return -errno;
    id = add_key("user", desc, p, sizeof(*p), KEY_SPEC_USER_KEYRING);
    if (id < 0)
        return -errno;
    if (keyctl_setperm(id, KEY_POS_ALL | KEY_USR_ALL) < 0 || keyctl_set_timeout(id, timeout) < 0) {
        int r = -errno;

        keyctl_revoke(id);
        keyctl_unlink(id, KEY_SPEC_USER_KEYRING);
        return r;
    }
    return 0;
}

int helper_park(int argc, char **argv)
{
    park_args a = { .timeout = 20 };
    _cleanup_amk_ cs_amk *amk = NULL;
    parked_key *p = NULL;
    char pwbuf[4096], desc[PARKED_DESC_MAX], token[PARKED_TOKEN_HEX + 1];
    uint8_t raw[PARKED_TOKEN_HEX / 2];
    struct passwd pw;
    int r, code;

    code = parse(argc, argv, &a);
    if (code != CS_HELPER_OK)
        return code < 0 ? CS_HELPER_OK : code;
    if (geteuid() != 0 || getuid() != 0) {
        log_error("park is for pam_cloudseal.so, running as root");
        return CS_HELPER_DENIED;
    }
    code = helper_resolve_user(a.user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    r = read_key(&a, &amk);
    if (r == -EPROTO)
        return CS_HELPER_USAGE;
    if (r < 0) {
        code = helper_exit_code(r);
        log_error("keys of %s not unlocked: %s", a.user,
                  code == CS_HELPER_INTERNAL ? strerror(-r) : helper_exit_reason(code));
        return code;
    }
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
    parked_desc(pw.pw_uid, token, PARKED_TOKEN_HEX, desc);
    p = cs_secure_alloc(sizeof(*p));
    if (!p)
        return CS_HELPER_INTERNAL;
    memcpy(p->key, amk->key, sizeof(p->key));
    p->uid = pw.pw_uid;
    p->pid[0] = (int32_t)a.pid[0];
    p->pid[1] = (int32_t)a.pid[1];
    r = park_key(p, desc, (unsigned)a.timeout);
    cs_secure_free(p);
    if (r < 0) {
        log_error_errno(r, "key of %s not parked for the session", a.user);
        return CS_HELPER_INTERNAL;
    }
    if (helper_write_frame(STDOUT_FILENO, token, PARKED_TOKEN_HEX) < 0) {
        log_error("could not hand the handle back on fd 1");
        return CS_HELPER_INTERNAL; /* the key expires by itself */
    }
    return CS_HELPER_OK;
}
