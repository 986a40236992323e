/* SPDX-License-Identifier: MIT */
/* Talking to cloudseal-agent over its control socket (see
 * lib/agent/agent_proto.h for the protocol).  Used by `cloudseal status`,
 * `cloudseal agent`, and by unlock/lock to tell the agent at once. */
#ifndef CS_CLI_AGENT_CLIENT_H
#define CS_CLI_AGENT_CLIENT_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

/* Send one request ("status", "backup-now", "sync-now", "lock",
 * "unlock-notify") and read the reply (*reply: new reference).
 * -ENOENT / -ECONNREFUSED when no agent listens, -ENXIO without
 * XDG_RUNTIME_DIR, -ETIMEDOUT, -EBADMSG for a malformed reply. */
int agent_request(const char *cmd, json_object **reply);

/* The agent's part of `cloudseal status`: with json, adds "agent" (the
 * status reply, or {"running":false}) to obj; otherwise prints lines to f.
 * Returns 0 when an agent answered, else a negative errno (and says so). */
int agent_status_report(FILE *f, bool json, json_object *obj);

/* Best effort, silent: tell a running agent the key is in the keyring now
 * (after `cloudseal unlock`) or that it must lock (after `cloudseal lock`). */
void agent_notify_unlock(void);
void agent_notify_lock(void);
/* agent_request with "seconds" (pause); seconds < 0: none. */
int agent_request_seconds(const char *cmd, int64_t seconds, json_object **reply);
/* `cloudseal agent retention` (agent_retention.c): an exit code. */
int agent_retention(bool with_prune, bool dry);

#endif
