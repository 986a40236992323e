/* cloudseal repair: rebuild what a damaged object broke from what the
 * repository still holds ('repair index': from the packs' own headers). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "repo_cli.h"
#include "unlock_common.h"
#include "util/log.h"

static const char usage[] =
    "Usage: cloudseal repair index [--json]\n\n"
    "index      rebuild the index from the packs' own (encrypted) headers: every pack is\n"
    "           read, every blob decrypted and its id verified, a new index is written,\n"
    "           and only then are the old index objects removed.  Run it when 'check'\n"
    "           reports a damaged index object or packs that are not indexed.\n"
    "Takes an exclusive lock.  Exit status 5 when damaged data was left out (named).\n";

static void print_index(const cs_repair_index_result *res, int e)
{
    if (cli.json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "ok", json_object_new_boolean(e == 0));
        json_object_object_add(j, "packs", json_object_new_uint64(res->packs));
        json_object_object_add(j, "blobs", json_object_new_uint64(res->blobs));
        json_object_object_add(j, "damaged_packs", json_object_new_uint64(res->damaged_packs));
        json_object_object_add(j, "damaged_blobs", json_object_new_uint64(res->damaged_blobs));
        json_object_object_add(j, "index_written", json_object_new_uint64(res->index_written));
        json_object_object_add(j, "index_removed", json_object_new_uint64(res->index_removed));
        printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
        json_object_put(j);
        return;
    }
    if (cli.quiet)
        return;
    printf("indexed %llu blob(s) in %llu pack(s): %llu index object(s) written, %llu old one(s) removed\n",
           (unsigned long long)res->blobs, (unsigned long long)res->packs,
           (unsigned long long)res->index_written, (unsigned long long)res->index_removed);
    if (res->damaged_packs || res->damaged_blobs)
        printf("left out as damaged (see above): %llu pack(s), %llu blob(s); 'cloudseal check' shows which "
               "snapshots need them, 'cloudseal repair snapshots' keeps the rest of those\n",
               (unsigned long long)res->damaged_packs, (unsigned long long)res->damaged_blobs);
}

static int repair_index(void)
{
    cs_repair_index_result res = { 0 };
    repo_cli rc;
    int r, e;

    repo_cli_no_object_cache = true; /* rebuild from what the storage holds */
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_repair_index(rc.repo, &res);
    if (e == 0 || e == -EBADMSG)
        print_index(&res, e);
    else if (e != -EBUSY)
        log_error("repair index failed: %s; the old index objects are kept", strerror(-e));
    if (e == 0 && (res.damaged_packs || res.damaged_blobs))
        e = -EBADMSG;
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}

int cmd_repair(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "password-stdin", no_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' }, {}
    };
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': cli.json = true; break;
        case 'p': cli_password_stdin = true; break;
        default:
            fputs(usage, c == 'h' ? stdout : stderr);
            return c == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        log_error("give what to repair: 'index'; see 'cloudseal repair --help'");
        return CLI_USAGE;
    }
    if (strcmp(argv[optind], "index") == 0)
        return repair_index();
    log_error("cannot repair '%s': give 'index'; see 'cloudseal repair --help'", argv[optind]);
    return CLI_USAGE;
}
