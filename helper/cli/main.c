/* SPDX-License-Identifier: MIT */
/* cloudseal: the user and admin command-line tool.  Dispatches to one
 * cmd_*.c file per subcommand (listed in commands.def). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto/kdf.h"
#include "util/log.h"
#include "util/secmem.h"

cli_globals cli;

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
#define CS_COMMAND(name, fn, summary) { name, fn, summary },
#include "commands.def"
#undef CS_COMMAND
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: cloudseal [--config FILE] [--json] [--debug] COMMAND [ARGS...]\n\n"
               "End-to-end encrypted backup and sync, unlocked by your login password.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'cloudseal COMMAND --help' for a command's options; see cloudseal(1).\n");
}

const cs_config *cli_config(void)
{
    static cs_config *config;

    if (!config && cs_config_load(cli.config_path, &config) < 0) {
        log_error("fix the configuration file %s and try again",
                  cli.config_path ? cli.config_path : CS_CONFIG_DEFAULT_PATH);
        exit(CLI_USAGE);
    }
    /* keybags are hostile: what they may ask of this machine ([kdf] max_*) */
    cs_kdf_set_limit_from_config(config);
    return config;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "debug", no_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        {}
    };
    int c;

    cli.config_path = getenv("CLOUDSEAL_CONFIG");
    /* '+': stop at the subcommand, whose options are its own */
    while ((c = getopt_long(argc, argv, "+c:jdqhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli.config_path = optarg; break;
        case 'j': cli.json = true; break;
        case 'd': cli.debug = true; break;
        case 'q': cli.quiet = true; break;
        case 'h': usage(stdout); return CLI_OK;
        case 'V': printf("cloudseal %s\n", CS_VERSION); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    cs_log_setup("cloudseal", cli.debug ? LOG_DEBUG : cli.quiet ? LOG_WARNING : LOG_INFO);
    if (optind >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (cs_crypto_init() < 0 || cs_process_harden() < 0) {
        log_error("cannot initialise cryptography or harden the process");
        return CLI_FAILED;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0) {
            optind++; /* subcommands parse argv from their own name on */
            argv += optind - 1;
            argc -= optind - 1;
            optind = 0; /* reset getopt for the subcommand */
            return commands[i].fn(argc, argv);
        }
    }
    log_error("unknown command '%s'; run 'cloudseal --help' for the list", argv[optind]);
    return CLI_USAGE;
}
