/* SPDX-License-Identifier: MIT */
/* nss-bench: latency of getpwnam / getpwuid / getgrnam through whatever
 * /etc/nsswitch.conf says (bench/nss.sh runs it in a mount namespace, once
 * with nss_files holding N users and once with the cloudseal cache).
 *
 *   nss-bench LABEL N SECONDS_PER_CALL_TYPE
 *
 * Looks up random users u1..uN (uid 1000000+i, group uI) and prints one
 * line per call: LABEL call N ns_per_lookup lookups.  Every lookup must
 * succeed with the expected answer, or the run fails. */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static unsigned long next(unsigned long *s, unsigned long n)
{
    *s = *s * 6364136223846793005ul + 1442695040888963407ul;
    return (*s >> 33) % n + 1;
}

int main(int argc, char **argv)
{
    const char *calls[] = { "getpwnam", "getpwuid", "getgrnam" };
    unsigned long n, seed = 42;
    double budget;

    if (argc != 4)
        return 2;
    n = strtoul(argv[2], NULL, 10);
    budget = strtod(argv[3], NULL);
    for (int c = 0; c < 3; c++) {
        unsigned long count = 0;
        double start = now(), t;

        do {
            for (int k = 0; k < 16; k++, count++) {
                unsigned long i = next(&seed, n);
                char name[32];

                snprintf(name, sizeof(name), "u%lu", i);
                if (c == 0) {
                    struct passwd *pw = getpwnam(name);
                    if (!pw || pw->pw_uid != 1000000 + i) goto wrong;
                } else if (c == 1) {
                    struct passwd *pw = getpwuid((uid_t)(1000000 + i));
                    if (!pw || strcmp(pw->pw_name, name) != 0) goto wrong;
                } else {
                    struct group *gr = getgrnam(name);
                    if (!gr || gr->gr_gid != 1000000 + i) goto wrong;
                }
            }
            t = now() - start;
        } while (t < budget);
        printf("%s %s %lu %.0f %lu\n", argv[1], calls[c], n, t / (double)count * 1e9, count);
        continue;
wrong:
        fprintf(stderr, "nss-bench: %s %s: wrong or missing answer\n", argv[1], calls[c]);
        return 1;
    }
    return 0;
}
