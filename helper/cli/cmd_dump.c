/* SPDX-License-Identifier: MIT */
/* cloudseal dump: one file of a snapshot to stdout, byte-exact, or a
 * directory as a pax tar stream (libarchive) with owners, modes, ns times,
 * xattrs and hardlinks, so that 'cloudseal dump latest DIR | tar -x' works.
 * Reads only the trees on the way and the blobs of what is written. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "repo/browse.h"
#include "unlock_common.h"
#include "util/log.h"

#define DUMP_BUF (1u << 20)

/* A file's bytes through write(fd) or into the archive. */
static int copy_file(cs_browse *b, const cs_node *n, int fd, struct archive *a, const char *path)
{
    cs_bfile f;
    uint8_t *buf = NULL;
    uint64_t off = 0;
    int rc = cs_bfile_open(b, n, &f);

    if (rc == 0 && !(buf = malloc(DUMP_BUF)))
        rc = -ENOMEM;
    while (rc == 0 && off < f.size) {
        ssize_t got = cs_bfile_read(b, &f, buf, DUMP_BUF, off), w = 0;
        if (got <= 0) {
            rc = got < 0 ? (int)got : -EIO;
            break;
        }
        for (ssize_t put = 0; put < got && rc == 0; put += w) {
            w = a ? archive_write_data(a, buf + put, (size_t)(got - put)) : write(fd, buf + put, (size_t)(got - put));
            if (w <= 0)
                rc = a ? -EIO : errno == EINTR ? (w = 0) : -errno;
        }
        off += (uint64_t)got;
    }
    if (rc < 0 && rc != -EPIPE)
        log_error_errno(rc, "%s: cannot dump the file's data", path);
    free(buf);
    cs_bfile_close(&f);
    return rc;
}

typedef struct tar_ctx {
    cs_browse *b;
    struct archive *a;
    struct archive_entry *e;
    struct { uint64_t dev, ino; char *path; } *links; /* hardlinked files written so far */
    size_t nlinks;
} tar_ctx;

/* The path this hardlinked file was first written under, or NULL (then it is remembered). */
static const char *link_target(tar_ctx *c, const cs_node *n, const char *path)
{
    void *grown;

    for (size_t i = 0; i < c->nlinks; i++)
        if (c->links[i].dev == n->dev && c->links[i].ino == n->inode)
            return c->links[i].path;
    if (!(grown = realloc(c->links, (c->nlinks + 1) * sizeof(*c->links))))
        return NULL;
    c->links = grown;
    c->links[c->nlinks].dev = n->dev;
    c->links[c->nlinks].ino = n->inode;
    if ((c->links[c->nlinks].path = strdup(path)))
        c->nlinks++;
    return NULL;
}

static int tar_node(tar_ctx *c, const char *path, const cs_node *n)
{
    struct archive_entry *e = archive_entry_clear(c->e);
    const char *link = NULL;

    archive_entry_copy_pathname(e, path);
    archive_entry_set_mode(e, cs_node_st_mode(n));
    archive_entry_set_uid(e, n->uid);
    archive_entry_set_gid(e, n->gid);
    if (n->user[0])
        archive_entry_copy_uname(e, n->user);
    if (n->group[0])
        archive_entry_copy_gname(e, n->group);
    archive_entry_set_mtime(e, n->mtime_s, n->mtime_ns);
    archive_entry_set_ctime(e, n->ctime_s, n->ctime_ns);
    for (uint16_t i = 0; i < n->nxattrs; i++)
        archive_entry_xattr_add_entry(e, n->xattrs[i].name, n->xattrs[i].value, n->xattrs[i].len);
    if (n->type == CS_NODE_SYMLINK)
        archive_entry_copy_symlink(e, n->link);
    if (n->type == CS_NODE_CHR || n->type == CS_NODE_BLK)
        archive_entry_set_rdev(e, (dev_t)n->rdev);
    if (n->type == CS_NODE_FILE && n->nlink > 1 && (link = link_target(c, n, path)))
        archive_entry_copy_hardlink(e, link);
    archive_entry_set_size(e, n->type == CS_NODE_FILE && !link ? (la_int64_t)n->size : 0);
    /* ARCHIVE_WARN: a name that is not UTF-8, written as bytes (hdrcharset=BINARY) */
    if (archive_write_header(c->a, e) < ARCHIVE_WARN) {
        log_error("%s: cannot write the tar header: %s", path, archive_error_string(c->a));
        return -EIO;
    }
    return n->type == CS_NODE_FILE && !link ? copy_file(c->b, n, -1, c->a, path) : 0;
}

