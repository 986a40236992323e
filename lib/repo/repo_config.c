/* SPDX-License-Identifier: MIT */
/* The config object: reading it, a verified local copy of it, and what
 * happens when storage's copy is damaged or gone.
 *
 * The config holds the repository id (which names the local cache) and the
 * secret gear table of the chunker; nothing a restore needs.  So a config
 * that does not authenticate must not strand intact packs: every open that
 * reads a good one keeps its sealed bytes in <cache>/<repo id>/config;
 * when storage's fails, that copy is used (and 'repair config' puts it
 * back); without any copy the repository opens without a config (restore,
 * ls and check work; backup refuses: a new gear table would cut files at
 * other places, so nothing would deduplicate against the stored data). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

/* Unseal and parse a config; fills what is not NULL. */
static int config_open(const cs_repo *r, const uint8_t *raw, size_t len, cs_id *repo_id, cs_chunker **chunker)
{
    _cleanup_buf_ cs_buf pt = CS_BUF_INIT;
    uint64_t gear[256];
    cs_chunker *ch;
    cs_reader rd;
    const uint8_t *id;
    uint32_t version, min, avg, max;
    int rc = cs_unseal(r->keys->data, CS_OBJ_CONFIG, NULL, raw, len, &pt);

    if (rc < 0)
        return rc;
    rd = cs_rd_init(pt.data, pt.len);
    if (cs_get_le32(&rd, &version) < 0 || version != CS_CONFIG_VERSION || pt.len != CS_CONFIG_LEN)
        return -EBADMSG;
    cs_get_le32(&rd, &min);
    cs_get_le32(&rd, &avg);
    cs_get_le32(&rd, &max);
    if (cs_get_bytes(&rd, 32, &id) == 0 && repo_id)
        memcpy(repo_id->b, id, 32);
    for (int i = 0; i < 256; i++)
        cs_get_le64(&rd, &gear[i]);
    ch = cs_secure_alloc(sizeof(*ch));
    rc = !ch ? -ENOMEM : rd.err ? -EBADMSG : cs_chunker_init(ch, gear, min, avg, max) < 0 ? -EBADMSG : 0;
    cs_wipe(gear, sizeof(gear));
    if (rc == 0 && chunker)
        *chunker = CS_TAKE_PTR(ch);
    cs_secure_free(ch);
    return rc;
}

/* Keep storage's verified config bytes in the cache (written only when
 * they differ from what is there: not one fsync per open). */
static void keep_copy(const cs_repo *r, const char *root, const cs_buf *raw)
{
    _cleanup_buf_ cs_buf old = CS_BUF_INIT;
    char dir[4096], path[4200], hex[65];
    int rc = 0;

    cs_id_hex(&r->repo_id, hex);
    if (snprintf(dir, sizeof(dir), "%s/%s", root, hex) >= (int)sizeof(dir))
        rc = -ENAMETOOLONG;
    snprintf(path, sizeof(path), "%s/config", dir);
    if (rc == 0 && cs_read_file(path, CS_CONFIG_SEALED_MAX, &old) == 0 && old.len == raw->len &&
        memcmp(old.data, raw->data, raw->len) == 0)
        return;
    if (rc == 0)
        rc = cs_mkdir_p(dir, 0700);
    if (rc == 0)
        rc = cs_write_file_atomic(path, raw->data, raw->len, 0600);
    if (rc < 0)
        log_warning_errno(rc, "cannot keep a copy of the repository config in %s (%m): if storage's copy is "
                          "ever damaged, 'cloudseal repair config' needs one", path);
}

/* Bytes in place that a copy shares with storage's damaged object: most
 * of them for the same object flipped or truncated (its random nonce
 * included), few for another repository's config. */
static size_t same_bytes(const cs_buf *a, const cs_buf *b)
{
    size_t n = 0;

    for (size_t i = 0; i < a->len && i < b->len; i++)
        n += a->data[i] == b->data[i];
    return n;
}

/* A verified copy of this repository's config under root: one whose
 * directory is named by the repository id inside it.  Several (other
 * repositories of this account, e.g. another storage): the one that
 * differs from storage's damaged bytes in a few places, else none. */
