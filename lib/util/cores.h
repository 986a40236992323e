/* SPDX-License-Identifier: MIT */
/* How many cores this process may run on. */
#ifndef CS_UTIL_CORES_H
#define CS_UTIL_CORES_H

/* The cores of this process's affinity (taskset, a cgroup's cpuset), not
 * those the machine has: a worker per core the scheduler cannot give us
 * only adds buffers and contention.  At least 1. */
int cs_usable_cores(void);

#endif
