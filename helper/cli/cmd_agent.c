/* SPDX-License-Identifier: MIT */
/* cloudseal agent [status|backup-now|sync-now|lock]: ask the running
 * cloudseal-agent to do something now.  `agent retention` is the job the
 * agent runs after backups (agent_retention.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent_client.h"
#include "agent/agent_proto.h"
#include "cli.h"
#include "cli_opts.h"
#include "config/config.h"
#include "util/log.h"

int cmd_agent(int argc, char **argv)
{
    static const struct option opts[] = {
        { "prune", no_argument, NULL, 'P' },
        { "dry-run", no_argument, NULL, 'n' },
        {}
    };
    static const char *const verbs[] = { "status", "backup-now", "sync-now", "lock", "retention", "pause", "resume" };
    const char *verb = "status";
    json_object *reply = NULL, *ok;
    bool known = false, prune = false, dry = false;
    int64_t seconds = -1;
    int c, r;

    while ((c = cli_getopt(argc, argv, "j", opts)) != -1) {
        switch (c) {
        case 'j': cli.json = true; break; /* -j: --json's short form */
        case 'P': prune = true; break;
        case 'n': dry = true; break;
        default: return cli_opt_exit(c);
        }
    }
    if (optind < argc)
        verb = argv[optind++];
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        known |= strcmp(verb, verbs[i]) == 0;
    if (known && strcmp(verb, "pause") == 0 && optind < argc) {
        if (cs_parse_duration(argv[optind], &seconds) < 0 || seconds <= 0 || seconds > CS_AGENT_PAUSE_MAX) {
            log_error("'%s' is not a duration like 2h, 30min or 1d (up to 366d)", argv[optind]);
            return CLI_USAGE;
        }
        optind++;
    }
    if (!known || optind < argc) {
        cli_usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(verb, "retention") == 0)
        return agent_retention(prune, dry);
    if (prune || dry) {
        cli_usage(stderr);
        return CLI_USAGE;
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
    if (cli.json) {
        printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
    } else if (!json_object_get_boolean(ok)) {
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
    r = json_object_get_boolean(ok) ? CLI_OK : CLI_FAILED;
    json_object_put(reply);
    return r;
}
