/* SPDX-License-Identifier: MIT */
/* Opening storage from cloudseal.conf's [storage] section. */
#include "storage/storage_s3.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/log.h"

bool cs_storage_url_is_s3(const char *url)
{
    return url && (strncmp(url, "s3://", 5) == 0 || strncmp(url, "s3+http://", 10) == 0);
}

static int fill_opts(const cs_config *c, cs_storage_opts *o, cs_secret **secret, bool want_secret)
{
    const char *sk_file = want_secret ? cs_config_str(c, "storage", "secret_key_file") : NULL;

    memset(o, 0, sizeof(*o));
    *secret = NULL;
    o->region = cs_config_str(c, "storage", "region");
    o->ca_file = cs_config_str(c, "storage", "ca_file");
    o->path_style = cs_config_bool(c, "storage", "path_style") ? 1 : -1;
    o->connect_timeout_ms = (int)cs_config_int(c, "storage", "connect_timeout") * 1000;
    o->request_timeout_ms = (int)cs_config_int(c, "storage", "request_timeout") * 1000;
    o->max_retries = (int)cs_config_int(c, "storage", "max_retries");
    o->access_key = cs_config_str(c, "storage", "access_key");
    if (o->access_key && sk_file) {
        int r = cs_secret_read_file(sk_file, "[storage] secret_key_file", secret);
        if (r == -EACCES) {
            /* an admin's key file this user may not read: the user's own
             * credentials (environment) are what remains */
            log_debug("[storage] secret_key_file %s is not readable by this user; "
                      "using the environment's credentials", sk_file);
            o->access_key = NULL;
            return 0;
        }
        if (r < 0)
            return r;
        o->secret_key = (*secret)->data;
        o->cred_source = "[storage] access_key and secret_key_file (cloudseal.conf)";
    } else {
        o->access_key = NULL; /* half a credential: fall back to the environment */
    }
    return 0;
}

int cs_storage_opts_from_config(const cs_config *c, cs_storage_opts *o, cs_secret **secret)
{
    return fill_opts(c, o, secret, true);
}

/* conditional_put is auto, yes or no: the config loader accepts nothing else. */
static void limits_from_config(const cs_config *c, cs_s3_limits *l)
{
    const char *cp = cs_config_str(c, "storage", "conditional_put");

    l->list_max_keys = (uint64_t)cs_config_int(c, "storage", "list_max_keys");
    l->retry_time_ms = (int)cs_config_int(c, "storage", "retry_time") * 1000;
    l->conditional_put = strcmp(cp, "yes") == 0 ? 1 : strcmp(cp, "no") == 0 ? 0 : -1;
    l->multipart_threshold = (uint64_t)cs_config_int(c, "storage", "multipart_threshold");
    l->multipart_part_size = (uint64_t)cs_config_int(c, "storage", "multipart_part_size");
    l->multipart_parallel = (int)cs_config_int(c, "storage", "multipart_parallel");
    l->upload_limit = (uint64_t)cs_config_int(c, "storage", "upload_limit");
    l->download_limit = (uint64_t)cs_config_int(c, "storage", "download_limit");
}

static int open_config(const cs_config *c, const char *url, const cs_storage_opts *creds, bool login,
                       cs_storage **out)
{
    cs_storage_opts o;
    cs_secret *secret = NULL;
    cs_s3_limits lim;
    int r;

    if (!url)
        url = cs_config_str(c, "storage", "url");
    if (!url)
        return -EINVAL;
    if (!cs_storage_url_is_s3(url))
        return cs_storage_open(url, NULL, out);
    limits_from_config(c, &lim);
    r = fill_opts(c, &o, &secret, !creds);
    if (r < 0)
        return r;
    if (creds) {
        o.access_key = creds->access_key;
        o.secret_key = creds->secret_key;
        o.session_token = creds->session_token;
        o.token_expires = creds->token_expires;
        o.cred_source = creds->cred_source;
    }
    if (login) {
        /* a login waits for storage at most [storage] login_timeout, once */
        int ms = (int)cs_config_int(c, "storage", "login_timeout") * 1000;
        o.connect_timeout_ms = ms;
        o.request_timeout_ms = ms;
        o.max_retries = 0;
        lim.retry_time_ms = ms;
        lim.list_max_keys = 1000;
    }
    r = cs_storage_open(url, &o, out);
    cs_secret_free(secret); /* the backend keeps its own copy in secure memory */
    if (r == 0)
        r = cs_s3_set_limits(*out, &lim);
    return r;
}

int cs_storage_open_config(const cs_config *c, const char *url, cs_storage **out)
{
    return open_config(c, url, NULL, false, out);
}

int cs_storage_open_config_login(const cs_config *c, cs_storage **out)
{
    return open_config(c, NULL, NULL, true, out);
}

int cs_storage_open_config_creds(const cs_config *c, const char *url, const cs_storage_opts *creds,
                                 cs_storage **out)
{
    if (!creds || !creds->access_key || !creds->secret_key)
        return -EINVAL;
    return open_config(c, url, creds, false, out);
}
