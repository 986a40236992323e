/* cs_restore: recreate a snapshot's tree.  The main thread walks trees and
 * creates directories, links and special files; worker threads write file
 * contents (each blob decrypted and re-hashed before a byte is written).
 * Damaged data: the file that needs it is removed and reported, everything
 * else is restored.  Directory metadata is applied last, deepest first,
 * after hard links are made (both change directory mtimes). */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>
#include "repo/repo_int.h"
#include "repo/tree.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"

#define RQ_MAX 64
#define MAX_WORKERS 8

typedef struct rjob {
    char *path;
    cs_node nd;          /* owned copy */
    struct rjob *next;
} rjob;

typedef struct dirmeta {
    char *path;
    cs_node nd;
} dirmeta;

typedef struct hlink {
    uint64_t dev, ino;
    char *path;          /* first restored path */
} hlink;

typedef struct rs {
    cs_repo *r;
    const cs_restore_opts *o;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_space;
    rjob *head, *tail;
    size_t qlen;
    bool stop;
    pthread_t th[MAX_WORKERS];
    int nth;
    dirmeta *dirs;
    size_t ndirs, dcap;
    hlink *links;
    size_t nlinks, lcap;
    struct { char *path, *target; } *pend;  /* hard links to make at the end */
    size_t npend, pcap;
    bool root;
    cs_restore_result res;
} rs;

static int node_copy(cs_node *dst, const cs_node *src)
{
    *dst = *src;
    dst->name = strdup(src->name);
    dst->user = strdup(src->user ? src->user : "");
    dst->group = strdup(src->group ? src->group : "");
    dst->link = src->link ? strdup(src->link) : NULL;
    dst->xattrs = NULL;
    dst->nxattrs = 0;
    dst->content = NULL;
    if (src->ncontent) {
        dst->content = malloc((size_t)src->ncontent * sizeof(cs_id));
        if (dst->content)
            memcpy(dst->content, src->content, (size_t)src->ncontent * sizeof(cs_id));
    }
    if (src->nxattrs && (dst->xattrs = calloc(src->nxattrs, sizeof(cs_xattr)))) {
        for (uint16_t i = 0; i < src->nxattrs; i++) {
            dst->xattrs[i].name = strdup(src->xattrs[i].name);
            dst->xattrs[i].value = malloc(src->xattrs[i].len ? src->xattrs[i].len : 1);
            dst->xattrs[i].len = src->xattrs[i].len;
            if (dst->xattrs[i].value)
                memcpy(dst->xattrs[i].value, src->xattrs[i].value, src->xattrs[i].len);
            dst->nxattrs++;
        }
    }
    if (!dst->name || !dst->user || !dst->group || (src->ncontent && !dst->content))
        return -ENOMEM;
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static void set_xattrs(int fd, const char *path, const cs_node *nd)
{
    for (uint16_t i = 0; i < nd->nxattrs; i++) {
        int r = fd >= 0 ? fsetxattr(fd, nd->xattrs[i].name, nd->xattrs[i].value, nd->xattrs[i].len, 0)
                        : lsetxattr(path, nd->xattrs[i].name, nd->xattrs[i].value, nd->xattrs[i].len, 0);
        if (r < 0 && errno != ENOTSUP && errno != EPERM)
            log_warning("cannot set extended attribute %s on %s: %s", nd->xattrs[i].name, path, strerror(errno));
    }
}

/* Owner, then mode (chown clears set-id bits), then times. */
static void set_meta(rs *s, int fd, const char *path, const cs_node *nd)
{
    struct timespec ts[2] = { { nd->mtime_s, nd->mtime_ns }, { nd->mtime_s, nd->mtime_ns } };

    set_xattrs(fd, path, nd);
    if (s->root || nd->uid == getuid()) {
        if ((fd >= 0 ? fchown(fd, nd->uid, nd->gid) : lchown(path, nd->uid, nd->gid)) < 0 && s->root)
            log_warning("cannot set the owner of %s: %s", path, strerror(errno));
    }
    if (nd->type != CS_NODE_SYMLINK) {
        if ((fd >= 0 ? fchmod(fd, nd->mode & 07777) : chmod(path, nd->mode & 07777)) < 0)
            log_warning("cannot set the mode of %s: %s", path, strerror(errno));
    }
    if ((fd >= 0 ? futimens(fd, ts) : utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW)) < 0)
        log_warning("cannot set the times of %s: %s", path, strerror(errno));
}

