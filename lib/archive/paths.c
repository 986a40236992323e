/* SPDX-License-Identifier: MIT */
/* The archive's local paths from the [archive] section of cloudseal.conf. */
#include "archive/archive.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    struct passwd *pw;

    if (home && home[0] == '/')
        return home;
    pw = getpwuid(geteuid());
    return pw ? pw->pw_dir : NULL;
}

/* "~" and "~/x" are the user's home; anything else must be absolute. */
static int expand(const char *v, char **out)
{
    const char *home;

    if (v[0] == '~' && (v[1] == '\0' || v[1] == '/')) {
        if (!(home = home_dir()))
            return -ENOENT;
        return asprintf(out, "%s%s", home, v + 1) < 0 ? -ENOMEM : 0;
    }
    if (v[0] != '/')
        return -EINVAL;
    *out = strdup(v);
    return *out ? 0 : -ENOMEM;
}

int cs_archive_paths_from_config(const cs_config *c, char **maildir, char **state_dir)
{
    const char *md = cs_config_str(c, "archive", "maildir");
    const char *sd = cs_config_str(c, "archive", "state_dir");
    int r;

    *maildir = *state_dir = NULL;
    r = expand(md ? md : "~/Maildir", maildir);
    if (r == 0 && sd && sd[0])
        r = expand(sd, state_dir);
    else if (r == 0 && !(*state_dir = cs_archive_default_state_dir()))
        r = -ENOENT;
    if (r < 0) {
        free(*maildir);
        free(*state_dir);
        *maildir = *state_dir = NULL;
    }
    return r;
}
