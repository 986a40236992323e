/* SPDX-License-Identifier: MIT */
/* cloudseal: the user and admin command-line tool.  Dispatches to one
 * cmd_*.c file per subcommand (listed in commands.def). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "repo_cli.h"
#include "crypto/kdf.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/secmem.h"
#include "util/verbs.h"

cli_globals cli;

static const cs_verb commands[] = {
#define CS_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "commands.def"
#undef CS_COMMAND
};

/* The tool's own options parse as a verb's (util/verbs.h) do: the same
 * --help and usage errors.  Operands: the command and its arguments. */
static const cs_verb tool = {
    "cloudseal", CS_VERB_ANY, CS_VERB_ANY, 0, NULL, "the cloudseal command-line tool",
    "Usage: cloudseal [--config FILE] [--json] [--debug] [--quiet] COMMAND [ARGS...]\n\n"
    "End-to-end encrypted backup and sync, unlocked by your login password.\n"
};

/* after the tool's usage: the commands */
static void list_commands(FILE *f)
{
    fprintf(f, "\nCommands:\n");
    cs_verbs_print(f, commands, CS_ARRAY_SIZE(commands), 12);
    fprintf(f, "\nRun 'cloudseal COMMAND --help' for a command's options; see cloudseal(1).\n");
}

static cs_config *config;

const cs_config *cli_config(void)
{
    if (!config && cs_config_load(cli.config_path, &config) < 0) {
        log_error("fix the configuration file %s and try again",
                  cli.config_path ? cli.config_path : CS_CONFIG_DEFAULT_PATH);
        exit(CLI_USAGE);
    }
    /* keybags are hostile: what they may ask of this machine ([kdf] max_*) */
    cs_kdf_set_limit_from_config(config);
    return config;
}

int cli_config_override(const char *option, const char *section, const char *key, const char *value)
{
    char want[128] = "a valid value";
    int r;

    cli_config();
    r = cs_config_set(config, section, key, value);
    if (r == -EINVAL) {
        for (const cs_config_key *k = cs_config_keys; k->section; k++)
            if (strcmp(k->section, section) == 0 && strcmp(k->key, key) == 0)
                cs_config_expected(k, want, sizeof(want));
        log_error("%s wants %s, not '%s'", option, want, value);
    } else if (r < 0) {
        log_error_errno(r, "%s", option);
    }
    return r;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "debug", no_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "version", no_argument, NULL, 'V' },
        {}
    };
    int c, r, ex;

    cli.config_path = getenv("CLOUDSEAL_CONFIG");
    /* '+': stop at the subcommand, whose options are its own */
    cs_verb_enter(&tool);
    while ((c = cs_verb_getopt(argc, argv, "+c:jdqV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli.config_path = optarg; break;
        case 'j': cli.json = true; break;
        case 'd': cli.debug = true; break;
        case 'q': cli.quiet = true; break;
        case 'V': printf("cloudseal %s\n", CS_VERSION); return cli_output_end(CLI_OK);
        case CS_VERB_HELP: list_commands(stdout); return cli_output_end(CLI_OK);
        default: return CLI_USAGE;
        }
    }
    cs_log_setup("cloudseal", cli.debug ? LOG_DEBUG : cli.quiet ? LOG_WARNING : LOG_INFO);
    if (optind >= argc) { /* the whole usage: what there is to do */
        fputs(tool.usage, stderr);
        list_commands(stderr);
        return CLI_USAGE;
    }
    if (cs_crypto_init() < 0 || cs_process_harden() < 0) {
        log_error("cannot initialise cryptography or harden the process");
        return CLI_FAILED;
    }
    r = cs_verb_dispatch(commands, CS_ARRAY_SIZE(commands), argc, argv, &ex);
    if (r == -ENOENT)
        log_error("unknown command '%s'; run 'cloudseal --help' for the list", argv[optind]);
    return r < 0 ? CLI_USAGE : cli_output_end(ex);
}
