/* SPDX-License-Identifier: MIT */
/* Config file loading (inih) and typed lookups against cs_config_keys. */
#include "config/config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/parse.h"

#define CONFIG_MAX_VALUE 4096

struct cs_config {
    size_t nkeys;
    char **values; /* parallel to cs_config_keys; NULL = default */
    const char *path;
    int errors;
    /* during load: */
    int *lines;    /* parallel to values: the line that set it, 0 = none */
    size_t entries;
    const char *text, *pos; /* what inih reads, line by line */
    int done_lines;
    bool in_line;
};

static ssize_t key_index(const char *section, const char *key)
{
    for (size_t i = 0; cs_config_keys[i].section; i++)
        if (strcmp(cs_config_keys[i].section, section) == 0 && strcmp(cs_config_keys[i].key, key) == 0)
            return (ssize_t)i;
    return -1;
}

int cs_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = { "1", "yes", "true", "on" }, *no[] = { "0", "no", "false", "off" };

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return -EINVAL;
}

/* A non-negative integer followed by one of the given suffixes. */
static int parse_scaled(const char *s, const char *const *suffixes, const int64_t *scales, int64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || v > INT64_MAX)
        return -ERANGE;
    while (*end == ' ')
        end++;
    for (size_t i = 0; suffixes[i]; i++) {
        if (strcmp(end, suffixes[i]) != 0)
            continue;
        if (scales[i] && v > (unsigned long long)(INT64_MAX / scales[i]))
            return -ERANGE;
        *out = (int64_t)v * scales[i];
        return 0;
    }
    return -EINVAL;
}

int cs_parse_duration(const char *s, int64_t *seconds)
{
    static const char *const suf[] = { "", "s", "sec", "m", "min", "h", "d", "w", NULL };
    static const int64_t sc[] = { 1, 1, 1, 60, 60, 3600, 86400, 604800 };
    return parse_scaled(s, suf, sc, seconds);
}

int cs_parse_size(const char *s, int64_t *bytes)
{
    static const char *const suf[] = { "", "B", "K", "KiB", "M", "MiB", "G", "GiB", NULL };
    static const int64_t sc[] = { 1, 1, 1LL << 10, 1LL << 10, 1LL << 20, 1LL << 20, 1LL << 30, 1LL << 30 };
    return parse_scaled(s, suf, sc, bytes);
}

static int parse_number(const cs_config_key *k, const char *v, int64_t *out)
{
    uint64_t n;
    int r;

    switch (k->type) {
    case CS_CONF_DURATION: return cs_parse_duration(v, out);
    case CS_CONF_SIZE: return cs_parse_size(v, out);
    case CS_CONF_INT: /* no key takes a negative number */
        if ((r = cs_parse_uint(v, 0, INT64_MAX, &n)) < 0)
            return r;
        *out = (int64_t)n;
        return 0;
    default: return -EINVAL;
    }
}

static const char *choices_of(const cs_config_key *k)
{
    for (size_t i = 0; cs_config_choices[i].section; i++)
        if (strcmp(cs_config_choices[i].section, k->section) == 0 && strcmp(cs_config_choices[i].key, k->key) == 0)
            return cs_config_choices[i].words;
    return NULL;
}

/* Is v one of the space-separated words? */
static bool is_choice(const char *words, const char *v)
{
    size_t n = strlen(v);

    for (const char *w = words; *w;) {
        size_t len = strcspn(w, " ");
        if (len == n && n > 0 && strncmp(w, v, n) == 0)
            return true;
        w += len;
        w += strspn(w, " ");
    }
    return false;
}

static int validate(const cs_config_key *k, const char *v)
{
    const char *words;
    bool b;
    int64_t n;
    int r;

    if (strlen(v) > CONFIG_MAX_VALUE)
        return -EMSGSIZE;
    switch (k->type) {
    case CS_CONF_STRING:
        words = choices_of(k);
        return !words || is_choice(words, v) ? 0 : -EINVAL;
    case CS_CONF_BOOL: return cs_parse_bool(v, &b);
    default:
        r = parse_number(k, v, &n);
        if (r < 0)
            return r;
        return n < k->min || n > k->max ? -ERANGE : 0;
    }
}

