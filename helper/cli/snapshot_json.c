/* SPDX-License-Identifier: MIT */
/* A snapshot as the CLI prints it (`snapshots`, `backup`, `status` with
 * --json): the stored object's JSON (lib/repo/snapshot.c, which must stay
 * as written) with every string the snapshot's writer chose (source paths,
 * tags from a command line, host and user; any bytes, since whoever holds
 * the key writes the object) under the rule of every name in JSON output
 * (util/json.h): U+FFFD for people, the exact bytes in KEY_base64 when one
 * is not UTF-8, so the document stays readable. */
#include <stdio.h>
#include <json-c/json.h>

#include "cli_json.h"
#include "repo_cli.h"
#include "repo/browse.h"
#include "util/json.h"

json_object *repo_cli_snapshot_json(const cs_snapshot *s)
{
    json_object *o = cs_snapshot_to_json(s, true);

    /* json_object_object_add() replaces the raw members in place */
    if (o && (cs_json_add_name(o, "host", s->host ? s->host : "") < 0 ||
              cs_json_add_name(o, "user", s->user ? s->user : "") < 0 ||
              cs_json_add_names(o, "paths", s->paths, s->npaths) < 0 ||
              cs_json_add_names(o, "tags", s->tags, s->ntags) < 0)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

void repo_cli_node_json(json_object *o, const cs_node *n)
{
    cli_json_add(o, "type", json_object_new_string(cs_node_type_name(n)));
    cli_json_add(o, "mode", json_object_new_int64(n->mode & 07777));
    cli_json_add(o, "uid", json_object_new_int64(n->uid));
    cli_json_add(o, "gid", json_object_new_int64(n->gid));
    cli_json_add(o, "size", json_object_new_uint64(n->size));
    cli_json_add(o, "mtime", json_object_new_int64(n->mtime_s));
    cli_json_add(o, "mtime_ns", json_object_new_int64(n->mtime_ns));
}
