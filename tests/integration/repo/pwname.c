/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD stand-in for a snapshot written by someone else: the user
 * name getpwuid_r() gives for the invoking uid becomes CS_PWNAME (any
 * bytes), as another machine's or a hostile writer's snapshot may carry.
 * Only getpwuid_r(), which the snapshot writer uses: getpwuid(), through
 * which the CLI finds the account, keeps the real name (glibc's getpwuid
 * does not call the exported getpwuid_r). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, struct passwd **res)
{
    int (*real)(uid_t, struct passwd *, char *, size_t, struct passwd **) =
        (int (*)(uid_t, struct passwd *, char *, size_t, struct passwd **))dlsym(RTLD_NEXT, "getpwuid_r");
    const char *name = getenv("CS_PWNAME");
    int r = real(uid, pw, buf, len, res);

    if (r == 0 && *res && name && uid == getuid()) {
        /* the name after the strings glibc put in buf when it fits, else
         * the call fails as a short buffer would */
        const char *const strs[] = { pw->pw_name, pw->pw_passwd, pw->pw_gecos, pw->pw_dir, pw->pw_shell };
        size_t n = strlen(name) + 1, used = 0;

        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
            if (strs[i] >= buf && strs[i] < buf + len && (size_t)(strchr(strs[i], '\0') + 1 - buf) > used)
                used = (size_t)(strchr(strs[i], '\0') + 1 - buf);
        if (len - used < n)
            return ERANGE;
        pw->pw_name = memcpy(buf + used, name, n);
    }
    return r;
}
