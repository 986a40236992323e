/* cloudseal-helper unlock: password (or recovery key) in on fd 0, AMK out on
 * fd 1.  The login path: storage with the short login timeout, falling back
 * to the local cache. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "crypto/account.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal-helper [--config FILE] unlock --user NAME [--secret password|recovery|either] [--cache-only]\n\n"
               "Read one frame from fd 0 (the password, or the recovery key), unwrap the\n"
               "user's account key and write it as one frame to fd 1.\n\n"
               "  --user NAME        whose keybag (non-root callers: only their own)\n"
               "  --secret KIND      what the frame holds; 'either' tries the recovery key\n"
               "                     first, then the password (drift repair)\n"
               "  --cache-only       never contact storage\n");
}

/* Unlock with a secret that may be a recovery code or a password.  A text
 * that is not a recovery code fails fast (no KDF), so trying it first is
 * cheap; only a wrong password costs an Argon2 run. */
static int helper_unlock_either(const cs_config *cfg, const char *user, const cs_secret *secret,
                         int flags, cs_amk **amk)
{
    int r = cs_account_unlock(cfg, user, secret, flags | CS_UNLOCK_RECOVERY, amk);

    if (r == -EACCES || r == -EINVAL || r == -EILSEQ)
        r = cs_account_unlock(cfg, user, secret, flags, amk);
    return r;
}

int helper_unlock_kind(const cs_config *cfg, const char *user, const cs_secret *secret,
                       const char *kind, int flags, cs_amk **amk)
{
    if (!kind || strcmp(kind, "password") == 0)
        return cs_account_unlock(cfg, user, secret, flags, amk);
    if (strcmp(kind, "recovery") == 0) {
        int r = cs_account_unlock(cfg, user, secret, flags | CS_UNLOCK_RECOVERY, amk);
        return r == -EINVAL || r == -EILSEQ ? -EACCES : r; /* a mistyped code is a wrong secret */
    }
    return helper_unlock_either(cfg, user, secret, flags, amk);
}

int helper_unlock(int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "secret", required_argument, NULL, 's' },
        { "cache-only", no_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        {}
    };
    _cleanup_secret_ cs_secret *secret = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    const char *user = NULL, *kind = "password";
    int flags = CS_UNLOCK_LOGIN, c, r, code;
    struct passwd pw;
    char pwbuf[4096];

    while ((c = getopt_long(argc, argv, "u:s:Ch", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 's': kind = optarg; break;
        case 'C': flags |= CS_UNLOCK_CACHE_ONLY; break;
        case 'h': usage(stdout); return CS_HELPER_OK;
        default: usage(stderr); return CS_HELPER_USAGE;
        }
    }
    if (strcmp(kind, "password") && strcmp(kind, "recovery") && strcmp(kind, "either")) {
        log_error("--secret wants password, recovery or either");
        return CS_HELPER_USAGE;
    }
    code = helper_resolve_user(user, &pw, pwbuf, sizeof(pwbuf));
    if (code != CS_HELPER_OK)
        return code;
    r = helper_read_secret(STDIN_FILENO, &secret);
    if (r < 0) {
        log_error("could not read the secret from fd 0: %s", strerror(-r));
        return CS_HELPER_USAGE;
    }
    r = helper_unlock_kind(helper_config(), user, secret, kind, flags, &amk);
    if (r < 0) {
        code = helper_exit_code(r);
        log_error("keys of %s not unlocked: %s", user,
                  code == CS_HELPER_INTERNAL ? strerror(-r) : helper_exit_reason(code));
        return code;
    }
    r = helper_write_frame(STDOUT_FILENO, amk->key, CS_KEY_BYTES);
    if (r < 0) {
        log_error("could not hand the key back on fd 1: %s", strerror(-r));
        return CS_HELPER_INTERNAL;
    }
    return CS_HELPER_OK;
}
