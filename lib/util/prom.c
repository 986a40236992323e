/* SPDX-License-Identifier: MIT */
/* Prometheus text samples (util/prom.h). */
#include "util/prom.h"

#include <errno.h>
#include <string.h>
#include "util/json.h"

/* s between quotes, escaped; valid UTF-8 whatever s holds. */
static void label_value(FILE *f, const char *s)
{
    size_t len = strlen(s);

    for (size_t i = 0, n; i < len; i += n) {
        n = cs_utf8_sequence(s + i, len - i);
        if (n == 0) {
            fputs("\xef\xbf\xbd", f);
            n = 1;
        } else if (s[i] == '\\')
            fputs("\\\\", f);
        else if (s[i] == '"')
            fputs("\\\"", f);
        else if (s[i] == '\n')
            fputs("\\n", f);
        else
            fwrite(s + i, 1, n, f);
    }
}

int cs_prom_sample(FILE *f, const char *name, const char *const *labels, uint64_t value)
{
    fputs(name, f);
    for (size_t i = 0; labels && labels[i]; i += 2) {
        fprintf(f, "%s%s=\"", i ? "," : "{", labels[i]);
        label_value(f, labels[i + 1]);
        fputc('"', f);
    }
    fprintf(f, "%s %llu\n", labels && labels[0] ? "}" : "", (unsigned long long)value);
    return ferror(f) ? -EIO : 0;
}
