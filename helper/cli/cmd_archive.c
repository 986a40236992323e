/* SPDX-License-Identifier: MIT */
/* cloudseal archive sync|status|deleted|undelete|devices|forget-device: the
 * message-archive sync (docs/archive.md); the sub-verbs are a verb table
 * (archive_commands.def). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "archive/archive.h"
#include "account/credentials.h"
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "storage/storage_s3.h"
#include "unlock_common.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/parse.h"
#include "util/strv.h"

static int exit_code(int r)
{
    switch (r) {
    case 0: return CLI_OK;
    case -ENOKEY: case -EACCES: return CLI_LOCKED;
    case -EBADMSG: return CLI_DATA_ERROR;
    case -EHOSTUNREACH: case -ETIMEDOUT: case -ECONNRESET: case -ECONNREFUSED: return CLI_UNAVAILABLE;
    case -EINVAL: return CLI_USAGE;
    case -ECANCELED: return CLI_NEEDS_CONSENT;
    default: return CLI_FAILED;
    }
}

/* The [archive] paths; -EINVAL (said) when they are not usable. */
static int archive_paths(char **maildir, char **state_dir)
{
    if (cs_archive_paths_from_config(cli_config(), maildir, state_dir) >= 0)
        return 0;
    log_error("[archive] maildir and state_dir must be absolute paths or start with ~/");
    free(*maildir);
    free(*state_dir);
    *maildir = *state_dir = NULL;
    return -EINVAL;
}

/* One JSON object from a table: status and the listings build theirs alike. */
typedef struct json_field {
    const char *key;
    enum { JF_INT, JF_STR, JF_BOOL } type;
    int64_t i;
    const char *s;
} json_field;

static json_object *json_from_fields(const json_field *f, size_t n)
{
    json_object *o = json_object_new_object();

    for (size_t k = 0; k < n && o; k++) {
        /* strings are names and paths (any bytes): cs_json_add_name keeps the JSON UTF-8 */
        if (f[k].type == JF_STR) {
            if (cs_json_add_name(o, f[k].key, f[k].s) < 0) {
                json_object_put(o);
                return NULL;
            }
            continue;
        }
        json_object_object_add(o, f[k].key,
                               f[k].type == JF_BOOL ? json_object_new_boolean(f[k].i != 0)
                                                    : json_object_new_int64(f[k].i));
    }
    return o;
}

/* One row of a JSON listing. */
static int add_row(json_object *arr, const json_field *f, size_t n)
{
    json_object *o = json_from_fields(f, n);

    if (!o || json_object_array_add(arr, o) < 0) {
        json_object_put(o);
        return -ENOMEM;
    }
    return 0;
}

/* t as local time in fmt, or dflt when it cannot be shown. */
static const char *local_time(int64_t t, const char *fmt, const char *dflt, char buf[64])
{
    time_t tt = (time_t)t;
    struct tm tm;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (localtime_r(&tt, &tm) && strftime(buf, 64, fmt, &tm) > 0) /* fmt: this file's literals */
        return buf;
#pragma GCC diagnostic pop
    return dflt;
}

static json_object *stats_json(const cs_archive_stats *s)
{
    json_object *o = json_object_new_object();

#define F(name) json_object_object_add(o, #name, json_object_new_int64((int64_t)s->name))
    F(scanned); F(local_added); F(local_changed); F(local_deleted); F(edited); F(folders_changed); F(vanished);
    F(segments_fetched); F(entries_applied); F(delivered); F(renamed); F(removed);
    F(conflicts); F(packs_uploaded); F(bytes_uploaded); F(bytes_downloaded);
    F(bodies_reused); F(skipped); F(deletions_held); F(undeleted); F(gc_packs); F(gc_deleted); F(gc_bytes_freed); F(gc_waiting);
    F(tombstones_collected); F(tombstones_waiting); F(tombstones_blocked); F(collected_names);
#undef F
    return o;
}

/* The plan (dry-run actions), one line each, under key: the lines name
 * folders and messages (any bytes), so as names (util/json.h). */
