/* SPDX-License-Identifier: MIT */
/* cloudseal-helper: the privileged steps pam_cloudseal.so execs (unlock,
 * hand-off to the kernel keyring, revoke, re-wrap), one cmd_*.c file per
 * subcommand listed in commands.def.
 *
 * It is started with an empty environment and does not consult it; secrets
 * arrive only on fd 0 in bounded frames (protocol.h); the whole run is
 * bounded by alarm(); a caller other than root may act only for itself. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "crypto/kdf.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/parse.h"
#include "util/verbs.h"

helper_globals helper = { .timeout_sec = 60 };

static const cs_verb commands[] = {
#define HELPER_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "commands.def"
#undef HELPER_COMMAND
};

/* The tool's own options parse as a verb's (util/verbs.h) do. */
static const cs_verb tool = {
    "cloudseal-helper", CS_VERB_ANY, CS_VERB_ANY, 0, NULL, "the privileged steps of cloudseal",
    "Usage: cloudseal-helper [--config FILE] [--timeout SECONDS] [--debug] COMMAND [--user NAME] [OPTIONS]\n\n"
    "Privileged steps of cloudseal, run by pam_cloudseal.so and system units;\n"
    "not meant to be run by hand.  Secrets are read from fd 0 as length-prefixed\n"
    "frames, never from the command line or the environment.\n"
};

/* after the tool's usage: the commands and the exit codes */
static void list_commands(FILE *f)
{
    fprintf(f, "\nCommands:\n");
    cs_verbs_print(f, commands, CS_ARRAY_SIZE(commands), 14);
    fprintf(f, "\nExit status: 0 ok, 2 usage, 10 wrong password, 11 not enrolled, 12 keybag corrupt,\n"
               "13 keybag rolled back, 14 storage unavailable, 15 internal error, 16 denied,\n"
               "17 no key in the keyring, 18 not in the fleet directory, 19 refused by the fleet\n"
               "directory, 20 key not the pinned one, 21 unlocked but the password must be changed,\n"
               "22 the key is another account's, 23 configuration file invalid or unreadable.\n"
               "Run 'cloudseal-helper COMMAND --help' for a command.\n");
}

int helper_opt_exit(int c)
{
    return c == CS_VERB_HELP ? CS_HELPER_OK : CS_HELPER_USAGE;
}

const cs_config *helper_config(void)
{
    static cs_config *config;

    /* cs_config_load has said which file, line and form: that is the one
     * line the PAM module reports (fd 2), with the exit code that says so */
    if (!config && cs_config_load(helper.config_path, &config) < 0)
        exit(CS_HELPER_CONFIG);
    /* keybags are hostile: what they may ask of this machine ([kdf] max_*) */
    cs_kdf_set_limit_from_config(config);
    return config;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 't' },
        { "debug", no_argument, NULL, 'd' },
        { "version", no_argument, NULL, 'V' },
        {}
    };
    int c, r, ex, timeout;

    /* A broken pipe to the PAM module must not leave us running; SIGALRM
     * keeps its default action (terminate), which is the run-time bound. */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    cs_verb_enter(&tool);
    while ((c = cs_verb_getopt(argc, argv, "+c:t:dV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': helper.config_path = optarg; break;
        case 't':
            if (cs_parse_int(optarg, 1, 3600, &timeout) < 0) {
                fprintf(stderr, "cloudseal-helper: --timeout wants 1..3600 seconds\n");
                return CS_HELPER_USAGE;
            }
            helper.timeout_sec = (unsigned)timeout;
            break;
        case 'd': helper.debug = true; break;
        case 'V': printf("cloudseal-helper %s\n", CS_VERSION); return CS_HELPER_OK;
        case CS_VERB_HELP: list_commands(stdout); return CS_HELPER_OK;
        default: return CS_HELPER_USAGE;
        }
    }
    /* Only warnings and errors by default: the module reports the last line. */
    cs_log_setup("cloudseal-helper", helper.debug ? LOG_DEBUG : LOG_WARNING);
    if (optind >= argc) { /* the whole usage: what there is to do */
        fputs(tool.usage, stderr);
        list_commands(stderr);
        return CS_HELPER_USAGE;
    }
    alarm(helper.timeout_sec);
    if (cs_crypto_init() < 0 || cs_process_harden() < 0) {
        log_error("cannot initialise cryptography or harden the process");
        return CS_HELPER_INTERNAL;
    }
    r = cs_verb_dispatch(commands, CS_ARRAY_SIZE(commands), argc, argv, &ex);
    if (r == -ENOENT)
        log_error("unknown command '%s'; run 'cloudseal-helper --help' for the list", argv[optind]);
    return r < 0 ? CS_HELPER_USAGE : ex;
}
