/* SPDX-License-Identifier: MIT */
/* Fuzz the agent's control-socket request and reply parsers (input from
 * another local process). */
#include <stddef.h>
#include <stdint.h>
#include "agent/agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_agent_cmd cmd;
    json_object *reply = NULL;

    if (cs_agent_parse_request((const char *)data, size, &cmd) == 0 && cs_agent_cmd_name(cmd)[0] == '\0')
        __builtin_trap();
    if (cs_agent_parse_reply((const char *)data, size, &reply) == 0)
        json_object_put(reply);
    return 0;
}
