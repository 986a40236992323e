/* SPDX-License-Identifier: MIT */
/* cloudseal storage: check and inspect the configured storage (admins).
 *
 *   cloudseal storage test [URL] [--write]   can we reach it, are the
 *                                            credentials and the bucket good?
 *   cloudseal storage ls [PREFIX] [--url URL] [--json] [--long]
 *   cloudseal storage mkbucket [URL]         create an S3 bucket
 *   cloudseal storage cleanup [URL] [--older-than DURATION]
 *                                            abort stale multipart uploads
 *
 * URL defaults to [storage] url; credentials come from [storage] access_key +
 * secret_key_file, the environment or an AWS profile (s3_creds.h).  The
 * sub-verbs are a verb table (storage_commands.def).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <json-c/json.h>
#include <sodium.h>

#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "storage/storage_s3.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/verbs.h"

static int exit_code(int err)
{
    switch (err) {
    case -EHOSTUNREACH: case -ETIMEDOUT: case -ECONNRESET: case -EIO:
        return CLI_UNAVAILABLE;
    case -ENOENT: case -ENXIO:
        return CLI_NOT_FOUND;
    case -EINVAL:
        return CLI_USAGE;
    default:
        return CLI_FAILED;
    }
}

static int report(const char *what, const char *url, int err)
{
    char why[1024];

    log_error_errno(err, "%s %s", what, url);
    log_error("%s", cs_storage_explain(url, err, why, sizeof(why)));
    return exit_code(err);
}

static int open_url(const char *url, cs_storage **s)
{
    int r = cs_storage_open_config(cli_config(), url, s);

    if (r < 0)
        return report("cannot open storage", url ? url : cs_config_str(cli_config(), "storage", "url"), r);
    return 0;
}

/* storage_credentials.c */
int cmd_storage_credentials(int argc, char **argv);

/* ---- ls ---- */

typedef struct ls_ctx {
    bool json, lng;
    unsigned long long n;
} ls_ctx;

