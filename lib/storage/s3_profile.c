/* SPDX-License-Identifier: MIT */
/* The AWS shared credentials and config files, read with inih.
 *
 * Debian's inih reads lines into a 200-byte buffer on its own stack: a
 * session token (up to a few KiB) does not fit, and a secret key would be
 * left behind in memory nobody wipes.  So inih never sees a value: our line
 * reader hands it "name=@N", N indexing the value's place in the file's
 * text, which stays in secure memory.  inih still parses the structure
 * (sections, names, comments); the reader only finds where a value starts.
 * Indented lines (the files' nested settings, "s3 =\n  max_... = 20") are
 * continuation lines we read nothing from, so they reach inih as blanks. */
#include "storage/s3_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/log.h"

#define VALUES_MAX 4096
#define NAME_MAX_LEN 128

typedef struct span {
    size_t off, len;
} span;

typedef struct pctx {
    const char *text;
    size_t len, pos;
    span *v;
    size_t nv;
    bool overflow;
    const char *profile;
    bool config_file;
    cs_s3_creds *c;
    int err;
} pctx;

static void put_line(char *str, int num, const char *line)
{
    snprintf(str, (size_t)num, "%s", line);
}

/* One line of the text for inih; see the top of the file. */
static char *read_line(char *str, int num, void *stream)
{
    pctx *p = stream;
    const char *l;
    size_t start, eol, n, lead = 0, d = 0, vs, ve;

    if (p->pos >= p->len || num < 64)
        return NULL;
    start = p->pos;
    for (eol = start; eol < p->len && p->text[eol] != '\n'; eol++)
        ;
    p->pos = eol < p->len ? eol + 1 : eol;
    l = p->text + start;
    n = eol - start;
    if (n > 0 && l[n - 1] == '\r')
        n--;
    while (lead < n && (l[lead] == ' ' || l[lead] == '\t'))
        lead++;
    if (memchr(l, '\0', n)) {
        put_line(str, num, "!\n"); /* inih: a syntax error on this line */
    } else if (lead == n || lead > 0 || l[0] == '#' || l[0] == ';') {
        put_line(str, num, "\n");
    } else if (l[0] == '[') {
        if (n + 2 > (size_t)num)
            put_line(str, num, "!\n");
        else
            snprintf(str, (size_t)num, "%.*s\n", (int)n, l);
    } else {
        while (d < n && l[d] != '=' && l[d] != ':')
            d++;
        if (d == n || d > NAME_MAX_LEN) {
            put_line(str, num, "!\n");
            return str;
        }
        if (p->nv == VALUES_MAX) {
            p->overflow = true;
            put_line(str, num, "\n");
            return str;
        }
        for (vs = d + 1; vs < n && (l[vs] == ' ' || l[vs] == '\t'); vs++)
            ;
        for (ve = n; ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'); ve--)
            ;
        p->v[p->nv] = (span){ start + vs, ve - vs };
        snprintf(str, (size_t)num, "%.*s=@%zu\n", (int)d, l, p->nv++);
    }
    return str;
}

static bool section_matches(const pctx *p, const char *section)
{
    if (!p->config_file)
        return strcmp(section, p->profile) == 0;
    if (strcmp(p->profile, "default") == 0 && strcmp(section, "default") == 0)
        return true;
    if (strncmp(section, "profile", 7) != 0 || (section[7] != ' ' && section[7] != '\t'))
        return false;
    section += 7;
    section += strspn(section, " \t");
    return strcmp(section, p->profile) == 0;
}

static int set_secret(cs_secret **s, const char *v, size_t n, size_t max)
{
    if (!cs_s3_secret_valid(v, n, max))
        return -EINVAL;
    if (!*s && cs_secret_new(s) < 0)
        return -ENOMEM;
    return cs_secret_set(*s, v, n);
}

static int set_value(cs_s3_creds *c, const char *name, const char *v, size_t n)
{
    if (strcasecmp(name, "aws_access_key_id") == 0) {
        if (!cs_s3_secret_valid(v, n, CS_S3_ACCESS_MAX))
            return -EINVAL;
        memcpy(c->access_key, v, n);
        c->access_key[n] = '\0';
    } else if (strcasecmp(name, "aws_secret_access_key") == 0) {
        return set_secret(&c->secret, v, n, CS_S3_SECRET_MAX);
    } else if (strcasecmp(name, "aws_session_token") == 0 || strcasecmp(name, "aws_security_token") == 0) {
        return set_secret(&c->token, v, n, CS_S3_SESSION_TOKEN_MAX);
    } else if (strcasecmp(name, "region") == 0) {
        if (n > CS_S3_REGION_MAX)
            return -EINVAL;
        memcpy(c->region, v, n);
        c->region[n] = '\0';
    }
    return 0;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    pctx *p = user;
    char *end;
    unsigned long i;
    int r;

    if (!name || !value || !section_matches(p, section) || value[0] != '@')
        return 1;
    errno = 0;
    i = strtoul(value + 1, &end, 10);
    if (errno || *end || i >= p->nv)
        return 1; /* not one of our references: a continuation or a stray '@' */
    r = set_value(p->c, name, p->text + p->v[i].off, p->v[i].len);
    if (r < 0) {
        log_error("'%s' in [%s] is not valid (too long, or not printable characters without spaces)",
                  name, section);
        if (!p->err)
            p->err = r;
    }
    return 1;
}

int cs_s3_profile_parse(const char *text, size_t len, const char *profile, bool config_file,
                        cs_s3_creds *c)
{
    pctx p = { .text = text, .len = len, .profile = profile, .config_file = config_file, .c = c };
    int line;

    if (len > CS_S3_PROFILE_FILE_MAX)
        return -E2BIG;
    p.v = calloc(VALUES_MAX, sizeof(*p.v));
    if (!p.v)
        return -ENOMEM;
    line = ini_parse_stream(read_line, &p, on_entry, &p);
    free(p.v);
    if (line < 0)
        return -ENOMEM;
    if (line > 0) {
        log_error("line %d: syntax error: expected a [section] line or name = value", line);
        return -EINVAL;
    }
    if (p.overflow)
        return -E2BIG;
    return p.err;
}