/* Small blobs of consecutive files sit next to each other in a pack: read
 * a window around them once instead of one request per blob (a syscall
 * storm locally, a round trip each on S3). */
#define WINDOW_BYTES (256u << 10)
#define WINDOW_MAX_BLOB (64u << 10)

typedef struct window {
    cs_buf buf;
    uint32_t pack;       /* index of the pack in the index, UINT32_MAX = empty */
    uint64_t off;
} window;

static int load_blob(rs *s, window *w, const cs_id *id, cs_buf *raw, cs_buf *tmp, cs_buf *out, void *dctx)
{
    cs_repo *r = s->r;
    cs_ientry *e = cs_index_find(&r->index, id); /* read-only during a restore */
    const cs_ipack *ip;
    char key[1200];
    int rc;

    if (!e || e->pack == CS_PACK_PENDING || e->type != CS_BLOB_DATA || e->enc_len > WINDOW_MAX_BLOB)
        return cs_repo_load_blob2(r, id, CS_BLOB_DATA, raw, tmp, out, dctx);
    ip = &r->index.packs[e->pack];
    if (w->pack != e->pack || e->offset < w->off || e->offset + (uint64_t)e->enc_len > w->off + w->buf.len) {
        uint64_t len = ip->size - e->offset < WINDOW_BYTES ? ip->size - e->offset : WINDOW_BYTES;
        if (len < e->enc_len)
            len = e->enc_len;
        cs_buf_reset(&w->buf);
        w->pack = UINT32_MAX;
        cs_repo_key(r, "data", &ip->id, key, sizeof(key));
        rc = cs_storage_get(r->st, key, e->offset, len, WINDOW_BYTES + CS_MAX_BLOB, &w->buf);
        if (rc < 0) /* e.g. a truncated pack: fall back to the blob alone */
            return cs_repo_load_blob2(r, id, CS_BLOB_DATA, raw, tmp, out, dctx);
        w->pack = e->pack;
        w->off = e->offset;
    }
    return cs_blob_open2(r->keys, CS_BLOB_DATA, id, w->buf.data + (e->offset - w->off), e->enc_len, e->raw_len,
                         tmp, out, dctx, false);
}

