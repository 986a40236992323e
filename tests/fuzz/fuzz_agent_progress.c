/* SPDX-License-Identifier: MIT */
/* Fuzz the parser of a job's JSON progress lines (output of a child). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "agent/agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_job_progress p;

    if (cs_agent_parse_progress((const char *)data, size, &p) == 0) {
        if (p.percent < -1 || p.percent > 100 || p.repository_size < -1 ||
            strlen(p.snapshot) >= sizeof(p.snapshot) || strlen(p.error) >= sizeof(p.error))
            __builtin_trap();
    }
    return 0;
}
