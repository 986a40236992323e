/* SPDX-License-Identifier: MIT */
/* Backend dispatch by URL scheme, and key validation shared by backends. */
#include "storage/storage.h"
#include "storage/storage_s3.h"

#include <errno.h>
#include <string.h>

static const struct cs_storage_ops *const backends[] = {
    &cs_storage_file_ops,
    &cs_storage_s3_ops,
    &cs_storage_s3http_ops,
};

int cs_storage_open(const char *url, const cs_storage_opts *opts, cs_storage **out)
{
    static const cs_storage_opts no_opts = { .max_retries = -1 };
    const char *colon = url ? strstr(url, "://") : NULL;

    if (!colon)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        size_t n = strlen(backends[i]->scheme);
        if ((size_t)(colon - url) == n && strncmp(url, backends[i]->scheme, n) == 0)
            return backends[i]->open(url, opts ? opts : &no_opts, out);
    }
    return -EPROTONOSUPPORT;
}

void cs_storage_close(cs_storage *s)
{
    if (s)
        s->ops->close(s);
}

int cs_storage_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    const char *comp = key;

    if (n == 0 || n > 1024 || key[0] == '/')
        return -EINVAL;
    for (const char *p = key;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t cl = (size_t)(p - comp);
            if (cl == 0 || (cl == 1 && comp[0] == '.') || (cl == 2 && comp[0] == '.' && comp[1] == '.'))
                return -EINVAL;
            if (*p == '\0')
                return 0;
            comp = p + 1;
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return -EINVAL;
        }
    }
}
