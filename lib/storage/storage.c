/* SPDX-License-Identifier: MIT */
/* Backend dispatch by URL scheme, and key validation shared by backends. */
#include "storage/storage.h"
#include "storage/storage_s3.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

static void *task_thread(void *arg)
{
    cs_storage_task *t = arg;

    t->rc = t->fn(t->arg);
    return NULL;
}

#define TASK_THREADS 8

void cs_storage_run_tasks(cs_storage *s, cs_storage_task *tasks, size_t n)
{
    pthread_t th[TASK_THREADS];
    bool started[TASK_THREADS] = { false };
    size_t nth = s->ops == &cs_storage_file_ops ? 0 : n < TASK_THREADS ? n : TASK_THREADS;

    for (size_t i = 1; i < nth; i++)
        started[i] = pthread_create(&th[i], NULL, task_thread, &tasks[i]) == 0;
    for (size_t i = 0; i < n; i++)
        if (i >= nth || !started[i]) /* the first, those past the threads, any a thread could not be had for */
            tasks[i].rc = tasks[i].fn(tasks[i].arg);
    for (size_t i = 1; i < nth; i++)
        if (started[i])
            pthread_join(th[i], NULL);
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

/* A file:// store: the directory is the thing to name, whatever failed in it. */
static const char *explain_file(const char *path, int err, char *buf, size_t n)
{
    struct stat st;

    if (stat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
        snprintf(buf, n, "the file:// storage directory %s does not exist: check [storage] url, or mount "
                 "the disk it is on", path);
    else if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
        snprintf(buf, n, "the file:// storage %s is not a directory: check [storage] url", path);
    else if (err == -EACCES || err == -EPERM)
        snprintf(buf, n, "the file:// storage directory %s (or what is in it) may not be written by you: "
                 "ask your administrator for a directory of your own there", path);
    else if (err == -EROFS)
        snprintf(buf, n, "the file:// storage directory %s is on a read-only file system", path);
    else if (err == -ENOSPC || err == -EDQUOT)
        cs_format_errno(buf, n, err, "the disk of the file:// storage directory %s is full (%m): free space "
                        "there", path);
    else
        cs_format_errno(buf, n, err, "the file:// storage directory %s: %m", path);
    return buf;
}

const char *cs_storage_explain(const char *url, int err, char *buf, size_t n)
{
    if (url && strncmp(url, "file://", 7) == 0)
        return explain_file(url + 7, err, buf, n);
    if (cs_storage_url_is_s3(url)) {
        const char *hint = cs_s3_hint(err);
        /* cs_s3_hint's fallback points at earlier messages: the errno says more here */
        snprintf(buf, n, "S3 storage %s: %s", url,
                 strcmp(hint, "see the messages above") != 0 ? hint : strerror(-err));
    }
    else if (err == -EPROTONOSUPPORT || err == -EINVAL)
        snprintf(buf, n, "[storage] url '%s' is not a storage URL: expected file:///PATH or "
                 "s3://host[:port]/bucket[/prefix]", url ? url : "");
    else
        cs_format_errno(buf, n, err, "the storage %s: %m", url ? url : "");
    return buf;
}
