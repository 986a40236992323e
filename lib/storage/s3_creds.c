/* SPDX-License-Identifier: MIT */
/* S3 credentials from the environment and the AWS shared files: see
 * s3_creds.h for the order and the reasons. */
#include "storage/s3_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "util/log.h"

void cs_s3_creds_clear(cs_s3_creds *c)
{
    cs_secret_free(c->secret);
    cs_secret_free(c->token);
    memset(c, 0, sizeof(*c));
}

bool cs_s3_secret_valid(const char *s, size_t len, size_t max)
{
    if (!s || len < 1 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

int cs_s3_time_parse(const char *s, int64_t *out)
{
    struct tm tm = { 0 };
    const char *rest;
    time_t t;

    if (!s || strlen(s) > 40)
        return -EINVAL;
    rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -EINVAL;
    if (*rest == '.')
        for (rest++; *rest >= '0' && *rest <= '9'; rest++)
            ;
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return -EINVAL;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = (int64_t)t;
    return 0;
}

static int copy_secret(cs_secret **dst, const char *v, size_t max, const char *name)
{
    if (!cs_s3_secret_valid(v, strlen(v), max)) {
        log_error("%s is not valid: expected 1-%zu printable characters without spaces", name, max);
        return -EINVAL;
    }
    if (cs_secret_new(dst) < 0)
        return -ENOMEM;
    return cs_secret_set(*dst, v, strlen(v));
}

int cs_s3_creds_from_env(cs_s3_creds *c)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = getenv("AWS_SESSION_TOKEN"), *exp = getenv("AWS_CREDENTIAL_EXPIRATION");
    int r;

    if (!ak || !sk || !*ak || !*sk)
        return -ENOENT;
    if (!cs_s3_secret_valid(ak, strlen(ak), CS_S3_ACCESS_MAX)) {
        log_error("AWS_ACCESS_KEY_ID is not valid: expected 1-%d printable characters without spaces",
                  CS_S3_ACCESS_MAX);
        return -EINVAL;
    }
    strcpy(c->access_key, ak);
    r = copy_secret(&c->secret, sk, CS_S3_SECRET_MAX, "AWS_SECRET_ACCESS_KEY");
    if (r == 0 && tok && *tok)
        r = copy_secret(&c->token, tok, CS_S3_SESSION_TOKEN_MAX, "AWS_SESSION_TOKEN");
    if (r == 0 && exp && *exp && cs_s3_time_parse(exp, &c->expires) < 0) {
        log_error("AWS_CREDENTIAL_EXPIRATION '%.40s' is not a time like 2026-12-05T03:00:00Z", exp);
        r = -EINVAL;
    }
    snprintf(c->source, sizeof(c->source), "%s", c->token ? "AWS_ACCESS_KEY_ID and AWS_SESSION_TOKEN (environment)"
                                                          : "AWS_ACCESS_KEY_ID (environment)");
    return r;
}

/* A shared file's path: the variable's (a leading "~/" is the home
 * directory, as the AWS tools read it), else ~/.aws/NAME. */
static int shared_path(const char *var, const char *name, char *out, size_t outsz)
{
    const char *v = getenv(var), *home = getenv("HOME");
    struct passwd *pw;
    int n;

    if (!home || !*home) {
        pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (v && *v && strncmp(v, "~/", 2) != 0)
        n = snprintf(out, outsz, "%s", v);
    else if (!home)
        return -ENOENT;
    else if (v && *v)
        n = snprintf(out, outsz, "%s/%s", home, v + 2);
    else
        n = snprintf(out, outsz, "%s/.aws/%s", home, name);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* Read path into secure memory: -ENOENT when it is missing or unreadable
 * (then there is nothing to use), *others_may_read from its mode. */
static int read_shared(const char *path, char **text, size_t *len, bool *others_may_read)
{
    struct stat st;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), r = 0;

    *text = NULL;
    if (fd < 0) {
        if (errno != ENOENT)
            log_debug("cannot read %s: %m; not using it", path);
        return -ENOENT;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CS_S3_PROFILE_FILE_MAX) {
        log_error("%s is not a regular file of at most %d bytes: fix it, or point %s elsewhere", path,
                  CS_S3_PROFILE_FILE_MAX, "AWS_SHARED_CREDENTIALS_FILE or AWS_CONFIG_FILE");
        r = -EINVAL;
        goto out;
    }
    *others_may_read = (st.st_mode & S_IROTH) != 0;
    *text = cs_secure_alloc((size_t)st.st_size + 1);
    if (!*text) {
        r = -ENOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size && (n = read(fd, *text + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)n;
    *len = got;
out:
    close(fd);
    return r;
}

static int parse_shared(const char *var, const char *name, const char *profile, bool config_file,
                        bool want_secrets, cs_s3_creds *c, char *path, size_t pathsz)
{
    char *text = NULL;
    size_t len = 0;
    bool loose = false;
    int r = shared_path(var, name, path, pathsz);

    if (r == 0)
        r = read_shared(path, &text, &len, &loose);
    if (r == 0)
        r = cs_s3_profile_parse(text, len, profile, config_file, c);
    cs_secure_free(text);
    if (r == -ENOENT)
        return 0;
    if (r < 0) {
        log_error("cannot use %s (profile %s): fix the file, or point %s elsewhere", path, profile, var);
        return r;
    }
    if (want_secrets && loose && (c->secret || c->token)) {
        log_error("%s holds a secret key and is readable by other users: run 'chmod 600 %s'", path, path);
        return -EPERM;
    }
    return 0;
}

static bool have_pair(const cs_s3_creds *c)
{
    return c->access_key[0] && c->secret;
}

static const char *profile_name(void)
{
    const char *profile = getenv("AWS_PROFILE");

    if (!profile || !*profile)
        return "default";
    if (strlen(profile) > 64) {
        log_error("AWS_PROFILE is longer than 64 characters");
        return NULL;
    }
    return profile;
}

int cs_s3_region_from_profile(char region[CS_S3_REGION_MAX + 1])
{
    const char *profile = profile_name();
    cs_s3_creds g = { 0 };
    char path[4096];
    int r = profile ? parse_shared("AWS_CONFIG_FILE", "config", profile, true, false, &g, path, sizeof(path))
                    : -EINVAL;

    memcpy(region, g.region, CS_S3_REGION_MAX + 1);
    cs_s3_creds_clear(&g);
    return r;
}

int cs_s3_creds_from_profile(cs_s3_creds *c)
{
    const char *profile = profile_name();
    cs_s3_creds f = { 0 }, g = { 0 };
    char fpath[4096], gpath[4096];
    int r;

    if (!profile)
        return -EINVAL;
    r = parse_shared("AWS_SHARED_CREDENTIALS_FILE", "credentials", profile, false, true, &f, fpath, sizeof(fpath));
    if (r == 0)
        r = parse_shared("AWS_CONFIG_FILE", "config", profile, true, true, &g, gpath, sizeof(gpath));
    if (r < 0)
        goto out;
    memcpy(c->region, g.region, sizeof(c->region));
    if (have_pair(&f) || have_pair(&g)) {
        cs_s3_creds *w = have_pair(&f) ? &f : &g;
        memcpy(c->access_key, w->access_key, sizeof(c->access_key));
        c->secret = w->secret;
        c->token = w->token;
        w->secret = w->token = NULL;
        snprintf(c->source, sizeof(c->source), "%.300s, profile %s%s", w == &f ? fpath : gpath, profile,
                 c->token ? " (with a session token)" : "");
    } else {
        r = -ENOENT;
    }
out:
    cs_s3_creds_clear(&f);
    cs_s3_creds_clear(&g);
    return r;
}
