/* SPDX-License-Identifier: MIT */
/* cloudseal agent [status|backup-now|sync-now|lock|pause|resume]: ask the
 * running cloudseal-agent to do something now.  `agent retention` is the
 * job the agent runs after backups (agent_retention.c).  The sub-verbs are
 * a verb table (agent_commands.def). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent_client.h"
#include "agent/agent_proto.h"
#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "config/config.h"
#include "util/log.h"
#include "util/macros.h"

/* The options of a sub-verb (-j: --json's short form); -1 when the verb
 * goes on, else the exit code to return. */
static int parse(int argc, char **argv, const struct option *opts, bool *prune, bool *dry)
{
    int c;

    while ((c = cli_getopt(argc, argv, "j", opts)) != -1) {
        switch (c) {
        case 'j': cli.json = true; break;
        case 'P': *prune = true; break;
        case 'n': *dry = true; break;
        default: return cli_opt_exit(c);
        }
    }
    return -1;
}

static int agent_retention_verb(int argc, char **argv)
{
    static const struct option opts[] = {
        { "prune", no_argument, NULL, 'P' },
        { "dry-run", no_argument, NULL, 'n' },
        {}
    };
    bool prune = false, dry = false;
    int r = parse(argc, argv, opts, &prune, &dry);

    return r >= 0 ? r : agent_retention(prune, dry);
}

/* A request the agent answers (argv[0], the sub-verb, is its name). */
static int agent_simple(int argc, char **argv)
{
    const char *verb = argv[0];
    json_object *reply = NULL, *ok;
    int64_t seconds = -1;
    int r = parse(argc, argv, NULL, NULL, NULL);

    if (r >= 0)
        return r;
    if (optind < argc) { /* pause DURATION: the only operand a table allows */
        if (cs_parse_duration(argv[optind], &seconds) < 0 || seconds <= 0 || seconds > CS_AGENT_PAUSE_MAX) {
            log_error("'%s' is not a duration like 2h, 30min or 1d (up to 366d)", argv[optind]);
            return CLI_USAGE;
        }
    }
    r = agent_request_seconds(verb, seconds, &reply);
    if (r < 0) {
        if (r == -ENOENT || r == -ECONNREFUSED || r == -ENXIO)
            log_error("the agent is not running; start it with 'systemctl --user start cloudseal-agent'");
        else
            log_error("the agent did not answer: %s; see 'journalctl --user -u cloudseal-agent'",
                      strerror(-r));
        return CLI_UNAVAILABLE;
    }
    json_object_object_get_ex(reply, "ok", &ok);
    r = json_object_get_boolean(ok) ? CLI_OK : CLI_FAILED;
    if (cli.json)
        return cli_print_json(reply, JSON_C_TO_STRING_PLAIN) == CLI_OK ? r : CLI_FAILED;
    if (!json_object_get_boolean(ok)) {
        json_object *e;
        json_object_object_get_ex(reply, "error", &e);
        log_error("agent: %s", e ? json_object_get_string(e) : "request failed");
    } else if (strcmp(verb, "status") == 0) {
        json_object_put(reply);
        return agent_status_report(stdout, false, NULL) < 0 ? CLI_UNAVAILABLE : CLI_OK;
    } else {
        json_object *m;
        printf("agent: %s\n", json_object_object_get_ex(reply, "message", &m) ? json_object_get_string(m) : "ok");
    }
    json_object_put(reply);
    return r;
}

static const cs_verb agent_commands[] = {
#define AGENT_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "agent_commands.def"
#undef AGENT_COMMAND
};

int cmd_agent(int argc, char **argv)
{
    return cli_sub_dispatch(agent_commands, CS_ARRAY_SIZE(agent_commands), argc, argv, "status");
}