/* A bound as it would be written in the file (3600 -> "1h"). */
static void format_bound(const cs_config_key *k, int64_t v, char *buf, size_t len)
{
    static const char *const dsuf[] = { "w", "d", "h", "min", "s" }, *const ssuf[] = { "G", "M", "K", "" };
    static const int64_t dsc[] = { 604800, 86400, 3600, 60, 1 }, ssc[] = { 1LL << 30, 1LL << 20, 1LL << 10, 1 };
    const char *const *suf = k->type == CS_CONF_DURATION ? dsuf : ssuf;
    const int64_t *sc = k->type == CS_CONF_DURATION ? dsc : ssc;
    size_t n = k->type == CS_CONF_DURATION ? 5 : 4;

    for (size_t i = 0; k->type != CS_CONF_INT && i < n; i++) {
        if (v != 0 && v % sc[i] == 0) {
            snprintf(buf, len, "%lld%s", (long long)(v / sc[i]), suf[i]);
            return;
        }
    }
    snprintf(buf, len, "%lld", (long long)v);
}

/* "logout reboot" -> "logout or reboot", "a b c" -> "a, b or c" */
static void format_choices(const char *words, char *buf, size_t len)
{
    size_t used = 0, n = 0, total = 0;

    for (const char *w = words; *w; w += strspn(w, " "), total++)
        w += strcspn(w, " ");
    buf[0] = '\0';
    for (const char *w = words; *w && used < len; n++) {
        int wl = (int)strcspn(w, " ");
        int k = snprintf(buf + used, len - used, "%s%.*s", n == 0 ? "" : n + 1 == total ? " or " : ", ", wl, w);
        if (k < 0)
            break;
        used += (size_t)k;
        w += wl;
        w += strspn(w, " ");
    }
}

void cs_config_expected(const cs_config_key *k, char *buf, size_t len)
{
    char lo[32], hi[32];
    const char *words;

    format_bound(k, k->min, lo, sizeof(lo));
    format_bound(k, k->max, hi, sizeof(hi));
    switch (k->type) {
    case CS_CONF_BOOL: snprintf(buf, len, "yes or no"); break;
    case CS_CONF_INT: snprintf(buf, len, "a whole number from %s to %s", lo, hi); break;
    case CS_CONF_DURATION: snprintf(buf, len, "a duration like 1h or 30min, from %s to %s", lo, hi); break;
    case CS_CONF_SIZE: snprintf(buf, len, "a size like 256M or 1G, from %s to %s", lo, hi); break;
    default:
        words = choices_of(k);
        if (words)
            format_choices(words, buf, len);
        else
            snprintf(buf, len, "at most %d bytes", CONFIG_MAX_VALUE);
    }
}

int cs_config_set(cs_config *c, const char *section, const char *key, const char *value)
{
    ssize_t i = key_index(section, key);
    char *copy;
    int r;

    if (i < 0)
        return -ENOENT;
    r = validate(&cs_config_keys[i], value);
    if (r < 0)
        return r;
    copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    free(c->values[i]);
    c->values[i] = copy;
    return 0;
}

/* End-of-line comments, as the examples in README.md and cloudseal.conf(5)
 * write them: inih (Debian's build) strips " ; ..." itself but keeps
 * " # ...".  A '#' starts a comment at the start of the value or after a
 * space or tab, so that a '#' inside a word (a URL fragment, a#b) stays. */
