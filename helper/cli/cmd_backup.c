/* SPDX-License-Identifier: MIT */
/* cloudseal backup: back up paths (default: your home) into a new snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/parse.h"

/* --progress-fd: one JSON object per line, for cloudseal-agent's STATUS=.
 * (added by the agent part; totals are 0 until the estimate walk is done) */
static void json_progress(const cs_progress *p, void *ud)
{
    json_object *o = json_object_new_object();

    if (ud == stdout) /* --json: restic's stream of status lines, then the summary */
        json_object_object_add(o, "message_type", json_object_new_string("status"));
    json_object_object_add(o, "files", json_object_new_int64((int64_t)p->files));
    json_object_object_add(o, "bytes", json_object_new_int64((int64_t)p->bytes));
    json_object_object_add(o, "bytes_added", json_object_new_int64((int64_t)p->bytes_added));
    json_object_object_add(o, "total_files", json_object_new_int64((int64_t)p->total_files));
    json_object_object_add(o, "total_bytes", json_object_new_int64((int64_t)p->total_bytes));
    json_object_object_add(o, "errors", json_object_new_int64((int64_t)p->errors));
    if (ud == stdout) {
        cli_print_json(o, JSON_C_TO_STRING_PLAIN);
        return;
    }
    /* the agent's channel: its reader gone is no failure of this backup */
    if (o)
        fprintf(ud, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    fflush(ud);
    json_object_put(o);
}

static int add(cs_strv *v, const char *s)
{
    return cs_strv_push(v, repo_cli_expand(s));
}

/* A list that cannot be built fails the backup: a path or an exclude
 * dropped on ENOMEM would change what the snapshot holds. */
static int no_memory(int r)
{
    log_error_errno(r, "cannot list what to back up: no snapshot was saved; free some memory and back up again");
    return CLI_FAILED;
}

/* One entry a line; blank lines and '#' comments skipped. */
static int read_list_file(const char *what, const char *path, cs_strv *v)
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    int r = cs_read_file(path, 1 << 20, &b);
    char *save = NULL, *line;

    if (r < 0)
        return log_error_errno(r, "cannot read the %s %s", what, path);
    if (cs_buf_append(&b, "", 1) < 0)
        return no_memory(-ENOMEM), -ENOMEM;
    for (line = strtok_r((char *)b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        while (l && (line[l - 1] == ' ' || line[l - 1] == '\r' || line[l - 1] == '\t'))
            line[--l] = '\0';
        if (l && line[0] != '#' && (r = add(v, line)) < 0)
            return no_memory(r), r;
    }
    return 0;
}

static void progress(const cs_progress *p, void *ud)
{
    char a[32], c[32];
    double rate = p->elapsed > 0 ? (double)p->bytes / p->elapsed : 0;

    char eta[32] = "";

    (void)ud;
    if (p->total_bytes && rate > 0 && p->total_bytes > p->bytes) {
        double left = (double)(p->total_bytes - p->bytes) / rate;
        snprintf(eta, sizeof(eta), ", ETA %d:%02d", (int)left / 60, (int)left % 60);
    }
    fprintf(stderr, "\r\033[K[%d:%02d] %llu%s files, %s, %s/s, %s new%s%s", (int)p->elapsed / 60,
            (int)p->elapsed % 60, (unsigned long long)p->files,
            p->total_files ? "" : "", repo_cli_size(p->bytes, a),
            repo_cli_size((uint64_t)rate, c), repo_cli_size(p->bytes_added, (char[32]){ 0 }), eta,
            p->errors ? " (errors)" : "");
}

/* An absolute path as an exclude pattern that matches only itself. */
static int add_own(cs_strv *v, const char *path)
{
    char pat[4096];
    size_t k = 0;

    if (!path || path[0] != '/')
        return 0;
    for (const char *p = path; *p && k < sizeof(pat) - 2; p++) {
        if (strchr("*?[\\", *p))
            pat[k++] = '\\';
        pat[k++] = *p;
    }
    pat[k] = '\0';
    return cs_strv_add(v, pat);
}

/* cloudseal's own moving parts are never backed up, whatever [backup]
 * exclude says: the cache in use (file-change cache, object cache) and the
 * state of the agent and the archive sync ($STATE_DIRECTORY,
 * $XDG_STATE_HOME/cloudseal or ~/.local/state/cloudseal).  They change
 * while the backup runs and are rebuilt from the repository. */
static int add_own_excludes(cs_strv *v, const char *cache)
{
    const char *sd = getenv("STATE_DIRECTORY"), *xdg = getenv("XDG_STATE_HOME");
    char *state = NULL, *root = repo_cli_cache_root();
    int r = add_own(v, cache);

    if (r == 0)
        r = add_own(v, root);
    if (r == 0 && sd && sd[0] == '/') {
        char *one = strndup(sd, strcspn(sd, ":"));
        r = one ? add_own(v, one) : -ENOMEM;
        free(one);
    }
    if (r == 0) {
        state = xdg && xdg[0] == '/' ? (asprintf(&state, "%s/cloudseal", xdg) < 0 ? NULL : state)
                                     : repo_cli_expand("~/.local/state/cloudseal");
        r = state ? add_own(v, state) : -ENOMEM;
    }
    free(state);
    free(root);
    return r;
}

/* A source that does not exist is a mistake (a typo, a disk that is not
 * mounted), not an empty directory: it is left out with a warning, and when
 * none is left no snapshot is saved, so that neither 'latest' nor forget's
 * groups ever see an empty one.  Returns how many were left out, or -ENOENT
 * when none exists. */
static int drop_missing(cs_strv *sv)
{
    char **paths = sv->v;
    size_t kept = 0, n = sv->n;

    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (lstat(paths[i], &st) == 0 || errno != ENOENT) {
            paths[kept++] = paths[i];
            continue;
        }
        if (n > 1)
            log_warning("%s does not exist: left out of this snapshot", paths[i]);
        else
            log_error("%s does not exist: no snapshot was saved; check the path, or mount the disk it is on",
                      paths[i]);
        free(paths[i]);
    }
    sv->n = kept;
    if (paths)
        paths[kept] = NULL;
    if (kept == 0 && n > 1)
        log_error("none of the paths to back up exists: no snapshot was saved; check [backup] paths "
                  "or the command line, or mount the disk they are on");
    return kept ? (int)(n - kept) : -ENOENT;
}

