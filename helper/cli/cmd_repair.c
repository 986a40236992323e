/* SPDX-License-Identifier: MIT */
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
    "Usage: cloudseal repair index [--json]\n"
    "       cloudseal repair snapshots [--dry-run] [--read-data] [--json]\n\n"
    "index      rebuild the index from the packs' own (encrypted) headers: every pack is\n"
    "           read, every blob decrypted and its id verified, a new index is written,\n"
    "           and only then are the old index objects removed.  Run it when 'check'\n"
    "           reports a damaged index object or packs that are not indexed.\n"
    "snapshots  for every snapshot whose trees or data are damaged or missing, write a\n"
    "           new snapshot (tag 'repaired') that keeps everything still readable: a file\n"
    "           whose data is lost is left out, a directory whose listing is lost is kept\n"
    "           empty; each is named.  Then the original is removed, so the damage stops\n"
    "           failing 'check'.  Run 'repair index' first.  --read-data also decrypts\n"
    "           every blob (else the index and the data/ listing decide); --dry-run only\n"
    "           names what would be lost.\n"
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

static void print_snapshots(const cs_repair_snapshots_result *res, bool dry)
{
    if (cli.json) {
        json_object *j = json_object_new_object(), *a = json_object_new_array();
        json_object_object_add(j, "dry_run", json_object_new_boolean(dry));
        json_object_object_add(j, "snapshots", json_object_new_uint64(res->snapshots));
        for (size_t i = 0; i < res->nrepaired; i++) {
            const cs_repair_snap *r = &res->repaired[i];
            json_object *o = json_object_new_object();
            char hex[65];
            bool gone = true;
            cs_id_hex(&r->old_id, hex);
            json_object_object_add(o, "old", json_object_new_string(hex));
            for (int k = 0; k < CS_ID_LEN; k++)
                gone &= r->new_id.b[k] == 0;
            cs_id_hex(&r->new_id, hex);
            json_object_object_add(o, "new", gone ? NULL : json_object_new_string(hex));
            json_object_object_add(o, "lost", json_object_new_uint64(r->lost));
            json_object_array_add(a, o);
        }
        json_object_object_add(j, "repaired", a);
        printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
        json_object_put(j);
        return;
    }
    if (cli.quiet)
        return;
    for (size_t i = 0; i < res->nrepaired; i++) {
        char o[65], n[65];
        bool gone = true;
        cs_id_hex(&res->repaired[i].old_id, o);
        cs_id_hex(&res->repaired[i].new_id, n);
        for (int k = 0; k < CS_ID_LEN; k++)
            gone &= res->repaired[i].new_id.b[k] == 0;
        if (gone && dry)
            printf("snapshot %.8s: would be replaced (%llu item(s) lost, named above)\n", o,
                   (unsigned long long)res->repaired[i].lost);
        else if (gone)
            printf("snapshot %.8s: unreadable, removed\n", o);
        else
            printf("snapshot %.8s: replaced by %.8s (tag 'repaired'); %llu item(s) lost, named above\n", o, n,
                   (unsigned long long)res->repaired[i].lost);
    }
    printf("%s%zu of %llu snapshot(s) %s\n", dry ? "dry run: " : "", res->nrepaired,
           (unsigned long long)res->snapshots, dry ? "need a repair" : "repaired");
}

static int repair_snapshots(bool dry, bool read_data)
{
    cs_repair_snapshots_result res = { 0 };
    repo_cli rc;
    int r, e;

    repo_cli_no_object_cache = true;
    if ((r = repo_cli_open(&rc)) != CLI_OK)
        return r;
    e = cs_repair_snapshots(rc.repo, dry, read_data, &res);
    if (e == 0)
        print_snapshots(&res, dry);
    else if (e != -EBUSY && e != -EBADMSG)
        log_error("repair snapshots failed: %s; no snapshot was removed that was not replaced first",
                  strerror(-e));
    cs_repair_snapshots_result_free(&res);
    repo_cli_close(&rc);
    return repo_cli_exit(e);
}

int cmd_repair(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "password-stdin", no_argument, NULL, 'p' },
        { "dry-run", no_argument, NULL, 'n' }, { "read-data", no_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' }, {}
    };
    bool dry = false, read_data = false;
    int c;

    while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': dry = true; break;
        case 'r': read_data = true; break;
        case 'j': cli.json = true; break;
        case 'p': cli_password_stdin = true; break;
        default:
            fputs(usage, c == 'h' ? stdout : stderr);
            return c == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        log_error("give what to repair: 'index' or 'snapshots'; see 'cloudseal repair --help'");
        return CLI_USAGE;
    }
    if (strcmp(argv[optind], "index") == 0 && !dry && !read_data)
        return repair_index();
    if (strcmp(argv[optind], "snapshots") == 0)
        return repair_snapshots(dry, read_data);
    log_error("cannot repair '%s'%s: give 'index' or 'snapshots'; see 'cloudseal repair --help'", argv[optind],
              strcmp(argv[optind], "index") == 0 ? " with --dry-run or --read-data" : "");
    return CLI_USAGE;
}
