/* SPDX-License-Identifier: MIT */
/* Walking snapshot trees (ls) and comparing two snapshots (diff).  diff
 * skips identical subtree ids, so it costs only what changed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/log.h"

/* ls and diff run alone on the repository: a tree the index lacks is
 * looked for in the packs no index object names (their own headers). */
static int load_tree(cs_repo *r, const cs_id *id, cs_tree *t)
{
    int rc = cs_tree_load(r, id, t);

    if (rc == -ENOENT && cs_repo_index_unindexed(r, NULL) > 0)
        rc = cs_tree_load(r, id, t);
    return rc;
}

static int walk_tree(cs_repo *r, const cs_id *id, const char *prefix, cs_walk_cb cb, void *ud, int depth)
{
    cs_tree t;
    int rc;

    if (depth > 4096)
        return -ELOOP;
    rc = load_tree(r, id, &t);
    if (rc < 0) {
        char hex[65];
        cs_id_hex(id, hex);
        log_error("%s: tree blob %s is %s", prefix[0] ? prefix : "/", hex, rc == -ENOENT ? "missing" : "damaged");
        return rc;
    }
    for (size_t i = 0; i < t.n && rc == 0; i++) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", prefix, t.nodes[i].name) < 0) {
            rc = -ENOMEM;
            break;
        }
        rc = cb(p, &t.nodes[i], ud);
        if (rc == 0 && t.nodes[i].type == CS_NODE_DIR)
            rc = walk_tree(r, &t.nodes[i].subtree, p, cb, ud, depth + 1);
        free(p);
    }
    cs_tree_free(&t);
    return rc;
}

int cs_walk(cs_repo *r, const cs_snapshot *s, const char *subpath, cs_walk_cb cb, void *ud)
{
    char *copy, *save = NULL, *comps[512], prefix[8192] = "";
    size_t nc = 0;
    cs_id cur = s->tree;
    int rc = 0;

    if (!subpath || !subpath[0] || strcmp(subpath, "/") == 0)
        return walk_tree(r, &cur, "", cb, ud, 0);
    copy = strdup(subpath);
    if (!copy)
        return -ENOMEM;
    for (char *c = strtok_r(copy, "/", &save); c && nc < 512; c = strtok_r(NULL, "/", &save))
        if (strcmp(c, ".") != 0)
            comps[nc++] = c;
    for (size_t k = 0; k < nc && rc == 0; k++) {
        cs_tree t;
        size_t i;
        size_t l = strlen(prefix);
        if ((rc = load_tree(r, &cur, &t)) < 0)
            break;
        for (i = 0; i < t.n && strcmp(t.nodes[i].name, comps[k]) != 0; i++)
            ;
        snprintf(prefix + l, sizeof(prefix) - l, "/%s", comps[k]);
        if (i == t.n) {
            rc = -ENOENT;
        } else if (k + 1 == nc) {
            rc = cb(prefix, &t.nodes[i], ud);
            if (rc == 0 && t.nodes[i].type == CS_NODE_DIR)
                rc = walk_tree(r, &t.nodes[i].subtree, prefix, cb, ud, 0);
        } else if (t.nodes[i].type != CS_NODE_DIR) {
            rc = -ENOTDIR;
        } else {
            cur = t.nodes[i].subtree;
        }
        cs_tree_free(&t);
    }
    free(copy);
    return rc;
}

static bool same_content(const cs_node *a, const cs_node *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == CS_NODE_FILE)
        return a->ncontent == b->ncontent && a->size == b->size &&
               (a->ncontent == 0 || memcmp(a->content, b->content, a->ncontent * sizeof(cs_id)) == 0);
    if (a->type == CS_NODE_SYMLINK)
        return a->link_len == b->link_len && memcmp(a->link, b->link, a->link_len) == 0;
    return a->rdev == b->rdev;
}

static bool same_meta(const cs_node *a, const cs_node *b)
{
    return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid && a->mtime_s == b->mtime_s &&
           a->mtime_ns == b->mtime_ns && a->nxattrs == b->nxattrs;
}

static int report_all(cs_repo *r, char what, const char *path, const cs_node *n, cs_diff_cb cb, void *ud);

static int report_tree(cs_repo *r, char what, const cs_id *id, const char *prefix, cs_diff_cb cb, void *ud)
{
    cs_tree t;
    int rc = load_tree(r, id, &t);

    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", prefix, t.nodes[i].name) < 0)
            return -ENOMEM;
        rc = report_all(r, what, p, &t.nodes[i], cb, ud);
        free(p);
    }
    if (rc == 0 || t.nodes)
        cs_tree_free(&t);
    return rc;
}

static int report_all(cs_repo *r, char what, const char *path, const cs_node *n, cs_diff_cb cb, void *ud)
{
    int rc = cb(what, path, what == '+' ? NULL : n, what == '+' ? n : NULL, ud);

    if (rc == 0 && n->type == CS_NODE_DIR)
        rc = report_tree(r, what, &n->subtree, path, cb, ud);
    return rc;
}

static int diff_tree(cs_repo *r, const cs_id *a, const cs_id *b, const char *prefix, cs_diff_cb cb, void *ud)
{
    cs_tree ta, tb;
    size_t i = 0, j = 0;
    int rc;

    if (memcmp(a->b, b->b, CS_ID_LEN) == 0)
        return 0;
    if ((rc = load_tree(r, a, &ta)) < 0)
        return rc;
    if ((rc = load_tree(r, b, &tb)) < 0) {
        cs_tree_free(&ta);
        return rc;
    }
    while (rc == 0 && (i < ta.n || j < tb.n)) {
        int c = i == ta.n ? 1 : j == tb.n ? -1
                : cs_name_cmp(ta.nodes[i].name, ta.nodes[i].name_len, tb.nodes[j].name, tb.nodes[j].name_len);
        const cs_node *na = c <= 0 ? &ta.nodes[i] : NULL, *nb = c >= 0 ? &tb.nodes[j] : NULL;
        char *p = NULL;
        if (asprintf(&p, "%s/%s", prefix, (na ? na : nb)->name) < 0) {
            rc = -ENOMEM;
            break;
        }
        if (!nb) {
            rc = report_all(r, '-', p, na, cb, ud);
        } else if (!na) {
            rc = report_all(r, '+', p, nb, cb, ud);
        } else if (na->type != nb->type) {
            rc = report_all(r, '-', p, na, cb, ud);
            if (rc == 0)
                rc = report_all(r, '+', p, nb, cb, ud);
        } else {
            if (!same_content(na, nb))
                rc = cb('M', p, na, nb, ud);
            else if (!same_meta(na, nb))
                rc = cb('U', p, na, nb, ud);
            if (rc == 0 && na->type == CS_NODE_DIR)
                rc = diff_tree(r, &na->subtree, &nb->subtree, p, cb, ud);
        }
        free(p);
        if (c <= 0)
            i++;
        if (c >= 0)
            j++;
    }
    cs_tree_free(&ta);
    cs_tree_free(&tb);
    return rc;
}

int cs_diff(cs_repo *r, const cs_snapshot *a, const cs_snapshot *b, cs_diff_cb cb, void *ud)
{
    return diff_tree(r, &a->tree, &b->tree, "", cb, ud);
}
