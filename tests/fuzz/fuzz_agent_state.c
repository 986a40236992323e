/* SPDX-License-Identifier: MIT */
/* Fuzz the agent state file parser; what parses must format and parse back
 * to the same state. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "agent/agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_agent_state st, again;
    json_object *o;
    const char *s;

    if (cs_agent_state_parse((const char *)data, size, &st) != 0)
        return 0;
    if (st.n_jobs > CS_AGENT_MAX_JOBS)
        __builtin_trap();
    o = cs_agent_state_to_json(&st);
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (cs_agent_state_parse(s, strlen(s), &again) != 0 || again.n_jobs != st.n_jobs ||
        again.repository_size != st.repository_size)
        __builtin_trap();
    for (size_t i = 0; i < st.n_jobs; i++)
        if (memcmp(&st.jobs[i], &again.jobs[i], sizeof(st.jobs[i])) != 0)
            __builtin_trap();
    json_object_put(o);
    return 0;
}
