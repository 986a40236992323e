/* SPDX-License-Identifier: MIT */
/* libFuzzer target: what cloudseal-helper reads from others.
 *   - the frames on fd 0 (a non-root user may run the helper directly and
 *     send anything): helper_read_secret / helper_read_amk
 *   - the per-user session file (sessions.c's parser)
 * The first input byte picks which.  The helper's files are included so
 * that their static functions are reachable. */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../helper/priv/common.c"
#include "../../helper/priv/sessions.c"

static void frames(const uint8_t *data, size_t size)
{
    int fd = memfd_create("frames", MFD_CLOEXEC);

    if (fd < 0)
        return;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return;
    }
    lseek(fd, 0, SEEK_SET);
    for (int i = 0; i < 4; i++) {
        cs_secret *s = NULL;
        cs_amk *amk = NULL;

        if (i % 2 == 0) {
            if (helper_read_secret(fd, &s) < 0)
                break;
            if (s->len > CS_SECRET_MAX || s->data[s->len] != '\0')
                __builtin_trap();
            cs_secret_free(s);
        } else {
            if (helper_read_amk(fd, &amk) < 0)
                break;
            cs_amk_free(amk);
        }
    }
    close(fd);
}

static void session_file(const uint8_t *data, size_t size)
{
    static session_list l;
    cs_buf b = { (uint8_t *)data, size, size, 0 };

    parse_sessions(&b, &l);
    if (l.n > SESSIONS_MAX)
        __builtin_trap();
    for (size_t i = 0; i < l.n; i++)
        if (l.e[i].pid <= 1 || l.e[i].start == 0)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        session_file(data + 1, size - 1);
    else
        frames(data + 1, size - 1);
    return 0;
}