typedef struct dry_count {
    uint64_t files, dirs, others, bytes;
    bool verbose;
} dry_count;

static void dry_entry(const char *path, const struct stat *st, void *ud)
{
    dry_count *d = ud;

    if (S_ISDIR(st->st_mode))
        d->dirs++;
    else if (S_ISREG(st->st_mode))
        d->files++, d->bytes += (uint64_t)st->st_size;
    else
        d->others++;
    if (d->verbose) {
        printf("would save ");
        repo_cli_print_path(stdout, path);
        printf("%s\n", S_ISDIR(st->st_mode) ? "/" : "");
    }
}

/* --dry-run: what would be saved, by the backup's own rules. */
static int dry_run(const cs_backup_opts *o, bool verbose)
{
    dry_count d = { .verbose = verbose };
    char sz[32];
    int r;

    if ((r = cs_backup_list(o, dry_entry, &d)) < 0) {
        log_error_errno(r, "cannot list what to back up");
        return CLI_FAILED;
    }
    printf("would back up %llu files (%s), %llu directories, %llu others (dry run: nothing was read or "
           "stored)\n", (unsigned long long)d.files, repo_cli_size(d.bytes, sz), (unsigned long long)d.dirs,
           (unsigned long long)d.others);
    return CLI_OK;
}

static void print_summary(const cs_snapshot *snap, int r)
{
    const cs_backup_summary *s = &snap->summary;
    char hex[65], a[32], b[32], d[32];

    cs_id_hex(&snap->id, hex);
    printf("Files: %llu new, %llu changed, %llu unchanged\n", (unsigned long long)s->files_new,
           (unsigned long long)s->files_changed, (unsigned long long)s->files_unchanged);
    printf("Dirs:  %llu   Others: %llu\n", (unsigned long long)s->dirs, (unsigned long long)s->others);
    if (s->files_vanished || s->files_unstable || s->errors)
        printf("Left out: %llu vanished during the backup, %llu unreadable; %llu saved while still changing\n",
               (unsigned long long)s->files_vanished, (unsigned long long)s->errors,
               (unsigned long long)s->files_unstable);
    printf("Added: %s (%s stored after compression and encryption)\n", repo_cli_size(s->bytes_added, a),
           repo_cli_size(s->bytes_stored, b));
    printf("Processed %s in %.2f s\n", repo_cli_size(s->bytes_processed, d), s->duration);
    printf("snapshot %.8s saved%s\n", hex,
           r == 1 ? " (incomplete: some files could not be read or kept changing, see the warnings above)" : "");
}

