/* SPDX-License-Identifier: MIT */
/* `cloudseal admin`: shared pieces of the fleet administration commands
 * (cmd_admin.c dispatches; admin_*.c implement). */
#ifndef CS_CLI_ADMIN_H
#define CS_CLI_ADMIN_H

#include "cli.h"
#include "crypto/keys.h"
#include "fleet/fleet.h"
#include "util/secmem.h"

#define ADMIN_DEFAULT_SOURCE "directory.json"

/* The directory source file: --source, else [fleet] source, else
 * ./directory.json. */
extern const char *admin_source_path;
const char *admin_source(void);

/* Load the source file; logs and returns an exit code (CLI_OK on success). */
int admin_load(cs_directory **out);
/* Validate against the directory's own id range (no local-account check:
 * the admin's machine is not a workstation of the fleet), then save. */
/* admin_load, then the user NAME in it (CLI_NOT_FOUND, with the message). */
int admin_load_user(const char *name, cs_directory **d, cs_fleet_user **u);
int admin_check(const cs_directory *d);
/* A random one-time password (120 bits, 20 characters) for a user to log in
 * with once and replace. */
int admin_one_time_password(cs_secret **out);
/* Put a small text object at key in [storage] with the machine's credentials. */
int admin_put_text(const char *key, const char *text);
/* users/<user>/escrow: user's AMK sealed to the fleet's escrow key (fleet/escrow.h). */
int admin_file_escrow(const char *user, const cs_amk *amk, const uint8_t escrow_pk[CS_FLEET_ESCROW_PK_BYTES]);
int admin_save(const cs_directory *d);
/* Pin key for u; a key other than the pinned one drops u's "keybag" floor
 * (it was another account's). */
void admin_pin_key(cs_fleet_user *u, const uint8_t key[CS_FLEET_PK_BYTES]);
/* Raise u's "keybag" to the one-time-password keybag an admin command
 * just made (never lower), marked one-time in the source. */
struct cs_keybag_made;
void admin_keybag_floor(cs_fleet_user *u, const struct cs_keybag_made *made);

/* Sub-verbs (admin_commands.def): argv[0] is the sub-verb.  admin_edit()
 * is add-user, remove-user, ... (admin_edit.c). */
#define ADMIN_COMMAND(name, min, max, flags, fn, summary, usage) int fn(int argc, char **argv);
#include "admin_commands.def"
#undef ADMIN_COMMAND

/* "a,b,c" -> adds each name to v. */
int admin_add_list(char ***v, size_t *n, const char *csv);

#endif
