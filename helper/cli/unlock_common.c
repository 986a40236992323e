/* SPDX-License-Identifier: MIT */
/* Getting the account master key for a CLI command, and the small pieces
 * every key command shares. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_client.h"
#include "cli.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/macros.h"

bool cli_password_stdin;

const char *cli_user(void)
{
    static char name[64];
    struct passwd *pw;

    if (name[0])
        return name;
    pw = getpwuid(getuid());
    if (!pw || strlen(pw->pw_name) >= sizeof(name)) {
        log_error("your uid %u has no user name (getpwuid): check NSS", (unsigned)getuid());
        exit(CLI_FAILED);
    }
    strcpy(name, pw->pw_name);
    return name;
}

int cli_read_secret(const char *prompt, cs_secret **out)
{
    cs_secret *s = NULL;
    int r = cli_password_stdin ? cs_secret_read_fd(STDIN_FILENO, &s) : cs_secret_prompt(prompt, &s);

    if (r == -EMSGSIZE) {
        log_error("that secret is longer than %d bytes", CS_SECRET_MAX);
        return r;
    }
    if (r < 0) {
        log_error("cannot read a password: %s (use --password-stdin to give it on stdin)",
                  strerror(-r));
        return r;
    }
    if (s->len == 0) {
        cs_secret_free(s);
        log_error("empty input; nothing was changed");
        return -EINVAL;
    }
    *out = s;
    return 0;
}

int cli_read_new_password(const char *prompt, cs_secret **out)
{
    _cleanup_secret_ cs_secret *a = NULL;
    _cleanup_secret_ cs_secret *b = NULL;
    int r = cli_read_secret(prompt ? prompt : "New cloudseal password: ", &a);

    if (r < 0 || cli_password_stdin) {
        if (r == 0)
            *out = CS_TAKE_PTR(a);
        return r;
    }
    r = cli_read_secret("Repeat the new password: ", &b);
    if (r < 0)
        return r;
    if (a->len != b->len || cs_memeq_ct(a->data, b->data, a->len) != 0) {
        log_error("the two passwords differ; nothing was changed, try again");
        return -EINVAL;
    }
    *out = CS_TAKE_PTR(a);
    return 0;
}

int cli_report(int r, const char *what)
{
    switch (r) {
    case 0:
        return CLI_OK;
    case -ENOENT:
        log_error("%s: you are not enrolled; run 'cloudseal enroll' first", what);
        return CLI_NOT_FOUND;
    case -EACCES:
        log_error("%s: wrong password (or recovery key); if you changed your login password "
                  "elsewhere, run 'cloudseal recover' or unlock with the previous password", what);
        return CLI_LOCKED;
    case -EILSEQ:
        log_error("%s: the recovery key has a typo (its checksum does not match); check each group",
                  what);
        return CLI_USAGE;
    case -ESTALE:
        log_error("%s: storage returned an older keybag than this machine has seen (rollback); "
                  "nothing was unlocked; tell your administrator", what);
        return CLI_DATA_ERROR;
    case -EBADMSG:
    case -EPROTONOSUPPORT:
    case -E2BIG:
        log_error("%s: the keybag is %s; run 'cloudseal keybag dump' and tell your administrator",
                  what, r == -EPROTONOSUPPORT ? "of a newer format than this cloudseal knows" :
                  r == -E2BIG ? "asking for KDF costs beyond the allowed bounds" :
                  "corrupt or was tampered with");
        return CLI_DATA_ERROR;
    case -ENOKEY:  /* S3 without credentials */
    case -ENXIO:   /* no such bucket */
    case -EPROTO:  /* TLS */
    case -ENOTDIR: /* file:// naming a file */
    case -EROFS: {
        char why[1024];
        log_error("%s: %s", what, cs_storage_explain(cs_config_str(cli_config(), "storage", "url"), r, why,
                                                    sizeof(why)));
        return CLI_UNAVAILABLE;
    }
    case -ETIMEDOUT:
    case -EHOSTUNREACH:
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -ENETUNREACH:
        log_error("%s: storage is unreachable (%s); try again when online", what, strerror(-r));
        return CLI_UNAVAILABLE;
    default:
        log_error_errno(r, "%s", what);
        return CLI_FAILED;
    }
}

/* Not enrolled, or is it the storage that is not there?  A file:// store
 * whose directory is missing (a typo, a disk not mounted) holds no keybag
 * either: say that instead. */
static void report_no_keybag(const char *user)
{
    const char *url = cs_config_str(cli_config(), "storage", "url");
    struct stat st;
    char why[1024];

    if (url && strncmp(url, "file://", 7) == 0 && stat(url + 7, &st) < 0)
        log_error("%s; if you never enrolled, run 'cloudseal enroll'",
                  cs_storage_explain(url, -errno, why, sizeof(why)));
    else
        log_error("%s is not enrolled (no keybag in %s); run 'cloudseal enroll' first", user,
                  url ? url : "the storage");
}

