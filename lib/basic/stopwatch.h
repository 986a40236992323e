/* SPDX-License-Identifier: MIT */
/* Seconds as doubles, for the programs that time themselves (the bench
 * floors, s3tool fetch): one definition instead of one per program.
 * libc only, header-only, like the rest of lib/basic. */
#ifndef CS_BASIC_STOPWATCH_H
#define CS_BASIC_STOPWATCH_H

#include <sys/resource.h>
#include <time.h>

/* clock c (CLOCK_MONOTONIC for wall time, CLOCK_THREAD_CPUTIME_ID...) */
static inline double cs_clock_s(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* user + system CPU of the whole process (every thread) so far */
static inline double cs_process_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

#endif
