/* SPDX-License-Identifier: MIT */
/* Shared by the key commands (enroll, passwd, recover, unlock, lock,
 * keybag, status): who the user is, reading secrets, turning errors into
 * messages and exit codes.  cli_obtain_amk() itself is declared in cli.h. */
#ifndef CS_CLI_UNLOCK_COMMON_H
#define CS_CLI_UNLOCK_COMMON_H

#include <stdbool.h>
#include "account/account.h"
#include "crypto/fido2.h"
#include "util/secmem.h"

/* Set by a command's --password-stdin: secrets are read as lines from
 * stdin (no prompt, no confirmation), in the order the command documents. */
extern bool cli_password_stdin;

/* The login name of the invoking (real) uid; exits with a message if unknown. */
const char *cli_user(void);

/* Read a secret: one line of stdin with --password-stdin (or when there is
 * no terminal), else a prompt with echo off.  Empty input is refused. */
int cli_read_secret(const char *prompt, cs_secret **out);
/* A new password: asked twice on a terminal (must match), once from stdin. */
int cli_read_new_password(const char *prompt, cs_secret **out); /* NULL: "New cloudseal password: " */
/* Put amk into the kernel keyring for all of the user's sessions (locked
 * again after timeout_sec, 0 = never) and wake a waiting agent. */
int cli_unlock_sessions(const cs_amk *amk, unsigned timeout_sec);

/* Log a message for an error of cs_account_* / cs_keyring_* that tells the
 * user what to do next, and return the matching exit code. */
int cli_report(int r, const char *what);

/* Security keys: the person at the key (prompts on the terminal, the PIN
 * from stdin with --password-stdin) and what went wrong with the device.
 * again: the command to run again, for the messages. */
typedef struct cli_fido2 {
    cs_fido2_ui ui;
    int device_err;        /* the device's error, when it was the device */
    const char *again;
} cli_fido2;
void cli_fido2_init(cli_fido2 *k, const char *again);
/* cs_account_fido2_fn (userdata: a cli_fido2): asks the device. */
int cli_fido2_get(void *userdata, const char *rp_id, const cs_keybag_fido2 *slot, cs_secret **out);
/* Report r: the device's error when it was one, else cli_report(). */
int cli_fido2_report(const cli_fido2 *k, int r, const char *what);
/* Unlock user's keys with a security key (and pw for policy both); 0 or
 * an exit code (reported). */
int cli_unlock_fido2(const char *user, const cs_secret *pw, const char *again, cs_amk **out);

/* The unlocked-key id for user: 0, or -ENOENT (not enrolled, message logged). */
int cli_account_id(const char *user, char id[65]);

#endif
