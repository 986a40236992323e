/* SPDX-License-Identifier: MIT */
/* Strings of a JSON document from another process, made valid UTF-8
 * (cli_json.h).  json-c reads and writes a string's bytes as they are: a
 * reply that is not UTF-8 passed through would make the CLI's own output
 * unreadable to a strict parser. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

static bool string_ok(json_object *v)
{
    return !json_object_is_type(v, json_type_string) ||
           cs_utf8_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* An array of strings only, one of them not UTF-8: it goes out as names. */
static bool names_array(json_object *a)
{
    size_t n = json_object_array_length(a);
    bool bad = false;

    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);

        if (!json_object_is_type(v, json_type_string))
            return false;
        bad |= !string_ok(v);
    }
    return bad;
}

static int fix_member(json_object *o, const char *key, json_object *v)
{
    _cleanup_strv_ cs_strv names = CS_STRV_INIT;
    int r = 0;

    /* copies: adding under key frees v, and its strings with it */
    if (json_object_is_type(v, json_type_string)) {
        _cleanup_free_ char *s = strdup(json_object_get_string(v));

        return s ? cs_json_add_name(o, key, s) : -ENOMEM;
    }
    for (size_t i = 0; r >= 0 && i < json_object_array_length(v); i++)
        r = cs_strv_add(&names, json_object_get_string(json_object_array_get_idx(v, i)));
    return r < 0 ? r : cs_json_add_names(o, key, names.v, names.n);
}

static int fix_object(json_object *o)
{
    _cleanup_strv_ cs_strv keys = CS_STRV_INIT, drop = CS_STRV_INIT;
    int r = 0;

    /* the keys to fix first: adding KEY_base64 while iterating could
     * rehash the table under the iterator */
    json_object_object_foreach(o, key, v) {
        if (!cs_utf8_valid(key, strlen(key)))
            r = cs_strv_add(&drop, key); /* no program could ask for it by name */
        else if (!string_ok(v) || (json_object_is_type(v, json_type_array) && names_array(v)))
            r = cs_strv_add(&keys, key);
        else
            r = cli_json_utf8(v);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; r >= 0 && i < keys.n; i++) {
        json_object *m = NULL;

        json_object_object_get_ex(o, keys.v[i], &m);
        r = fix_member(o, keys.v[i], m);
    }
    for (size_t i = 0; i < drop.n; i++)
        json_object_object_del(o, drop.v[i]);
    return r;
}

static int fix_array(json_object *a)
{
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *v = json_object_array_get_idx(a, i), *shown;
        int r;

        if (string_ok(v)) {
            if ((r = cli_json_utf8(v)) < 0)
                return r;
            continue;
        }
        /* a name in a mixed array: the U+FFFD form, through a scratch object */
        if (!(shown = json_object_new_object()) ||
            cs_json_add_name(shown, "s", json_object_get_string(v)) < 0 ||
            !json_object_object_get_ex(shown, "s", &v) ||
            json_object_array_put_idx(a, i, json_object_get(v)) < 0) {
            json_object_put(shown);
            return -ENOMEM;
        }
        json_object_put(shown);
    }
    return 0;
}

int cli_json_utf8(json_object *o)
{
    if (json_object_is_type(o, json_type_object))
        return fix_object(o);
    if (json_object_is_type(o, json_type_array))
        return fix_array(o);
    return 0;
}

/* One process prints one document: what went wrong building or writing
 * it, said once (a listing's every row would say it again). */
static bool output_failed;

#define NOMEM "out of memory building the JSON output, nothing was printed; try again"
#define WRITE "cannot write the output; check where it goes (a full disk, a closed pipe)"

static int output_fail(int r, const char *what)
{
    if (!output_failed)
        log_error_errno(r, "%s", what);
    output_failed = true;
    return r;
}

void cli_json_add(json_object *o, const char *key, json_object *v)
{
    if (!v || !o || json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        output_fail(-ENOMEM, NOMEM);
    }
}

void cli_json_push(json_object *a, json_object *v)
{
    if (!v || !a || json_object_array_add(a, v) < 0) {
        json_object_put(v);
        output_fail(-ENOMEM, NOMEM);
    }
}

int cli_fprint_json(FILE *f, json_object *o, int flags)
{
    const char *s = o && !output_failed ? json_object_to_json_string_ext(o, flags) : NULL;
    int r = 0;

    if (!s) /* nothing half-printed */
        r = output_fail(-ENOMEM, NOMEM);
    else if (fputs(s, f) == EOF || putc('\n', f) == EOF || fflush(f) == EOF)
        r = output_fail(-errno, WRITE);
    json_object_put(o);
    return r < 0 ? CLI_FAILED : CLI_OK;
}

int cli_output_end(int ex)
{
    int r = fflush(stdout) == EOF ? -errno : ferror(stdout) ? -EIO : 0;

    if (r < 0)
        output_fail(r, WRITE);
    return output_failed && ex == CLI_OK ? CLI_FAILED : ex;
}