int cmd_backup(int argc, char **argv)
{
    static const struct option opts[] = {
        { "exclude", required_argument, NULL, 'e' }, { "exclude-file", required_argument, NULL, 'E' },
        { "one-file-system", no_argument, NULL, 'x' }, { "tag", required_argument, NULL, 't' },
        { "host", required_argument, NULL, 'H' }, { "cache-dir", required_argument, NULL, 'C' },
        { "no-cache", no_argument, NULL, 'N' }, { "progress-fd", required_argument, NULL, 'F' },
        { "files-from", required_argument, NULL, 'f' },
        { "dry-run", no_argument, NULL, 'n' }, { "verbose", no_argument, NULL, 'v' },
        { "exclude-caches", no_argument, NULL, 'K' }, { "exclude-if-present", required_argument, NULL, 'I' },
        { "limit-upload", required_argument, NULL, 'L' }, {}
    };
    const cs_config *cfg = cli_config();
    _cleanup_strv_ cs_strv paths = CS_STRV_INIT, excl = CS_STRV_INIT, tags = CS_STRV_INIT, markers = CS_STRV_INIT;
    char *cache = NULL;
    const char *host = NULL;
    bool ofs = cs_config_bool(cfg, "backup", "one_file_system"), nocache = false;
    cs_backup_opts o = { 0 };
    cs_snapshot snap = { 0 };
    repo_cli rc = { 0 };
    FILE *progress_out = NULL;
    int c, r, ex = CLI_OK, progress_fd = -1, missing = 0;
    bool opened = false, dry = false, verbose = false;

    while ((c = cli_getopt(argc, argv, "e:xt:nv", opts)) != -1) {
        switch (c) {
        case 'e':
            if ((r = add(&excl, optarg)) < 0) {
                ex = no_memory(r);
                goto out;
            }
            break;
        case 'E':
            if ((r = read_list_file("exclude file", optarg, &excl)) < 0) {
                ex = r == -ENOMEM ? CLI_FAILED : CLI_USAGE;
                goto out;
            }
            break;
        case 'x': ofs = true; break;
        case 'f':
            if ((r = read_list_file("--files-from file", optarg, &paths)) < 0) {
                ex = r == -ENOMEM ? CLI_FAILED : CLI_USAGE;
                goto out;
            }
            if (!paths.n) {
                log_error("--files-from %s names no path: no snapshot was saved", optarg);
                ex = CLI_USAGE;
                goto out;
            }
            break;
        case 'K': o.exclude_caches = true; break;
        case 'n': dry = true; break;
        case 'v': verbose = true; break;
        case 'I':
            if ((r = add(&markers, optarg)) < 0) {
                ex = no_memory(r);
                goto out;
            }
            break;
        case 't': /* "a,b" is two tags, as in restic */
            for (char *save = NULL, *t = strtok_r(optarg, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if ((r = add(&tags, t)) < 0) {
                    ex = no_memory(r);
                    goto out;
                }
            break;
        case 'L': /* before repo_cli_open, which opens the storage with it */
            if (cli_config_override("--limit-upload", "storage", "upload_limit", optarg) < 0) {
                ex = CLI_USAGE;
                goto out;
            }
            break;
        case 'H': host = optarg; break;
        case 'C': free(cache); cache = strdup(optarg); break;
        case 'N': nocache = true; break;
        case 'F':
            if (cs_parse_int(optarg, 1, 1024, &progress_fd) < 0 || fcntl(progress_fd, F_GETFD) < 0) {
                log_error("--progress-fd wants an open file descriptor, not '%s'", optarg);
                ex = CLI_USAGE;
                goto out;
            }
            break;
        default: ex = cli_opt_exit(c); goto out;
        }
    }
    for (int i = optind; i < argc; i++)
        if ((r = add(&paths, argv[i])) < 0) {
            ex = no_memory(r);
            goto out;
        }
    r = 0;
    if (!paths.n)
        r = repo_cli_split(cs_config_str(cfg, "backup", "paths"), &paths);
    if (r == 0 && !paths.n)
        r = add(&paths, "~");
    if (r == 0)
        r = repo_cli_split(cs_config_str(cfg, "backup", "exclude"), &excl);
    if (r < 0) {
        ex = no_memory(r);
        goto out;
    }
    if (cs_config_str(cfg, "backup", "exclude_file") &&
        (r = read_list_file("exclude file", cs_config_str(cfg, "backup", "exclude_file"), &excl)) < 0) {
        ex = r == -ENOMEM ? CLI_FAILED : CLI_USAGE;
        goto out;
    }
    for (size_t i = 0; i < paths.n; i++) { /* "dir/" and "dir" are the same path */
        size_t l = strlen(paths.v[i]);
        while (l > 1 && paths.v[i][l - 1] == '/')
            paths.v[i][--l] = '\0';
    }
    if ((missing = drop_missing(&paths)) < 0) {
        ex = CLI_FAILED; /* not 4: the agent reads that as "no repository yet" */
        goto out;
    }
    if (!cache && !nocache)
        cache = repo_cli_cache_root();
    if ((r = add_own_excludes(&excl, cache)) < 0) {
        ex = no_memory(r);
        goto out;
    }
    o.paths = (const char *const *)paths.v;
    o.npaths = paths.n;
    o.excludes = (const char *const *)excl.v;
    o.nexcludes = excl.n;
    o.one_file_system = ofs;
    o.exclude_if_present = (const char *const *)markers.v;
    o.nexclude_if_present = markers.n;
    if (dry) { /* before the repository: a dry run needs no key and no storage */
        ex = dry_run(&o, verbose);
        goto out;
    }
    /* locked while opening: two round trips to a remote store, not five */
    if ((ex = repo_cli_open_ex(&rc, CS_REPO_OPEN_LOCKED)) != CLI_OK)
        goto out;
    opened = true;
    o.tags = (const char *const *)tags.v;
    o.ntags = tags.n;
    o.cache_dir = nocache ? NULL : cache;
    o.host = host;
    o.workers = (int)cs_config_int(cfg, "backup", "workers");
    if (progress_fd >= 0 && (progress_out = fdopen(dup(progress_fd), "w"))) {
        o.progress = json_progress;
        o.progress_ud = progress_out;
    } else if (cli.json) {
        o.progress = json_progress;
        o.progress_ud = stdout;
    } else if (isatty(STDERR_FILENO) && !cli.quiet) {
        o.progress = progress;
    }
    r = cs_backup(rc.repo, &o, &snap);
    if (progress_out)
        fclose(progress_out);
    else if (o.progress == progress)
        fprintf(stderr, "\r\033[K");
    if (r >= 0) {
        if (cli.json) {
            const cs_backup_summary *sm = &snap.summary;
            json_object *j = repo_cli_snapshot_json(&snap);
            cs_progress last = { .files = sm->files_new + sm->files_changed + sm->files_unchanged,
                                 .bytes = sm->bytes_processed, .bytes_added = sm->bytes_added,
                                 .errors = sm->errors, .elapsed = sm->duration };
            last.total_files = last.files;
            last.total_bytes = last.bytes;
            json_progress(&last, stdout); /* the final counts, even for a backup quicker than a tick */
            cli_json_add(j, "message_type", json_object_new_string("summary"));
            cli_print_json(j, JSON_C_TO_STRING_PLAIN); /* a failure: main's exit code */
        } else if (!cli.quiet) {
            print_summary(&snap, missing ? 1 : r);
        }
        ex = r == 1 || missing ? REPO_CLI_INCOMPLETE : CLI_OK;
    } else {
        if (r == -ENOSPC || r == -EDQUOT) {
            const char *url = cs_config_str(cfg, "storage", "url");
            dry_count d = { 0 }; /* how much it is about: the sources' size, by the backup's rules */
            char sz[32];
            cs_backup_list(&o, dry_entry, &d);
            log_error("the repository's disk is full (%s) at %s: no snapshot was saved; "
                      "free space there and back up again (the sources hold %s; deduplication and "
                      "compression store less)", strerror(-r),
                      url && strncmp(url, "file://", 7) == 0 ? url + 7 : url ? url : "the storage",
                      repo_cli_size(d.bytes, sz));
        } else if (r != -EBUSY) {
            log_error_errno(r, "backup failed");
        }
        ex = repo_cli_exit(r);
    }
out:
    cs_snapshot_clear(&snap);
    if (opened)
        repo_cli_close(&rc);
    free(cache);
    return ex;
}
