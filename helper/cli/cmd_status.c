/* cloudseal status: placeholder until the keyring part lands; the agent's
 * part comes from agent_client.c (agent_status_report). */
#include <stdio.h>
#include "agent_client.h"
#include "cli.h"

int cmd_status(int argc, char **argv)
{
    json_object *obj = json_object_new_object();

    (void)argc; (void)argv;
    agent_status_report(stdout, cli.json, obj);
    if (cli.json)
        printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
    json_object_put(obj);
    return CLI_OK;
}