static int add_plan(json_object *o, const char *key, const char *text)
{
    _cleanup_strv_ cs_strv lines = CS_STRV_INIT;
    const char *p = text;
    int r = 0;

    while (r >= 0 && p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);

        r = cs_strv_push(&lines, strndup(p, n));
        p = nl ? nl + 1 : NULL;
    }
    return r < 0 ? r : cs_json_add_names(o, key, lines.v, lines.n);
}

static void print_text(const cs_archive_stats *s, bool dry_run, double secs)
{
    printf("%s: %llu new and %llu changed local messages%s, %llu local deletions;\n",
           dry_run ? "Dry run (nothing changed)" : "Synced",
           (unsigned long long)s->local_added, (unsigned long long)s->local_changed,
           dry_run ? " to record" : " recorded", (unsigned long long)s->local_deleted);
    printf("  from other workstations: %llu delivered, %llu moved or reflagged, %llu deleted",
           (unsigned long long)s->delivered, (unsigned long long)s->renamed, (unsigned long long)s->removed);
    if (s->conflicts)
        printf(", %llu name conflicts resolved", (unsigned long long)s->conflicts);
    printf(";\n  %llu messages scanned, %.1f MiB sent, %.1f MiB received in %.2f s.\n",
           (unsigned long long)s->scanned, (double)s->bytes_uploaded / 1048576.0,
           (double)s->bytes_downloaded / 1048576.0, secs);
    if (s->skipped)
        printf("  %llu messages were busy in your mail client; the next sync retries them.\n",
               (unsigned long long)s->skipped);
    if (s->edited)
        printf("  %llu messages were edited in place: each is now a new message (a new file name); the old\n"
               "  versions are in 'cloudseal archive deleted'.\n", (unsigned long long)s->edited);
    if (s->undeleted)
        printf("  %llu messages undeleted: they come back on your other workstations at their next sync.\n",
               (unsigned long long)s->undeleted);
}

static void print_gc(const cs_archive_stats *s, bool dry_run)
{
    printf("Packs: %llu stored, %llu %s (%.1f MiB), %llu unneeded but within the grace period.\n",
           (unsigned long long)s->gc_packs, (unsigned long long)s->gc_deleted,
           dry_run ? "to delete" : "deleted", (double)s->gc_bytes_freed / 1048576.0,
           (unsigned long long)s->gc_waiting);
    if (s->tombstones_collected || s->tombstones_waiting || s->tombstones_blocked)
        printf("Deletions: %llu collected, %llu seen by every workstation (collected at a later run), %llu\n"
               "  waiting for a workstation that has not synced since ('cloudseal archive devices' says which).\n",
               (unsigned long long)s->tombstones_collected, (unsigned long long)s->tombstones_waiting,
               (unsigned long long)s->tombstones_blocked);
}

/* A progress line: on a terminal for people, JSON lines for the agent. */
typedef struct progress_state {
    int last_percent;
    bool tty;
} progress_state;

