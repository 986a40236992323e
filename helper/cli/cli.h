/* SPDX-License-Identifier: MIT */
/* Shared pieces of the cloudseal command-line tool. */
#ifndef CS_CLI_CLI_H
#define CS_CLI_CLI_H

#include <stdbool.h>
#include "config/config.h"
#include "crypto/keys.h"

/* Exit codes (sysexits-like, documented in cloudseal(1)). */
enum {
    CLI_OK = 0,
    CLI_FAILED = 1,       /* the operation failed; the message says why */
    CLI_USAGE = 2,        /* bad command line */
    CLI_LOCKED = 3,       /* keys are not unlocked and could not be */
    CLI_NOT_FOUND = 4,    /* no such snapshot/user/object */
    CLI_DATA_ERROR = 5,   /* integrity check failed: tampering or corruption */
    CLI_UNAVAILABLE = 6,  /* storage unreachable */
    /* 7: REPO_CLI_INCOMPLETE (repo_cli.h) */
    CLI_NEEDS_CONSENT = 8, /* archive: mass deletions wait for --allow-deletions */
};

/* Global options parsed by main before the subcommand. */
typedef struct cli_globals {
    const char *config_path; /* --config, or $CLOUDSEAL_CONFIG, or the default */
    bool json;               /* --json where the command supports it */
    bool debug;
    bool quiet;
} cli_globals;

extern cli_globals cli;

/* The configuration, loaded once on first use; exits with a message when the
 * file is invalid. */
const cs_config *cli_config(void);

/* A command-line option that stands for a config key for this run (backup
 * --limit-upload for [storage] upload_limit): validated as the file's value
 * is, a message naming the option when it is not.  Returns 0 or -errno. */
int cli_config_override(const char *option, const char *section, const char *key, const char *value);

/* The account master key of the invoking user, for commands that need it:
 * from the user's kernel keyring when the session is unlocked; otherwise the
 * password is asked for (on the terminal, or one line from stdin when
 * --password-stdin was given or stdin is not a terminal) and the keybag is
 * unwrapped.  Returns 0, -ENOKEY when locked and no password could be had,
 * -EACCES for a wrong password, or another negative errno (a message has
 * been logged in every failing case).  Implemented in unlock_common.c. */
int cli_obtain_amk(cs_amk **out);

#define CS_COMMAND(name, min, max, flags, fn, summary, usage) int fn(int argc, char **argv);
#include "commands.def"
#undef CS_COMMAND

#endif
