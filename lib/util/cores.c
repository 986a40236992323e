/* SPDX-License-Identifier: MIT */
#include <sched.h>
#include <unistd.h>
#include "util/cores.h"

int cs_usable_cores(void)
{
    cpu_set_t set;
    long c;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}