static int print_entry(const char *key, const cs_object_stat *st, void *ud)
{
    ls_ctx *c = ud;

    if (c->json) {
        _cleanup_json_ json_object *o = json_object_new_object();

        /* names and etags are what the store says: any bytes (util/json.h) */
        if (!o || cs_json_add_name(o, "key", key) < 0 ||
            json_object_object_add(o, "size", json_object_new_int64((int64_t)st->size)) < 0 ||
            json_object_object_add(o, "mtime", json_object_new_int64(st->mtime_sec)) < 0 ||
            cs_json_add_name(o, "etag", st->etag) < 0)
            return -ENOMEM;
        printf("%s\n  %s", c->n ? "," : "", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    } else if (c->lng) {
        char when[32] = "-";
        time_t t = (time_t)st->mtime_sec;
        struct tm tm;
        if (t && gmtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%12llu  %s  %s\n", (unsigned long long)st->size, when, key);
    } else {
        printf("%s\n", key);
    }
    c->n++;
    return 0;
}

static int do_ls(const char *url, const char *prefix, bool lng)
{
    ls_ctx c = { .json = cli.json, .lng = lng };
    cs_storage *s = NULL;
    int r;

    if ((r = open_url(url, &s)) != 0)
        return r;
    if (c.json)
        printf("[");
    r = cs_storage_list(s, prefix ? prefix : "", print_entry, &c);
    if (c.json)
        printf("%s]\n", c.n ? "\n" : "");
    cs_storage_close(s);
    if (r < 0)
        return report("cannot list", url ? url : cs_config_str(cli_config(), "storage", "url"), r);
    return CLI_OK;
}

/* ---- test ---- */

static int stop_at_first(const char *key, const cs_object_stat *st, void *ud)
{
    (void)key; (void)st;
    *(bool *)ud = true;
    return 1; /* one key is enough to know listing works */
}

static int write_check(cs_storage *s)
{
    char key[64];
    uint8_t data[64];
    cs_buf got = CS_BUF_INIT;
    int r;

    snprintf(key, sizeof(key), ".cloudseal-test-%08x%08x", randombytes_random(), randombytes_random());
    randombytes_buf(data, sizeof(data));
    r = cs_storage_put(s, key, data, sizeof(data), CS_PUT_IMMUTABLE);
    if (r == 0)
        r = cs_storage_get(s, key, 0, 0, sizeof(data), &got);
    if (r == 0 && (got.len != sizeof(data) || memcmp(got.data, data, sizeof(data)) != 0))
        r = -EBADMSG;
    cs_buf_free(&got);
    int d = cs_storage_del(s, key);
    return r < 0 ? r : d;
}

static int do_test(const char *url, bool write)
{
    const char *shown = url ? url : cs_config_str(cli_config(), "storage", "url");
    cs_storage *s = NULL;
    bool any = false;
    struct timespec t0, t1;
    int r;

    /* a file:// directory that is not there (a typo, a disk not mounted)
     * is no empty store: only a write test may create it */
    if (!write && shown && strncmp(shown, "file://", 7) == 0 && access(shown + 7, F_OK) < 0 && errno == ENOENT)
        return report("storage test failed for", shown, -ENOENT);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((r = open_url(url, &s)) != 0)
        return r;
    r = cs_storage_list(s, "", stop_at_first, &any);
    if (r == 1)
        r = 0;
    if (r == 0 && write)
        r = write_check(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (cli.json) {
        json_object *o = json_object_new_object();
        cs_json_add_name(o, "url", shown ? shown : ""); /* from a command line or the config: any bytes */
        json_object_object_add(o, "ok", json_object_new_boolean(r == 0));
        json_object_object_add(o, "error", r ? json_object_new_string(strerror(-r)) : NULL);
        char why[1024];
        if (r) /* names the URL */
            cs_json_add_name(o, "hint", cs_storage_explain(shown, r, why, sizeof(why)));
        else
            json_object_object_add(o, "hint", NULL);
        json_object_object_add(o, "empty", json_object_new_boolean(!any));
        json_object_object_add(o, "write_checked", json_object_new_boolean(write && r == 0));
        json_object_object_add(o, "immutable_put", json_object_new_string(cs_s3_immutable_mode(s)));
        json_object_object_add(o, "elapsed_ms", json_object_new_int64(ms));
        cli_print_json(o, JSON_C_TO_STRING_PRETTY);
    }
    cs_storage_close(s);
    if (r < 0)
        return cli.json ? exit_code(r) : report("storage test failed for", shown, r);
    if (!cli.json)
        printf("storage %s: OK (%s, %s%s) in %ld ms\n", shown,
               cs_storage_url_is_s3(shown) ? "reachable, credentials accepted" : "a readable directory",
               any ? "objects present" : "empty", write ? ", write/read/delete works" : "", ms);
    return CLI_OK;
}

static int do_mkbucket(const char *url)
{
    cs_storage *s = NULL;
    int r;

    if ((r = open_url(url, &s)) != 0)
        return r;
    r = cs_s3_create_bucket(s);
    cs_storage_close(s);
    if (r == -EINVAL) {
        log_error("mkbucket works on s3:// and s3+http:// URLs only");
        return CLI_USAGE;
    }
    if (r < 0)
        return report("cannot create the bucket of", url ? url : cs_config_str(cli_config(), "storage", "url"), r);
    if (!cli.quiet)
        printf("bucket ready\n");
    return CLI_OK;
}

static int do_cleanup(const char *url, const char *older_than)
{
    cs_storage *s = NULL;
    int64_t age = 86400;
    unsigned aborted = 0;
    int r;

    if (older_than && cs_parse_duration(older_than, &age) < 0) {
        log_error("--older-than %s: expected a duration like 1d, 12h or 0", older_than);
        return CLI_USAGE;
    }
    if ((r = open_url(url, &s)) != 0)
        return r;
    r = cs_s3_cleanup_uploads(s, age, &aborted);
    cs_storage_close(s);
    if (r == -EINVAL) {
        log_error("cleanup works on s3:// and s3+http:// URLs only");
        return CLI_USAGE;
    }
    if (r < 0)
        return report("cannot clean up the unfinished uploads of",
                      url ? url : cs_config_str(cli_config(), "storage", "url"), r);
    if (!cli.quiet)
        printf("%u unfinished upload%s aborted\n", aborted, aborted == 1 ? "" : "s");
    return CLI_OK;
}

typedef struct storage_args {
    const char *url, *older_than;
    bool lng, write;
} storage_args;

/* Every storage verb takes every option, before or after the verb (as
 * it always did): one list, one set of values. */
static storage_args args;

static const struct option storage_opts[] = {
    { "long", no_argument, NULL, 'l' },
    { "write", no_argument, NULL, 'w' },
    { "url", required_argument, NULL, 'u' },
    { "older-than", required_argument, NULL, 'o' },
    {}
};

/* One option of the list, before the verb or after it. */
static int storage_option(int c, const char *arg)
{
    switch (c) {
    case 'j': cli.json = true; break; /* -j: --json's short form */
    case 'l': args.lng = true; break;
    case 'w': args.write = true; break;
    case 'u': args.url = arg; break;
    case 'o': args.older_than = arg; break;
    default: return CLI_USAGE;
    }
    return 0;
}

static int parse(int argc, char **argv, const char *shortopts)
{
    int c;

    while ((c = cli_getopt(argc, argv, shortopts, storage_opts)) != -1)
        if (c == CLI_OPT_HELP || storage_option(c, optarg) != 0)
            return c;
    return 0;
}

/* The URL operand, else --url (else [storage] url). */
static const char *url_operand(int argc, char **argv)
{
    return optind < argc ? argv[optind] : args.url;
}

static int storage_ls(int argc, char **argv)
{
    int c = parse(argc, argv, "jlwu:");

    return c ? cli_opt_exit(c) : do_ls(args.url, optind < argc ? argv[optind] : "", args.lng);
}

static int storage_test(int argc, char **argv)
{
    int c = parse(argc, argv, "jlwu:");

    return c ? cli_opt_exit(c) : do_test(url_operand(argc, argv), args.write);
}

static int storage_mkbucket(int argc, char **argv)
{
    int c = parse(argc, argv, "jlwu:");

    return c ? cli_opt_exit(c) : do_mkbucket(url_operand(argc, argv));
}

static int storage_cleanup(int argc, char **argv)
{
    int c = parse(argc, argv, "jlwu:");

    return c ? cli_opt_exit(c) : do_cleanup(url_operand(argc, argv), args.older_than);
}

static const cs_verb storage_commands[] = {
#define STORAGE_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#define CREDENTIALS_COMMAND(name, min, max, flags, fn, summary, usage)
#include "storage_commands.def"
#undef CREDENTIALS_COMMAND
#undef STORAGE_COMMAND
};

int cmd_storage(int argc, char **argv)
{
    static const cli_sub storage = {
        .verbs = storage_commands, .n = CS_ARRAY_SIZE(storage_commands),
        .shortopts = "+jlwu:", .opts = storage_opts, .opt = storage_option,
        .footer = "S3 credentials: [storage] access_key and secret_key_file, else the\n"
                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, else\n"
                  "the AWS profile (AWS_PROFILE, ~/.aws/credentials); 'storage credentials\n"
                  "show' tells which.\n",
    };

    return cli_sub_run(&storage, argc, argv);
}