static int write_file(rs *s, rjob *j, cs_buf *blob, cs_buf *raw, cs_buf *tmp, void *dctx, window *w)
{
    _cleanup_close_ int fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool sparse = j->nd.flags & CS_NODE_SPARSE;
    uint64_t off = 0;
    int rc;

    if (fd < 0 && errno == EEXIST) {
        /* replace whatever is there; never write through a symlink or into a
         * file that has other links */
        if (unlink(j->path) < 0 && errno != ENOENT)
            return -errno;
        fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return -errno;
    for (uint32_t i = 0; i < j->nd.ncontent; i++) {
        rc = load_blob(s, w, &j->nd.content[i], raw, tmp, blob, dctx);
        if (rc < 0) {
            char hex[65];
            cs_id_hex(&j->nd.content[i], hex);
            log_error("%s: data blob %s is %s; the file is not restored", j->path, hex,
                      rc == -ENOENT ? "missing from the repository" : "damaged");
            return -EBADMSG;
        }
        if (!sparse) {
            if (pwrite(fd, blob->data, blob->len, (off_t)off) != (ssize_t)blob->len)
                return errno ? -errno : -EIO;
        } else {
            /* sparse files: zero runs stay holes (ftruncate below sets the size) */
            for (size_t b = 0; b < blob->len; b += 64 * 1024) {
                size_t l = blob->len - b < 64 * 1024 ? blob->len - b : 64 * 1024;
                if (!all_zero(blob->data + b, l) && pwrite(fd, blob->data + b, l, (off_t)(off + b)) != (ssize_t)l)
                    return errno ? -errno : -EIO;
            }
        }
        off += blob->len;
    }
    /* a new file written front to back has its size already; a sparse one
     * may end in a hole */
    if (sparse && ftruncate(fd, (off_t)off) < 0)
        return -errno;
    set_meta(s, fd, j->path, &j->nd);
    __atomic_add_fetch(&s->res.bytes, off, __ATOMIC_RELAXED);
    return 0;
}

static void *rworker(void *arg)
{
    rs *s = arg;
    cs_buf blob = CS_BUF_INIT, raw = CS_BUF_INIT, tmp = CS_BUF_INIT;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    window w = { CS_BUF_INIT, UINT32_MAX, 0 };

    pthread_mutex_lock(&s->mu);
    for (;;) {
        rjob *j;
        int rc;
        while (!s->head && !s->stop)
            pthread_cond_wait(&s->cv_job, &s->mu);
        if (!s->head)
            break;
        j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        s->qlen--;
        pthread_cond_signal(&s->cv_space);
        pthread_mutex_unlock(&s->mu);
        rc = dctx ? write_file(s, j, &blob, &raw, &tmp, dctx, &w) : -ENOMEM;
        if (rc < 0) {
            unlink(j->path); /* never leave wrong or partial data behind */
            if (rc != -EBADMSG)
                log_error("cannot restore %s: %s", j->path, strerror(-rc));
        }
        pthread_mutex_lock(&s->mu);
        if (rc == -EBADMSG)
            s->res.damaged++;
        else if (rc < 0)
            s->res.errors++;
        else
            s->res.files++;
        free(j->path);
        cs_node_clear(&j->nd);
        free(j);
    }
    pthread_mutex_unlock(&s->mu);
    cs_buf_free(&blob);
    cs_buf_free(&raw);
    cs_buf_free(&tmp);
    cs_buf_free(&w.buf);
    ZSTD_freeDCtx(dctx);
    return NULL;
}

static void queue(rs *s, rjob *j)
{
    pthread_mutex_lock(&s->mu);
    while (s->qlen >= RQ_MAX)
        pthread_cond_wait(&s->cv_space, &s->mu);
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->qlen++;
    pthread_cond_signal(&s->cv_job);
    pthread_mutex_unlock(&s->mu);
}

static bool included(rs *s, const char *snap_path)
{
    if (!s->o->nincludes)
        return true;
    for (size_t i = 0; i < s->o->nincludes; i++) {
        const char *p = s->o->includes[i];
        size_t pl = strlen(p);
        /* a pattern matches the path or one of its ancestors */
        if (fnmatch(p, snap_path, 0) == 0)
            return true;
        if (strncmp(p, snap_path, pl) == 0 && (snap_path[pl] == '/' || p[pl - 1] == '/'))
            return true;
        for (const char *q = snap_path; (q = strchr(q + 1, '/'));) {
            char anc[4096];
            size_t al = (size_t)(q - snap_path);
            if (al >= sizeof(anc))
                break;
            memcpy(anc, snap_path, al);
            anc[al] = '\0';
            if (fnmatch(p, anc, 0) == 0)
                return true;
        }
    }
    return false;
}

/* Create dest's missing parents (include mode creates directories lazily). */
static int ensure_parent(const char *dest)
{
    char *d = strdup(dest), *slash;
    int rc = 0;

    if (!d)
        return -ENOMEM;
    slash = strrchr(d, '/');
    if (slash && slash != d) {
        *slash = '\0';
        rc = cs_mkdir_p(d, 0700);
    }
    free(d);
    return rc;
}

static int restore_node(rs *s, const cs_node *nd, const char *dest, const char *snap_path);

static int restore_tree(rs *s, const cs_id *tree_id, const char *dest, const char *snap_path)
{
    cs_tree t;
    int rc = cs_tree_load(s->r, tree_id, &t);

    if (rc < 0) {
        char hex[65];
        cs_id_hex(tree_id, hex);
        log_error("%s: directory listing (tree blob %s) is %s; its contents are not restored",
                  snap_path[0] ? snap_path : "/", hex, rc == -ENOENT ? "missing" : "damaged");
        s->res.damaged++;
        return 0;
    }
    for (size_t i = 0; i < t.n; i++) {
        char *d = NULL, *sp = NULL;
        if (asprintf(&d, "%s/%s", dest, t.nodes[i].name) < 0 ||
            asprintf(&sp, "%s/%s", snap_path, t.nodes[i].name) < 0) {
            free(d);
            rc = -ENOMEM;
            break;
        }
        rc = restore_node(s, &t.nodes[i], d, sp);
        free(d);
        free(sp);
        if (rc < 0)
            break;
    }
    cs_tree_free(&t);
    return rc;
}

static int add_dirmeta(rs *s, const char *dest, const cs_node *nd)
{
    if (s->ndirs == s->dcap) {
        size_t ncap = s->dcap ? s->dcap * 2 : 64;
        dirmeta *nv = realloc(s->dirs, ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->dirs = nv;
        s->dcap = ncap;
    }
    s->dirs[s->ndirs].path = strdup(dest);
    node_copy(&s->dirs[s->ndirs].nd, nd);
    free(s->dirs[s->ndirs].nd.content);
    s->dirs[s->ndirs].nd.content = NULL;
    s->dirs[s->ndirs].nd.ncontent = 0;
    s->ndirs++;
    return 0;
}

/* Hard links: the first path of an inode is restored, later ones linked. */
static const char *hardlink_first(rs *s, const cs_node *nd, const char *dest)
{
    for (size_t i = 0; i < s->nlinks; i++)
        if (s->links[i].dev == nd->dev && s->links[i].ino == nd->inode)
            return s->links[i].path;
    if (s->nlinks == s->lcap) {
        size_t ncap = s->lcap ? s->lcap * 2 : 16;
        hlink *nv = realloc(s->links, ncap * sizeof(*nv));
        if (!nv)
            return NULL;
        s->links = nv;
        s->lcap = ncap;
    }
    s->links[s->nlinks++] = (hlink){ nd->dev, nd->inode, strdup(dest) };
    return NULL;
}

static int restore_node(rs *s, const cs_node *nd, const char *dest, const char *snap_path)
{
    bool inc = included(s, snap_path);
    int rc = 0;

    if (nd->type == CS_NODE_DIR) {
        if (inc) {
            if ((s->o->nincludes && ensure_parent(dest) < 0) || (mkdir(dest, 0700) < 0 && errno != EEXIST)) {
                log_error("cannot create directory %s: %s", dest, strerror(errno));
                s->res.errors++;
                return 0;
            }
            s->res.dirs++;
        }
        rc = add_dirmeta(s, dest, nd);
        if (rc == 0)
            rc = restore_tree(s, &nd->subtree, dest, snap_path);
        return rc;
    }
    if (!inc)
        return 0;
    /* parents exist unless --include skipped them (then they are made lazily) */
    if (s->o->nincludes && ensure_parent(dest) < 0) {
        s->res.errors++;
        return 0;
    }
    if (nd->type == CS_NODE_FILE) {
        rjob *j;
        if (nd->nlink > 1) {
            const char *first = hardlink_first(s, nd, dest);
            if (first) {
                if (s->npend == s->pcap) {
                    size_t ncap = s->pcap ? s->pcap * 2 : 16;
                    __typeof__(s->pend) nv = realloc(s->pend, ncap * sizeof(*nv));
                    if (!nv)
                        return -ENOMEM;
                    s->pend = nv;
                    s->pcap = ncap;
                }
                s->pend[s->npend].path = strdup(dest);
                s->pend[s->npend].target = strdup(first);
                s->npend++;
                return 0;
            }
        }
        j = calloc(1, sizeof(*j));
        if (!j)
            return -ENOMEM;
        j->path = strdup(dest);
        if (!j->path || node_copy(&j->nd, nd) < 0) {
            free(j->path);
            cs_node_clear(&j->nd);
            free(j);
            return -ENOMEM;
        }
        queue(s, j);
        return 0;
    }
    unlink(dest);
    switch (nd->type) {
    case CS_NODE_SYMLINK:
        rc = symlink(nd->link ? nd->link : "", dest);
        break;
    case CS_NODE_FIFO:
        rc = mkfifo(dest, 0600);
        break;
    case CS_NODE_SOCKET:
        rc = mknod(dest, S_IFSOCK | 0600, 0);
        break;
    case CS_NODE_CHR:
    case CS_NODE_BLK:
        rc = mknod(dest, (nd->type == CS_NODE_CHR ? S_IFCHR : S_IFBLK) | 0600, (dev_t)nd->rdev);
        break;
    }
    if (rc < 0) {
        log_warning("cannot create %s: %s", dest, strerror(errno));
        s->res.errors++;
        return 0;
    }
    set_meta(s, -1, dest, nd);
    s->res.others++;
    return 0;
}

/* Find the node at subpath (components separated by '/'). */
static int find_sub(cs_repo *r, const cs_id *root, const char *subpath, cs_node *out, bool *is_root)
{
    char *copy = strdup(subpath), *save = NULL, *comp;
    cs_id cur = *root;
    bool have = false;
    int rc = 0;

    *is_root = true;
    if (!copy)
        return -ENOMEM;
    for (comp = strtok_r(copy, "/", &save); comp && rc == 0; comp = strtok_r(NULL, "/", &save)) {
        cs_tree t;
        size_t i;
        if (have && out->type != CS_NODE_DIR) {
            rc = -ENOTDIR;
            break;
        }
        if ((rc = cs_tree_load(r, &cur, &t)) < 0)
            break;
        for (i = 0; i < t.n && strcmp(t.nodes[i].name, comp) != 0; i++)
            ;
        if (i == t.n) {
            rc = -ENOENT;
        } else {
            if (have)
                cs_node_clear(out);
            node_copy(out, &t.nodes[i]);
            have = true;
            *is_root = false;
            cur = out->subtree;
        }
        cs_tree_free(&t);
    }
    free(copy);
    if (rc < 0 && have)
        cs_node_clear(out);
    return rc;
}

int cs_restore(cs_repo *r, const cs_snapshot *snap, const cs_restore_opts *o, cs_restore_result *res)
{
    rs s = { .r = r, .o = o, .root = geteuid() == 0 };
    int nw = o->workers > 0 ? o->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    cs_node sub;
    bool is_root = true;
    int rc;

    memset(&sub, 0, sizeof(sub));
    if (nw < 1)
        nw = 2;
    if (nw > MAX_WORKERS)
        nw = MAX_WORKERS;
    rc = cs_mkdir_p(o->target, 0700);
    if (rc < 0) {
        log_error("cannot create the target directory %s: %s", o->target, strerror(-rc));
        return rc;
    }
    if (o->subpath && (rc = find_sub(r, &snap->tree, o->subpath, &sub, &is_root)) < 0) {
        log_error("'%s' is not in the snapshot (%s)", o->subpath, strerror(-rc));
        return rc;
    }
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv_job, NULL);
    pthread_cond_init(&s.cv_space, NULL);
    for (int i = 0; i < nw; i++)
        if (pthread_create(&s.th[i], NULL, rworker, &s) == 0)
            s.nth++;
    if (is_root) {
        rc = restore_tree(&s, &snap->tree, o->target, "");
    } else if (sub.type == CS_NODE_DIR) {
        rc = restore_tree(&s, &sub.subtree, o->target, o->subpath);
    } else {
        char *d = NULL;
        if (asprintf(&d, "%s/%s", o->target, sub.name) >= 0) {
            rc = restore_node(&s, &sub, d, o->subpath);
            free(d);
        }
    }
    pthread_mutex_lock(&s.mu);
    s.stop = true;
    pthread_cond_broadcast(&s.cv_job);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < s.nth; i++)
        pthread_join(s.th[i], NULL);
    for (size_t i = 0; i < s.npend; i++) {
        unlink(s.pend[i].path);
        if (link(s.pend[i].target, s.pend[i].path) < 0) {
            log_warning("cannot link %s to %s: %s", s.pend[i].path, s.pend[i].target, strerror(errno));
            s.res.errors++;
        } else {
            s.res.files++;
        }
        free(s.pend[i].path);
        free(s.pend[i].target);
    }
    /* deepest first: the list is in pre-order, so reverse order works */
    for (size_t i = s.ndirs; i-- > 0;) {
        struct stat st;
        if (lstat(s.dirs[i].path, &st) == 0 && S_ISDIR(st.st_mode))
            set_meta(&s, -1, s.dirs[i].path, &s.dirs[i].nd);
        free(s.dirs[i].path);
        cs_node_clear(&s.dirs[i].nd);
    }
    for (size_t i = 0; i < s.nlinks; i++)
        free(s.links[i].path);
    free(s.links);
    free(s.pend);
    free(s.dirs);
    cs_node_clear(&sub);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv_job);
    pthread_cond_destroy(&s.cv_space);
    if (res)
        *res = s.res;
    if (rc == 0 && s.res.damaged)
        rc = -EBADMSG;
    return rc;
}