static int tar_tree(tar_ctx *c, const cs_id *id, const char *prefix, int depth)
{
    const cs_tree *t;
    cs_bref *ref;
    int rc;

    if (depth > 4096)
        return -ELOOP;
    if ((rc = cs_browse_tree(c->b, id, &ref, &t)) < 0)
        return log_error_errno(rc, "%s: cannot read the directory", prefix[0] ? prefix : "/");
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const cs_node *n = &t->nodes[i];
        char *p = NULL;
        if (asprintf(&p, "%s%s%s", prefix, prefix[0] ? "/" : "", n->name) < 0) {
            rc = -ENOMEM;
            break;
        }
        rc = tar_node(c, p, n);
        if (rc == 0 && n->type == CS_NODE_DIR)
            rc = tar_tree(c, &n->subtree, p, depth + 1);
        free(p);
    }
    cs_browse_put(c->b, ref);
    return rc;
}

/* The directory n (NULL: the snapshot's root, tree root) as a tar stream on
 * stdout; entries are named from the directory's own name down. */
static int dump_tar(cs_browse *b, const cs_node *n, const cs_id *root)
{
    tar_ctx c = { .b = b, .a = archive_write_new(), .e = archive_entry_new() };
    int rc = -ENOMEM;

    if (!c.a || !c.e)
        goto out;
    /* xattrs as SCHILY.xattr records, which GNU tar reads */
    if (archive_write_set_format_pax(c.a) != ARCHIVE_OK ||
        archive_write_set_format_option(c.a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
        archive_write_open_fd(c.a, STDOUT_FILENO) != ARCHIVE_OK) {
        log_error("cannot write a tar stream: %s", archive_error_string(c.a));
        rc = -EIO;
        goto out;
    }
    rc = n ? tar_node(&c, n->name, n) : 0;
    if (rc == 0)
        rc = tar_tree(&c, n ? &n->subtree : root, n ? n->name : "", 0);
    if (archive_write_close(c.a) != ARCHIVE_OK && rc == 0) {
        log_error("cannot finish the tar stream: %s", archive_error_string(c.a));
        rc = -EIO;
    }
out:
    for (size_t i = 0; i < c.nlinks; i++)
        free(c.links[i].path);
    free(c.links);
    archive_entry_free(c.e);
    archive_write_free(c.a);
    return rc;
}

static int dump(repo_cli *rc, const cs_snapshot *s, const char *path)
{
    cs_browse *b = NULL;
    cs_bref *ref = NULL;
    const cs_node *n = NULL;
    int r = cs_browse_new(rc->repo, 0, 0, &b);

    if (r == 0 && (r = cs_browse_lookup(b, &s->tree, path, &ref, &n)) < 0) {
        if (r == -ENOENT || r == -ENOTDIR)
            log_error("'%s' is not in the snapshot: see 'cloudseal ls SNAPSHOT' or 'cloudseal find'", path);
        else
            log_error_errno(r, "%s: cannot read the snapshot's directories", path);
    } else if (r == 0 && (!n || n->type == CS_NODE_DIR)) {
        if (isatty(STDOUT_FILENO)) {
            log_error("'%s' is a directory: its tar stream goes to a pipe or a file "
                      "('cloudseal dump SNAPSHOT DIR | tar -x'), not a terminal", path);
            r = -EINVAL;
        } else {
            r = dump_tar(b, n, &s->tree);
        }
    } else if (r == 0 && n->type == CS_NODE_FILE) {
        r = copy_file(b, n, STDOUT_FILENO, NULL, path);
    } else if (r == 0) {
        log_error("'%s' is a %s, which has no contents to dump; 'cloudseal ls --long' shows it", path,
                  cs_node_type_name(n));
        r = -EINVAL;
    }
    cs_browse_put(b, ref);
    cs_browse_free(b);
    return r;
}

int cmd_dump(int argc, char **argv)
{
    static const struct option opts[] = { REPO_CLI_FILTER_OPTIONS, {} };
    cs_snapshot s = { 0 };
    repo_cli rc;
    int o, r;

    if ((o = repo_cli_getopt(argc, argv, "", opts)) != -1)
        return cli_opt_exit(o);
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    if ((r = repo_cli_snapshot(&rc, argv[optind], &s)) == CLI_OK) {
        int e = dump(&rc, &s, argv[optind + 1]);
        r = e == -EPIPE ? CLI_OK : repo_cli_exit(e);
    }
    cs_snapshot_clear(&s);
    repo_cli_close(&rc);
    return r;
}
