/* SPDX-License-Identifier: MIT */
/* Shared by the backup commands (init, backup, snapshots, ls, restore, diff,
 * check, forget, prune, stats): opening the invoking user's repository and
 * turning engine errors into messages and exit codes. */
#ifndef CS_CLI_REPO_CLI_H
#define CS_CLI_REPO_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include "repo/repo.h"
#include "repo/tree.h"
#include "util/strv.h"

typedef struct repo_cli {
    cs_storage *st;
    cs_repo *repo;
    cs_amk *amk;
    char prefix[512];
} repo_cli;

/* Exit code of backup when a snapshot was saved but is incomplete: some
 * files could not be read, or kept changing while read (cloudseal(1)).
 * Vanished files are not an error.  (3, restic's code for this, is
 * CLI_LOCKED here.) */
#define REPO_CLI_INCOMPLETE 7

/* Set by check: read every object from the storage, not from the local cache. */
extern bool repo_cli_no_object_cache;
/* Obtain the key, open storage and the repository.  Returns an exit code
 * (CLI_OK or the failure, with a message logged). */
int repo_cli_open(repo_cli *rc);
/* The same with cs_repo_open_ex() flags (backup: CS_REPO_OPEN_LOCKED). */
int repo_cli_open_ex(repo_cli *rc, int flags);
/* Key + storage only (for init). */
int repo_cli_open_storage(repo_cli *rc);
void repo_cli_close(repo_cli *rc);
/* Find a snapshot by "latest" or id prefix; exit code.  "latest" is the
 * newest snapshot that the --tag/--host/--path filter lets through. */
int repo_cli_snapshot(repo_cli *rc, const char *spec, cs_snapshot *out);

/* --tag T[,T...] (all of them; repeated: any of the lists), --host H
 * (repeated: any), --path P (repeated: all) select snapshots for
 * snapshots, forget, restore, ls and diff (repo_filter.c). */
#define REPO_CLI_FILTER_OPTIONS                                                                       \
    { "tag", required_argument, NULL, REPO_CLI_OPT_TAG }, { "host", required_argument, NULL, REPO_CLI_OPT_HOST }, \
        { "path", required_argument, NULL, REPO_CLI_OPT_PATH }
enum { REPO_CLI_OPT_TAG = 0x1000, REPO_CLI_OPT_HOST, REPO_CLI_OPT_PATH };
#define REPO_CLI_FILTER_USAGE "[--tag TAG[,TAG]] [--host HOST] [--path PATH]"
/* getopt_long's c: 1 when it was a filter option (taken), 0 when not, or
 * -1 on a bad argument (reported). */
int repo_cli_filter_option(int c, const char *arg);
/* cli_getopt() that takes the --tag/--host/--path filters itself: returns
 * the verb's next own option, -1 at the end, or as cli_getopt() does
 * ('?' also for one filter too many), for cli_opt_exit(). */
int repo_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *own);
/* Whether the filter lets s through (no filter: every snapshot). */
bool repo_cli_filter_match(const cs_snapshot *s);
bool repo_cli_filter_set(void);
/* Keep in v (n entries, freed as needed) only the snapshots the filter lets through. */
void repo_cli_filter_list(cs_snapshot *v, size_t *n);
/* Map a negative errno to an exit code. */
int repo_cli_exit(int r);
/* A snapshot as JSON (lib/repo/snapshot.c; with_id: id and short_id too). */
struct json_object *cs_snapshot_to_json(const cs_snapshot *s, bool with_id);
/* The same with id, as the CLI prints it: "paths" by the rule of file names
 * in JSON (paths_base64, snapshot_json.c).  NULL when out of memory. */
struct json_object *repo_cli_snapshot_json(const cs_snapshot *s);
/* A node's metadata as `ls` and `find` print it, added to o (cli_json_add). */
void repo_cli_node_json(struct json_object *o, const cs_node *n);
/* Human-readable size. */
const char *repo_cli_size(uint64_t bytes, char buf[32]);
/* When a prune's repack bound left packs for the next one, say so on
 * stdout ("repacked 1.0 GiB of 3.2 GiB; the rest next time"). */
void repo_cli_prune_left(const cs_prune_result *res);
/* Split a whitespace-separated config value, "~/" expanded to the home
 * directory, appending to v; 0 or -ENOMEM (then v holds a prefix). */
int repo_cli_split(const char *value, cs_strv *v);
char *repo_cli_expand(const char *p);
/* The local cache root: [backup] cache_dir, $XDG_CACHE_HOME/cloudseal or
 * ~/.cache/cloudseal (malloc'd; NULL on allocation failure). */
char *repo_cli_cache_root(void);
/* Print name bytes for humans: control characters escaped. */
void repo_cli_print_path(FILE *f, const char *path);

#endif