static void on_progress(void *ud, const char *phase, uint64_t done, uint64_t total)
{
    progress_state *p = ud;
    int percent = total ? (int)(done * 100 / total) : 100;

    if (percent == p->last_percent)
        return;
    p->last_percent = percent;
    if (cli.json) {
        json_object *o = json_object_new_object();

        cli_json_add(o, "phase", json_object_new_string(phase));
        cli_json_add(o, "percent", json_object_new_int(percent));
        cli_json_add(o, "messages_done", json_object_new_uint64(done));
        cli_json_add(o, "messages_total", json_object_new_uint64(total));
        cli_print_json(o, JSON_C_TO_STRING_PLAIN); /* flushed: a line as it happens */
    } else if (p->tty) {
        fprintf(stderr, "\rarchive: %s messages: %llu of %llu (%d%%)   ", phase, (unsigned long long)done,
                (unsigned long long)total, percent);
        if (done >= total)
            fputc('\n', stderr);
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the command line asked for. */
typedef struct args {
    bool dry_run, gc, grace_given, all;
    int64_t grace, since;   /* -1: not given */
    uint64_t allow;         /* --allow-deletions */
    const char *folder;
    const char *const *ids;
    size_t nids;
    const uint8_t *forget;  /* forget-device */
} args;

/* The one line a failed run ends with, whatever the library logged before
 * it (or did not): what failed and what to do next. */
static void say_failed(int r, const char *what)
{
    if (exit_code(r) == CLI_UNAVAILABLE)
        log_error_errno(r, "%s failed: the storage did not answer (%m); check the network, then run "
                        "'cloudseal %s' again", what, what);
    else if (r == -EBADMSG)
        log_error_errno(r, "%s failed: data in storage did not verify (%m); syncing again does not "
                        "repair it: see the message above and docs/archive.md", what);
    else
        log_error_errno(r, "%s failed (%m); run 'cloudseal %s' again: a sync goes on from where a failed "
                        "one stopped. If it fails the same way, see 'cloudseal archive status'", what, what);
}

static int do_sync(const args *a, bool undelete)
{
    const cs_config *cfg = cli_config();
    bool dry_run = a->dry_run, gc = a->gc;
    cs_archive_opts o = { .dry_run = dry_run, .user = cli_user(), .gc = gc,
                          .gc_grace_sec = (uint64_t)(a->grace >= 0 ? a->grace : cs_config_int(cfg, "archive", "gc_grace")),
                          .gc_interval_sec = (uint64_t)cs_config_int(cfg, "archive", "gc_interval"),
                          .pack_target = (size_t)cs_config_int(cfg, "archive", "pack_size"),
                          .max_deletions = (uint64_t)cs_config_int(cfg, "archive", "max_deletions"),
                          .max_deletions_percent = (uint64_t)cs_config_int(cfg, "archive", "max_deletions_percent"),
                          .allow_deletions = a->allow,
                          .keep_deleted_sec = (uint64_t)cs_config_int(cfg, "archive", "keep_deleted") };
    cs_archive_stats st;
    char *maildir = NULL, *state_dir = NULL, *plan = NULL;
    size_t plan_len = 0;
    FILE *planf = NULL;
    cs_amk *amk = NULL;
    double t0 = now_s();
    progress_state prog = { .last_percent = -1, .tty = isatty(STDERR_FILENO) };
    int r;

    if (archive_paths(&maildir, &state_dir) < 0)
        return CLI_USAGE;
    o.maildir = maildir;
    o.state_dir = state_dir;
    o.forget_device = a->forget;
    if (undelete) {
        o.undelete_all = a->all;
        o.undelete_since_sec = a->since > 0 ? (uint64_t)a->since : 0;
        o.undelete_ids = a->ids;
        o.undelete_n = a->nids;
    }
    r = cli_obtain_amk(&amk);
    if (r < 0) {
        if (r == -ENOKEY)
            log_error("your keys are locked: run 'cloudseal unlock' or give your password");
        goto out;
    }
    r = cs_storage_open_user(cfg, cli_user(), amk, &o.storage, NULL);
    if (r < 0) {
        log_error_errno(r, "cannot open the storage named in [storage] url");
        if (r != -EBADMSG)
            r = -EHOSTUNREACH;
        goto out;
    }
    if (dry_run) {
        planf = cli.json ? open_memstream(&plan, &plan_len) : stdout;
        o.plan = planf;
    } else if (cli.json || (isatty(STDERR_FILENO) && !cli.quiet)) {
        o.progress = on_progress;
        o.progress_userdata = &prog;
    }
    r = cs_archive_sync(&o, amk, &st);
    if (planf && planf != stdout)
        fclose(planf);
    if (cli.json) {
        json_object *j = stats_json(&st);

        json_object_object_add(j, "ok", json_object_new_boolean(r == 0));
        json_object_object_add(j, "dry_run", json_object_new_boolean(dry_run));
        if (dry_run)
            (void)add_plan(j, "actions", plan); /* out of memory: no actions, as before */
        if (r == -ECANCELED) /* the agent shows this to the user */
            json_object_object_add(j, "error", json_object_new_string(
                "mass deletion held: run 'cloudseal archive sync' in a terminal to see what and what to do"));
        else if (r < 0)
            json_object_object_add(j, "error", json_object_new_string(strerror(-r)));
        cli_print_json(j, JSON_C_TO_STRING_PLAIN);
    } else if ((r == 0 || r == -ECANCELED) && !cli.quiet) {
        print_text(&st, dry_run, now_s() - t0);
        if (st.deletions_held)
            printf("  %llu deletions from other workstations held (see above).\n",
                   (unsigned long long)st.deletions_held);
        if (gc || st.gc_deleted || st.gc_waiting || st.tombstones_collected || st.tombstones_blocked)
            print_gc(&st, dry_run);
    }
    if (r < 0 && r != -ECANCELED && r != -EBUSY && !cli.json)
        say_failed(r, undelete ? "archive undelete" : a->forget ? "archive forget-device" : "archive sync");
    if (r == -EBUSY)
        r = -EAGAIN; /* message already given; a plain failure */
out:
    cs_storage_close(o.storage);
    cs_amk_free(amk);
    free(maildir);
    free(state_dir);
    free(plan);
    return exit_code(r);
}

static int do_status(void)
{
    char *maildir = NULL, *state_dir = NULL;
    cs_archive_status s;
    int r = archive_paths(&maildir, &state_dir);

    if (r < 0)
        return CLI_USAGE;
    r = cs_archive_get_status(state_dir, &s);
    if (r < 0) {
        log_error_errno(r, "cannot read the archive state in %s", state_dir);
    } else if (cli.json) {
        const json_field f[] = {
            { "initialised", JF_BOOL, s.initialised, NULL }, { "maildir", JF_STR, 0, maildir },
            { "state_dir", JF_STR, 0, state_dir }, { "device_id", JF_STR, 0, s.device_id },
            { "messages", JF_INT, (int64_t)s.messages, NULL },
            { "local_messages", JF_INT, (int64_t)s.local_messages, NULL },
            { "deleted", JF_INT, (int64_t)s.deleted, NULL }, { "held_deletions", JF_INT, (int64_t)s.held, NULL },
            { "devices", JF_INT, (int64_t)s.devices, NULL },
            { "segments_written", JF_INT, (int64_t)s.segments_written, NULL },
            { "last_sync", JF_INT, s.last_sync, NULL },
        };
        json_object *j = json_from_fields(f, CS_ARRAY_SIZE(f));

        cli_print_json(j, JSON_C_TO_STRING_PRETTY);
    } else if (!s.initialised) {
        printf("Message archive: not synced yet on this workstation.\n"
               "Maildir: %s\nState:   %s\nRun 'cloudseal archive sync' to start.\n", maildir, state_dir);
    } else {
        char when[64];

        printf("Message archive\n"
               "  Maildir:        %s\n"
               "  State:          %s\n"
               "  This device:    %s (%llu devices in all)\n"
               "  Messages:       %llu (%llu on this workstation), %llu deleted\n"
               "  Last sync:      %s\n",
               maildir, state_dir, s.device_id, (unsigned long long)s.devices,
               (unsigned long long)s.messages, (unsigned long long)s.local_messages, (unsigned long long)s.deleted,
               s.last_sync ? local_time(s.last_sync, "%Y-%m-%d %H:%M:%S", "never", when) : "never");
        if (s.held)
            printf("  Held:           %llu messages deleted on another workstation are still here: more than\n"
                   "                  [archive] max_deletions allows; 'cloudseal archive sync' says what to do\n",
                   (unsigned long long)s.held);
    }
    free(maildir);
    free(state_dir);
    return exit_code(r);
}

static int print_deleted(const cs_archive_deleted *d, void *ud)
{
    json_object *arr = ud;
    char when[64];

    if (arr) {
        const json_field f[] = {
            { "id", JF_STR, 0, d->id }, { "folder", JF_STR, 0, d->folder },
            { "deleted_at", JF_INT, d->deleted_at, NULL }, { "received", JF_INT, d->received, NULL },
            { "size", JF_INT, (int64_t)d->size, NULL }, { "deleted_by", JF_STR, 0, d->device },
        };
        return add_row(arr, f, CS_ARRAY_SIZE(f));
    }
    printf("%-16s  %-16s  %9llu  %s\n", local_time(d->deleted_at, "%Y-%m-%d %H:%M", "?", when),
           d->folder[0] ? d->folder : "INBOX", (unsigned long long)d->size, d->id);
    return 0;
}

static int print_device(const cs_archive_device *d, void *ud)
{
    json_object *arr = ud;
    char when[64];

    if (arr) {
        const json_field f[] = {
            { "id", JF_STR, 0, d->id }, { "this_device", JF_BOOL, d->this_device, NULL },
            { "forgotten", JF_BOOL, d->forgotten, NULL }, { "claimed_at", JF_INT, d->claimed_at, NULL },
            { "segments", JF_INT, (int64_t)d->segments, NULL }, { "holding", JF_INT, (int64_t)d->holding, NULL },
        };
        return add_row(arr, f, CS_ARRAY_SIZE(f));
    }
    printf("%-16s  %-16s  %8llu  %s\n", d->id,
           d->claimed_at ? local_time(d->claimed_at, "%Y-%m-%d %H:%M", "never", when) : "never",
           (unsigned long long)d->holding, d->this_device ? "this workstation" : d->forgotten ? "forgotten" : "");
    return 0;
}

/* What devices and deleted share: the state's paths and a header or a JSON
 * array before the rows, the array or a hint after them. */
typedef struct listing {
    char *maildir, *state_dir;
    uint64_t keep; /* [archive] keep_deleted */
    json_object *arr; /* --json: the rows go here */
} listing;

static int listing_begin(listing *l, const char *header)
{
    *l = (listing){ .keep = (uint64_t)cs_config_int(cli_config(), "archive", "keep_deleted") };
    if (archive_paths(&l->maildir, &l->state_dir) < 0)
        return -EINVAL;
    if (cli.json)
        l->arr = json_object_new_array();
    else
        fputs(header, stdout);
    return 0;
}

/* r: what listing the rows returned; the exit code. */
static int listing_end(listing *l, int r, const char *hint)
{
    int ex = exit_code(r);

    if (r < 0)
        log_error_errno(r, "cannot read the archive state in %s", l->state_dir);
    else if (l->arr)
        ex = cli_print_json(CS_TAKE_PTR(l->arr), JSON_C_TO_STRING_PRETTY);
    else
        fputs(hint, stdout);
    json_object_put(l->arr);
    free(l->maildir);
    free(l->state_dir);
    return ex;
}

static int do_devices(void)
{
    char header[128];
    listing l;

    snprintf(header, sizeof(header), "%-16s  %-16s  %8s\n", "WORKSTATION", "CLAIMED", "HOLDING");
    if (listing_begin(&l, header) < 0)
        return CLI_USAGE;
    return listing_end(&l, cs_archive_list_devices(l.state_dir, l.keep, print_device, l.arr),
                       "HOLDING: deletions older than [archive] keep_deleted that the workstation has not\n"
                       "confirmed yet (it must sync). If a workstation is gone for good, run\n"
                       "'cloudseal archive forget-device ID'.\n");
}

static int do_deleted(const args *a)
{
    const char *folder = a->folder && strcmp(a->folder, "INBOX") == 0 ? "" : a->folder;
    char header[128];
    listing l;

    snprintf(header, sizeof(header), "%-16s  %-16s  %9s  %s\n", "DELETED", "FOLDER", "SIZE", "ID");
    if (listing_begin(&l, header) < 0)
        return CLI_USAGE;
    return listing_end(&l,
                       cs_archive_list_deleted(l.state_dir, l.keep, a->since > 0 ? (uint64_t)a->since : 0, folder,
                                               print_deleted, l.arr),
                       "'cloudseal archive undelete ID...' brings messages back on every workstation.\n");
}

/* Every option of the sub-verbs; each passes cli_getopt() its own. */
enum { OPT_DRY_RUN = 'n', OPT_GC = 'g', OPT_GRACE = 'G', OPT_ALLOW = 'A', OPT_SINCE = 's', OPT_FOLDER = 'f',
       OPT_ALL = 'a' };
#define O_DRY_RUN { "dry-run", no_argument, NULL, OPT_DRY_RUN }
#define O_SINCE { "since", required_argument, NULL, OPT_SINCE }

/* Parse the sub-verb's options into a: -1 when the verb goes on, else the
 * exit code to return (after --help, or a bad command line). */
static int parse(int argc, char **argv, const char *shortopts, const struct option *opts, args *a)
{
    int c;

    *a = (args){ .grace = -1, .since = -1 };
    while ((c = cli_getopt(argc, argv, shortopts, opts)) != -1) {
        switch (c) {
        case OPT_DRY_RUN: a->dry_run = true; break;
        case OPT_GC: a->gc = true; break;
        case OPT_GRACE:
            if (cs_parse_duration(optarg, &a->grace) < 0 || a->grace < 0) {
                log_error("--gc-grace: '%s' is not a duration like 7d or 12h (0 = at the next --gc)", optarg);
                return CLI_USAGE;
            }
            a->grace_given = true;
            break;
        case OPT_SINCE:
            if (cs_parse_duration(optarg, &a->since) < 0 || a->since <= 0) {
                log_error("--since: '%s' is not a duration like 2h or 3d", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_ALLOW:
            if (cs_parse_uint(optarg, 0, UINT64_MAX, &a->allow) < 0) {
                log_error("--allow-deletions: '%s' is not a number of messages", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_FOLDER: a->folder = optarg; break;
        case OPT_ALL: a->all = true; break;
        default: return cli_opt_exit(c);
        }
    }
    return -1;
}

static int archive_sync(int argc, char **argv)
{
    static const struct option opts[] = {
        O_DRY_RUN, { "gc", no_argument, NULL, OPT_GC }, { "gc-grace", required_argument, NULL, OPT_GRACE },
        { "allow-deletions", required_argument, NULL, OPT_ALLOW }, {}
    };
    args a;
    int r = parse(argc, argv, "n", opts, &a);

    if (r >= 0)
        return r;
    if (a.grace_given && !a.gc) {
        log_error("--gc-grace goes with --gc; see 'cloudseal archive sync --help'");
        return CLI_USAGE;
    }
    return do_sync(&a, false);
}

static int archive_undelete(int argc, char **argv)
{
    static const struct option opts[] = { O_DRY_RUN, O_SINCE, { "all", no_argument, NULL, OPT_ALL }, {} };
    args a;
    int r = parse(argc, argv, "n", opts, &a);

    if (r >= 0)
        return r;
    a.ids = (const char *const *)argv + optind;
    a.nids = (size_t)(argc - optind);
    if ((a.all + (a.since >= 0) + (a.nids > 0)) != 1) {
        log_error("say what to undelete: --all, --since DURATION or the IDs 'cloudseal archive deleted' "
                  "lists (one of them)");
        return CLI_USAGE;
    }
    return do_sync(&a, true);
}

static int archive_forget_device(int argc, char **argv)
{
    static const struct option opts[] = { O_DRY_RUN, {} };
    static uint8_t id[8];
    size_t bin = 0;
    args a;
    int r = parse(argc, argv, "n", opts, &a);

    if (r >= 0)
        return r;
    if (strlen(argv[optind]) != 16 || strspn(argv[optind], "0123456789abcdef") != 16 ||
        sodium_hex2bin(id, sizeof(id), argv[optind], 16, NULL, &bin, NULL) != 0 || bin != 8) {
        log_error("forget-device: give one workstation ID (16 hex digits) as 'cloudseal archive devices' "
                  "lists it");
        return CLI_USAGE;
    }
    a.forget = id;
    return do_sync(&a, false);
}

static int archive_status(int argc, char **argv)
{
    args a;
    int r = parse(argc, argv, "", NULL, &a);

    return r >= 0 ? r : do_status();
}

static int archive_deleted(int argc, char **argv)
{
    static const struct option opts[] = { O_SINCE, { "folder", required_argument, NULL, OPT_FOLDER }, {} };
    args a;
    int r = parse(argc, argv, "", opts, &a);

    return r >= 0 ? r : do_deleted(&a);
}

static int archive_devices(int argc, char **argv)
{
    args a;
    int r = parse(argc, argv, "", NULL, &a);

    return r >= 0 ? r : do_devices();
}

static const cs_verb archive_commands[] = {
#define ARCHIVE_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "archive_commands.def"
#undef ARCHIVE_COMMAND
};

int cmd_archive(int argc, char **argv)
{
    return cli_sub_dispatch(archive_commands, CS_ARRAY_SIZE(archive_commands), argc, argv, NULL);
}
