/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes (a user or host name from a report any client
 * writes) as a Prometheus label value.  Checks the promise of
 * cs_prom_sample(): one line, valid UTF-8, and the value unescaped ends at
 * its own closing quote, with no byte of the input lost but the ones that
 * were not UTF-8 (each one U+FFFD). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/prom.h"

/* The value between the quotes of `m{v="..."} 1\n`, unescaped, or abort(). */
static size_t unescape(const char *p, char *out)
{
    size_t n = 0;

    for (; *p != '"'; p++) {
        if (*p == '\n' || !*p)
            abort();
        if (*p == '\\') {
            p++;
            if (*p != '\\' && *p != '"' && *p != 'n')
                abort();
            out[n++] = *p == 'n' ? '\n' : *p;
        } else
            out[n++] = *p;
    }
    if (strcmp(p, "\"} 1\n") != 0)
        abort();
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = strndup((const char *)data, size), *text = NULL, *back = NULL;
    const char *labels[] = { "v", value, NULL };
    size_t len = 0, n, k = 0;
    FILE *f;

    if (!value || !(f = open_memstream(&text, &len)))
        goto out;
    if (cs_prom_sample(f, "m", labels, 1) < 0 || fclose(f) != 0)
        goto out;
    if (!cs_utf8_valid(text, len) || strncmp(text, "m{v=\"", 5) != 0 || !(back = malloc(len)))
        abort();
    n = unescape(text + 5, back);
    for (size_t i = 0, s; value[i]; i += s ? s : 1) { /* back == value, each invalid byte as U+FFFD */
        const char *want;
        size_t w;

        s = cs_utf8_sequence(value + i, strlen(value + i));
        want = s ? value + i : "\xef\xbf\xbd";
        w = s ? s : 3;
        if (k + w > n || memcmp(back + k, want, w) != 0)
            abort();
        k += w;
    }
    if (k != n)
        abort();
out:
    free(back);
    free(text);
    free(value);
    return 0;
}