static int find_copy(const cs_repo *r, const char *root, const cs_buf *damaged, cs_buf *out, char **where)
{
    DIR *d = root ? opendir(root) : NULL;
    struct dirent *e;
    size_t found = 0, best = 0;
    int rc = -ENOENT;

    if (!d)
        return -ENOENT;
    while ((e = readdir(d))) {
        _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
        char path[4096];
        cs_id name, id;
        size_t same;
        if (cs_id_parse(e->d_name, &name) < 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s/config", root, e->d_name);
        if (cs_read_file(path, CS_CONFIG_SEALED_MAX, &raw) < 0 || config_open(r, raw.data, raw.len, &id, NULL) < 0 ||
            memcmp(id.b, name.b, CS_ID_LEN) != 0)
            continue;
        found++;
        same = same_bytes(&raw, damaged);
        if (found == 1 || same > best) {
            best = same;
            cs_buf_reset(out);
            free(*where);
            *where = strdup(path);
            rc = *where ? cs_buf_append(out, raw.data, raw.len) : -ENOMEM;
            if (rc < 0)
                break;
        }
    }
    closedir(d);
    if (rc == 0 && found > 1 && best * 2 <= damaged->len) {
        log_error("%zu verified copies of configs of your repositories are in %s and nothing tells which is "
                  "this one's (storage's is missing or too damaged to compare): none is used", found, root);
        rc = -ENOENT;
    }
    return rc;
}

/* Is the repository at r's prefix this account's?  Yes when one of its
 * snapshot or index objects authenticates with our keys: then a config
 * that does not is damaged, not another account's. */
static int is_ours(cs_repo *r)
{
    static const struct { const char *kind; int type; } kinds[] = {
        { "snapshots", CS_OBJ_SNAPSHOT }, { "index", CS_OBJ_INDEX } };

    for (size_t k = 0; k < 2; k++) {
        _cleanup_free_ cs_id *ids = NULL;
        size_t n = 0;
        int rc = cs_repo_list_ids(r, kinds[k].kind, &ids, &n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            _cleanup_buf_ cs_buf pt = CS_BUF_INIT;
            if (cs_repo_get_sealed(r, kinds[k].kind, kinds[k].type, &ids[i], &pt) == 0)
                return 1;
        }
    }
    return 0;
}

int cs_repo_load_config(cs_repo *r, const char *root)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    _cleanup_free_ char *where = NULL;
    char key[1200];
    int rc, ours;

    cs_repo_key(r, "config", NULL, key, sizeof(key));
    rc = cs_storage_get(r->st, key, 0, 0, CS_CONFIG_SEALED_MAX, &raw);
    if (rc == -EMSGSIZE)
        rc = -EBADMSG;
    if (rc == 0)
        rc = config_open(r, raw.data, raw.len, &r->repo_id, &r->chunker);
    if (rc == 0 && root)
        keep_copy(r, root, &raw);
    if (rc != -EBADMSG && rc != -ENOENT)
        return rc;
    /* no config, or none that authenticates: damage, or not our repository? */
    if ((ours = is_ours(r)) <= 0)
        return ours < 0 ? ours : rc;
    r->config_err = rc;
    if (find_copy(r, root, &raw, &r->config_copy, &where) == 0 &&
        config_open(r, r->config_copy.data, r->config_copy.len, &r->repo_id, &r->chunker) == 0) {
        log_warning("the repository config %s is %s: using the verified copy %s; run 'cloudseal repair config' "
                    "to put it back into storage", key, rc == -ENOENT ? "missing" : "damaged", where);
        return 0;
    }
    cs_buf_reset(&r->config_copy);
    log_error("the repository config %s is %s and no verified copy of it is on this machine: restore, ls and "
              "check still work (they need nothing from it), backup cannot (the config holds the secret "
              "chunking table, which cannot be recreated compatibly: nothing new would deduplicate against "
              "the stored data); run 'cloudseal repair config' on a machine that has used this repository "
              "(each keeps a verified copy in its cache)", key, rc == -ENOENT ? "missing" : "damaged");
    return 0;
}

int cs_repo_repair_config(cs_repo *r, cs_repair_config_result *res)
{
    _cleanup_buf_ cs_buf back = CS_BUF_INIT;
    char key[1200];
    cs_id id;
    int rc;

    memset(res, 0, sizeof(*res));
    res->storage_err = r->config_err;
    if (r->config_err == 0)
        return 0; /* storage's authenticates: never replaced */
    if (!r->config_copy.len)
        return -ENOENT;
    cs_repo_key(r, "config", NULL, key, sizeof(key));
    /* a missing one only where there is still none; a damaged one replaced */
    rc = cs_storage_put(r->st, key, r->config_copy.data, r->config_copy.len,
                        r->config_err == -ENOENT ? CS_PUT_IMMUTABLE : CS_PUT_REPLACE);
    if (rc == 0)
        rc = cs_storage_get(r->st, key, 0, 0, CS_CONFIG_SEALED_MAX, &back);
    if (rc == 0)
        rc = config_open(r, back.data, back.len, &id, NULL);
    if (rc == 0 && memcmp(id.b, r->repo_id.b, CS_ID_LEN) != 0)
        rc = -EBADMSG;
    if (rc == 0) {
        res->written = true;
        r->config_err = 0;
    }
    return rc;
}