int cli_account_id(const char *user, char id[65])
{
    int r = cs_account_id(cli_config(), user, id);

    if (r == -ENOENT)
        report_no_keybag(user);
    else if (r < 0)
        cli_report(r, "cannot read your keybag");
    return r;
}

int cli_unlock_sessions(const cs_amk *amk, unsigned timeout_sec)
{
    char id[CS_ACCOUNT_ID_MAX];
    int r;

    /* the keybag may have been refreshed: use the id of what actually opened */
    if ((r = cs_account_id_from_amk(amk, id)) < 0 || (r = cs_keyring_store(id, amk, timeout_sec)) < 0)
        return r;
    agent_notify_unlock(); /* best effort: a waiting agent starts at once */
    return 0;
}

/* ---- security keys ---- */

static int ask_pin(void *userdata, cs_secret **pin)
{
    (void)userdata;
    return cli_read_secret("Enter its PIN: ", pin) < 0 ? -ECANCELED : 0;
}

static void notify(void *userdata, const char *message)
{
    (void)userdata;
    if (!cli.quiet)
        fprintf(stderr, "%s\n", message);
}

void cli_fido2_init(cli_fido2 *k, const char *again)
{
    *k = (cli_fido2){ .ui = { .ask_pin = ask_pin, .notify = notify, .userdata = k }, .again = again };
}

int cli_fido2_get(void *userdata, const char *rp_id, const cs_keybag_fido2 *slot, cs_secret **out)
{
    cli_fido2 *k = userdata;
    int r = cs_fido2_hmac_secret(rp_id, slot->cred_id, slot->cred_id_len, slot->salt, slot->flags, &k->ui, out);

    if (r < 0 && r != -ENOKEY)
        k->device_err = r; /* -ENOKEY: the next slot is tried */
    return r;
}

int cli_fido2_report(const cli_fido2 *k, int r, const char *what)
{
    if (r == -ENOKEY && !k->device_err) {
        log_error("%s: the security key plugged in is not one of yours ('cloudseal key list' shows "
                  "them): plug in an enrolled key and run '%s' again", what, k->again);
        return CLI_LOCKED;
    }
    if (!k->device_err || r != k->device_err)
        return cli_report(r, what);
    switch (r) {
    case -ENODEV:
        log_error("No security key found: plug it in and run '%s' again", k->again);
        break;
    case -ETIMEDOUT:
        log_error("%s: the security key was not touched in time: run '%s' again and touch it when asked",
                  what, k->again);
        break;
    case -EACCES:
        log_error("%s: wrong PIN for the security key: run '%s' again (a few wrong PINs in a row block it)",
                  what, k->again);
        break;
    case -EPERM:
        log_error("%s: the security key refused (its PIN is blocked after too many wrong ones): use "
                  "your recovery key ('cloudseal recover')", what);
        break;
    case -ENOTSUP:
        log_error("%s: this security key cannot do it (no FIDO2 hmac-secret, or no PIN set where one "
                  "is required): use another key", what);
        break;
    case -ENOPKG:
    case -ECANCELED:
        log_error("%s: no PIN given for the security key; nothing was changed", what);
        break;
    default:
        log_error_errno(r, "%s: the security key failed", what);
    }
    return CLI_LOCKED;
}

int cli_unlock_fido2(const char *user, const cs_secret *pw, const char *again, cs_amk **out)
{
    cli_fido2 k;
    cs_account_fido2 how = { .get = cli_fido2_get, .userdata = &k, .password = pw };
    int r;

    cli_fido2_init(&k, again);
    r = cs_account_unlock_fido2(cli_config(), user, &how, 0, NULL, out);
    return r < 0 ? cli_fido2_report(&k, r, "cannot unlock") : CLI_OK;
}

int cli_obtain_amk(cs_amk **out)
{
    const char *user = cli_user();
    _cleanup_secret_ cs_secret *pw = NULL;
    char id[CS_ACCOUNT_ID_MAX];
    int r = cli_account_id(user, id);

    if (r < 0)
        return r;
    /* an unlocked session: the key is already in @u */
    if (cs_keyring_load(id, out) == 0)
        return 0;
    if (!cli_password_stdin && !isatty(STDIN_FILENO)) {
        /* stdin is not a terminal and no password was promised on it: an
         * empty one is no mistake, the keys are simply locked (the caller
         * says so, with what to do) */
        if (cs_secret_read_fd(STDIN_FILENO, &pw) < 0 || pw->len == 0)
            return -ENOKEY;
    } else if (cli_read_secret("Cloudseal password: ", &pw) < 0) {
        return -ENOKEY;
    }
    /* policy both: the password alone opens nothing; the key too */
    if (cs_account_fido2_policy(cli_config(), user, 0, true) == CS_FIDO2_POLICY_BOTH)
        return cli_unlock_fido2(user, pw, "cloudseal unlock --fido2", out) == CLI_OK ? 0 : -EACCES;
    r = cs_account_unlock(cli_config(), user, pw, 0, out);
    if (r < 0)
        cli_report(r, "cannot unlock your keys");
    return r;
}
