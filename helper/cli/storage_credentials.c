/* SPDX-License-Identifier: MIT */
/* cloudseal storage credentials set|show|clear: the user's own S3 key pair,
 * kept encrypted in their keybag (lib/account/credentials.h), used instead of
 * the machine's [storage] credentials for their backups and message sync. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "account/credentials.h"
#include "storage/s3_creds.h"
#include "storage/storage_s3.h"
#include "unlock_common.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/verbs.h"

static int obtain_amk(cs_amk **amk)
{
    int r = cli_obtain_amk(amk);

    if (r == -ENOKEY)
        log_error("your keys are locked: run 'cloudseal unlock' or give your password");
    return r == 0 ? CLI_OK : r == -ENOKEY ? CLI_LOCKED : CLI_FAILED;
}

/* A request the storage must answer for these credentials: 404 is fine
 * (no repository yet), 403 is not. */
static int check_pair(const cs_user_cred *cred)
{
    cs_storage *st = NULL;
    cs_object_stat os;
    char key[300];
    cs_storage_opts o = { .access_key = cred->access_key, .secret_key = cred->secret->data,
                          .session_token = cred->token ? cred->token->data : NULL,
                          .token_expires = cred->expires, .cred_source = "the credentials given" };
    int r = cs_storage_open_config_creds(cli_config(), NULL, &o, &st);

    if (r == 0) {
        snprintf(key, sizeof(key), "users/%s/backup/config", cli_user());
        r = cs_storage_stat(st, key, &os);
        if (r == -ENOENT)
            r = 0;
    }
    cs_storage_close(st);
    if (r < 0) {
        log_error_errno(r, "the storage does not accept these credentials");
        log_error("%s", cs_s3_hint(r));
        log_error("nothing was changed (--no-check stores them anyway)");
    }
    return r;
}

/* Never from argv.  stdin only when it cannot also be carrying the password. */
static int read_secret_key(const char *access_key, const char *file, cs_secret **out)
{
    char prompt[CS_CRED_ACCESS_MAX + 40];
    int r, tty;

    if (file)
        return cs_secret_read_file(file, "--secret-key-file", out);
    tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty >= 0)
        close(tty);
    else if (cli_password_stdin) {
        log_error("with --password-stdin and no terminal, give the secret key with --secret-key-file FILE");
        return -EINVAL;
    }
    snprintf(prompt, sizeof(prompt), "S3 secret key for %s: ", access_key);
    r = cs_secret_prompt(prompt, out); /* the terminal; stdin when there is none */
    if (r < 0)
        log_error("cannot read the secret key: %s (use --secret-key-file FILE)", strerror(-r));
    return r;
}

static int read_token(const char *file, const char *expires, cs_user_cred *cred)
{
    if (!file)
        return expires ? (log_error("--expires goes with --session-token-file"), -EINVAL) : 0;
    if (cs_secret_read_file(file, "--session-token-file", &cred->token) < 0)
        return -EINVAL;
    if (!cs_s3_secret_valid(cred->token->data, cred->token->len, CS_CRED_TOKEN_MAX)) {
        log_error("a session token is 1-%d printable characters without spaces", CS_CRED_TOKEN_MAX);
        return -EINVAL;
    }
    if (expires && cs_s3_time_parse(expires, &cred->expires) < 0) {
        log_error("--expires %s: expected a UTC time like 2026-12-05T03:00:00Z", expires);
        return -EINVAL;
    }
    return 0;
}

static int do_set(const char *access_key, const char *secret_file, const char *token_file, const char *expires,
                  bool check)
{
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_user_cred cred = { 0 };
    int r;

    if (!access_key || !cs_cred_access_key_valid(access_key)) {
        log_error("--access-key ID is required: 1-%d printable characters without spaces, '/', ',' or '='",
                  CS_CRED_ACCESS_MAX);
        return CLI_USAGE;
    }
    snprintf(cred.access_key, sizeof(cred.access_key), "%s", access_key);
    if ((r = obtain_amk(&amk)) != CLI_OK)
        return r;
    r = CLI_USAGE;
    if (read_secret_key(access_key, secret_file, &cred.secret) < 0 || read_token(token_file, expires, &cred) < 0)
        goto out;
    if (!cs_cred_secret_valid(cred.secret->data, cred.secret->len)) {
        log_error("a secret key is 1-%d printable characters without spaces", CS_CRED_SECRET_MAX);
        goto out;
    }
    r = CLI_FAILED;
    if (check && check_pair(&cred) < 0)
        goto out;
    int e = cs_account_cred_set(cli_config(), cli_user(), amk, &cred);
    if (e < 0) {
        cli_report(e, "cannot store the credentials in your keybag");
        goto out;
    }
    printf("Your backups and message sync now use access key %s%s.\n", access_key,
           cred.token ? " with its session token" : "");
    r = CLI_OK;
out:
    cs_user_cred_clear(&cred);
    return r;
}