static void strip_comment(char *v)
{
    size_t n;

    for (char *p = v; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        v[--n] = '\0';
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *raw)
{
    cs_config *c = user;
    int line = c->done_lines + (c->in_line ? 1 : 0);
    ssize_t i = -1;
    char *value, expected[160];
    int r;

    if (!name) /* a bare [section] line */
        return 1;
    c->entries++;
    i = key_index(section, name);
    if (i >= 0 && c->lines[i]) {
        log_error("%s:%d: '%s' in [%s] is given twice (first on line %d): keep one", c->path, line, name,
                  section, c->lines[i]);
        c->errors++;
        return 1;
    }
    if (i >= 0)
        c->lines[i] = line;
    value = strdup(raw ? raw : "");
    if (!value) {
        log_error("%s:%d: out of memory", c->path, line);
        c->errors++;
        return 1;
    }
    strip_comment(value);
    r = cs_config_set(c, section, name, value);
    if (r == 0) /* --debug: what the program made of the file */
        log_debug("%s:%d: [%s] %s = '%s'", c->path, line, section, name, value);
    if (r == -ENOENT) {
        log_warning("%s:%d: unknown key '%s' in [%s], ignored (see cloudseal.conf(5))", c->path, line, name,
                    section);
    } else if (r < 0) {
        cs_config_expected(&cs_config_keys[i], expected, sizeof(expected));
        log_error("invalid value '%.64s%s' for '%s' in [%s] at %s:%d: %s", value, strlen(value) > 64 ? "..." : "",
                  name, section, c->path, line, expected);
        c->errors++;
    }
    free(value);
    return 1;
}

int cs_config_new_default(cs_config **out)
{
    cs_config *c = calloc(1, sizeof(*c));

    if (!c)
        return -ENOMEM;
    while (cs_config_keys[c->nkeys].section)
        c->nkeys++;
    c->values = calloc(c->nkeys, sizeof(char *));
    if (!c->values) {
        free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

/* inih's line reader over the text, counting the lines it has handed out
 * so the handler can name the line of a key (inih does not). */
static char *read_line(char *str, int num, void *stream)
{
    cs_config *c = stream;
    int n = 0;

    if (!*c->pos || num < 2)
        return NULL;
    while (n < num - 1 && c->pos[0]) {
        str[n++] = *c->pos++;
        if (str[n - 1] == '\n')
            break;
    }
    str[n] = '\0';
    c->in_line = str[n - 1] != '\n';
    if (!c->in_line)
        c->done_lines++;
    return str;
}

int cs_config_parse_text(const char *name, const void *data, size_t len, bool named, cs_config **out)
{
    cs_config *c = NULL;
    cs_buf text = CS_BUF_INIT;
    int r, line;

    *out = NULL;
    if (len > CS_CONFIG_MAX_BYTES)
        return -EFBIG;
    r = cs_config_new_default(&c);
    if (r < 0)
        return r;
    c->path = name;
    r = cs_buf_append(&text, data, len);
    if (r == 0)
        r = cs_buf_append(&text, "", 1); /* NUL-terminate for the reader */
    if (r == 0 && !(c->lines = calloc(c->nkeys, sizeof(int))))
        r = -ENOMEM;
    if (r < 0)
        goto out;
    c->text = c->pos = (const char *)text.data;
    line = ini_parse_stream(read_line, c, on_ini_entry, c);
    if (line > 0) {
        log_error("%s:%d: syntax error: expected a [section] line, key = value, or a comment starting "
                  "with # or ;", name, line);
        r = -EINVAL;
    } else if (line < 0) {
        r = -ENOMEM;
    } else if (c->errors) {
        r = -EINVAL;
    } else if (named && !c->entries) {
        /* a file named on purpose that sets nothing is a mistake, not "all defaults" */
        log_error("%s sets nothing: give the configuration file you meant with --config or "
                  "$CLOUDSEAL_CONFIG", name);
        r = -EINVAL;
    }
out:
    free(c->lines);
    c->lines = NULL;
    c->text = c->pos = NULL;
    c->path = NULL; /* only valid during parsing */
    cs_buf_free(&text);
    if (r < 0) {
        cs_config_free(c);
        return r;
    }
    *out = c;
    return 0;
}

int cs_config_load(const char *path, cs_config **out)
{
    cs_buf text = CS_BUF_INIT;
    bool named = path && strcmp(path, CS_CONFIG_DEFAULT_PATH) != 0;
    int r;

    if (!path)
        path = CS_CONFIG_DEFAULT_PATH;
    r = cs_read_file(path, CS_CONFIG_MAX_BYTES, &text);
    if (r == -ENOENT && !named)
        return cs_config_new_default(out); /* no configuration file: all defaults */
    if (r == -ENOENT)
        log_error("the configuration file %s does not exist: fix --config or $CLOUDSEAL_CONFIG (without "
                  "them %s is used)", path, CS_CONFIG_DEFAULT_PATH);
    else if (r < 0)
        log_error("cannot read %s: %s", path, strerror(-r));
    else
        r = cs_config_parse_text(path, text.data, text.len, named, out);
    cs_buf_free(&text);
    return r;
}

void cs_config_free(cs_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkeys; i++)
        free(c->values[i]);
    free(c->values);
    free(c);
}

static const char *lookup(const cs_config *c, const char *section, const char *key, ssize_t *idx)
{
    ssize_t i = key_index(section, key);

    if (i < 0) {
        log_error("internal error: undeclared config key %s.%s", section, key);
        abort();
    }
    *idx = i;
    return c->values[i] ? c->values[i] : cs_config_keys[i].default_value;
}

const char *cs_config_str(const cs_config *c, const char *section, const char *key)
{
    ssize_t i;
    return lookup(c, section, key, &i);
}

int64_t cs_config_int(const cs_config *c, const char *section, const char *key)
{
    ssize_t i;
    const char *v = lookup(c, section, key, &i);
    int64_t n = 0;

    if (v)
        (void)parse_number(&cs_config_keys[i], v, &n); /* validated on set; defaults are trusted */
    return n;
}

bool cs_config_bool(const cs_config *c, const char *section, const char *key)
{
    ssize_t i;
    const char *v = lookup(c, section, key, &i);
    bool b = false;

    if (v)
        (void)cs_parse_bool(v, &b);
    return b;
}