/* Where the machine's credentials come from: what opening the storage
 * without the keybag's finds (cloudseal.conf, the environment, a profile). */
static void machine_source(char *access_key, size_t aksz, char *source, size_t srcsz)
{
    cs_storage *st = NULL;
    int r = cs_storage_open_config(cli_config(), NULL, &st);

    access_key[0] = '\0';
    if (r < 0) {
        snprintf(source, srcsz, "none usable (%s)", strerror(-r));
        return;
    }
    snprintf(source, srcsz, "%s", cs_s3_credential_source(st) ? cs_s3_credential_source(st)
                                                             : "none needed (not S3 storage)");
    if (cs_s3_access_key(st))
        snprintf(access_key, aksz, "%s", cs_s3_access_key(st));
    cs_storage_close(st);
}

static int do_show(void)
{
    _cleanup_amk_ cs_amk *amk = NULL;
    cs_user_cred cred = { 0 };
    char access_key[CS_CRED_ACCESS_MAX + 1] = "", source[600] = "", when[40] = "";
    int r = obtain_amk(&amk);

    if (r != CLI_OK)
        return r;
    r = cs_account_cred_get(cli_config(), cli_user(), amk, &cred);
    if (r < 0 && r != -ENOENT) {
        cli_report(r, "cannot read the credentials in your keybag");
        return CLI_FAILED;
    }
    if (r == 0) {
        snprintf(access_key, sizeof(access_key), "%s", cred.access_key);
        snprintf(source, sizeof(source), "your keybag%s", cred.token ? " (with a session token)" : "");
        if (cred.expires) {
            time_t t = (time_t)cred.expires;
            struct tm tm;
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        }
    } else {
        machine_source(access_key, sizeof(access_key), source, sizeof(source));
    }
    if (cli.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "source", json_object_new_string(r == 0 ? "keybag" : "machine"));
        /* the machine's come from the config or the environment: any bytes */
        if (access_key[0])
            cs_json_add_name(o, "access_key", access_key);
        else
            json_object_object_add(o, "access_key", NULL);
        cs_json_add_name(o, "from", source);
        if (when[0])
            json_object_object_add(o, "expires", json_object_new_string(when));
        cli_print_json(o, JSON_C_TO_STRING_PRETTY);
    } else if (r == 0) {
        printf("access key %s, from %s (secret key set)%s%s\n", access_key, source, when[0] ? ", expires " : "",
               when);
    } else {
        printf("none in your keybag: the machine's are used: access key %s, from %s\n",
               access_key[0] ? access_key : "(none)", source);
    }
    cs_user_cred_clear(&cred);
    return CLI_OK;
}

static int do_clear(void)
{
    _cleanup_amk_ cs_amk *amk = NULL;
    int r = obtain_amk(&amk);

    if (r != CLI_OK)
        return r;
    r = cs_account_cred_set(cli_config(), cli_user(), amk, NULL);
    if (r < 0) {
        cli_report(r, "cannot change your keybag");
        return CLI_FAILED;
    }
    printf("Removed: the machine's storage credentials are used again.\n");
    return CLI_OK;
}

static int credentials_set(int argc, char **argv)
{
    static const struct option opts[] = {
        { "access-key", required_argument, NULL, 'a' },         { "no-check", no_argument, NULL, 'n' },
        { "secret-key-file", required_argument, NULL, 'f' },    { "expires", required_argument, NULL, 'e' },
        { "session-token-file", required_argument, NULL, 't' }, {}
    };
    const char *access_key = NULL, *secret_file = NULL, *token_file = NULL, *expires = NULL;
    bool check = true;
    int c;

    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'a': access_key = optarg; break;
        case 'n': check = false; break;
        case 'f': secret_file = optarg; break;
        case 't': token_file = optarg; break;
        case 'e': expires = optarg; break;
        default: return cli_opt_exit(c);
        }
    }
    return do_set(access_key, secret_file, token_file, expires, check);
}

static int credentials_show(int argc, char **argv)
{
    int c = cli_getopt(argc, argv, "", NULL);

    return c != -1 ? cli_opt_exit(c) : do_show();
}

static int credentials_clear(int argc, char **argv)
{
    int c = cli_getopt(argc, argv, "", NULL);

    return c != -1 ? cli_opt_exit(c) : do_clear();
}

static const cs_verb credentials_commands[] = {
#define STORAGE_COMMAND(name, min, max, flags, fn, summary, usage)
#define CREDENTIALS_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "storage_commands.def"
#undef CREDENTIALS_COMMAND
#undef STORAGE_COMMAND
};

int cmd_storage_credentials(int argc, char **argv)
{
    static const cli_sub credentials = {
        .verbs = credentials_commands, .n = CS_ARRAY_SIZE(credentials_commands), .shortopts = "+",
    };

    return cli_sub_run(&credentials, argc, argv);
}
