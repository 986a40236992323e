/* SPDX-License-Identifier: MIT */
/* TEST ONLY: reaches the software CTAP2 authenticator
 * (tests/fido2/soft_authenticator.py) through libfido2's own io hooks.
 *
 * Linked only into test builds (build/test-fido2/cloudseal,
 * build/test-fido2/cloudseal-helper, build/tests/fido2-tool); a constructor
 * points cs_fido2_devsource_override here, so the real libfido2 code (CTAPHID
 * framing, CBOR, PIN protocol, hmac-secret) runs unchanged, only its 64-byte
 * HID reports travel over a unix SOCK_SEQPACKET socket instead of hidraw.
 *
 * Every "*.sock" in the directory is one plugged-in key.  The directory is
 * compiled in (the helper runs with an empty environment at login: the
 * real-stack PAM tests mount a tmpfs over it in their private mount
 * namespace); $CLOUDSEAL_TEST_FIDO2_DIR overrides it for the CLI and tools. */
#include <dirent.h>
#include <errno.h>
#include <fido.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/fido2.h"

#define SOFT_FIDO2_DIR "/run/cloudseal-test-fido2"

static const char *soft_dir(void)
{
    const char *e = getenv("CLOUDSEAL_TEST_FIDO2_DIR");
    return e && *e ? e : SOFT_FIDO2_DIR;
}

static void *soft_open(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int *h, fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return NULL;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || !(h = malloc(sizeof(*h)))) {
        close(fd);
        return NULL;
    }
    *h = fd;
    return h;
}

static void soft_close(void *handle)
{
    int *h = handle;
    close(*h);
    free(h);
}

/* One report, or -1 when none came within ms (-1: wait for ever). */
static int soft_read(void *handle, unsigned char *buf, size_t len, int ms)
{
    struct pollfd p = { .fd = *(int *)handle, .events = POLLIN };
    ssize_t n;
    int r;

    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    n = recv(p.fd, buf, len, 0);
    return n > 0 ? (int)n : -1;
}

static int soft_write(void *handle, const unsigned char *buf, size_t len)
{
    ssize_t n = send(*(int *)handle, buf, len, MSG_NOSIGNAL);
    return n < 0 ? -1 : (int)n;
}

static const fido_dev_io_t soft_io = { soft_open, soft_close, soft_read, soft_write };

static int is_sock(const struct dirent *e)
{
    size_t l = strlen(e->d_name);
    return l > 5 && strcmp(e->d_name + l - 5, ".sock") == 0;
}

static int soft_manifest(fido_dev_info_t *devlist, size_t ilen, size_t *olen)
{
    struct dirent **names = NULL;
    int n = scandir(soft_dir(), &names, is_sock, alphasort);
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

    *olen = 0;
    for (int i = 0; i < n; i++) {
        if (*olen < ilen && snprintf(path, sizeof(path), "%s/%s", soft_dir(), names[i]->d_name) < (int)sizeof(path) &&
            fido_dev_info_set(devlist, *olen, path, "cloudseal tests", "software authenticator",
                              &soft_io, NULL) == FIDO_OK)
            (*olen)++;
        free(names[i]);
    }
    free(names);
    return FIDO_OK;
}

static const cs_fido2_devsource soft_source = {
    .manifest = soft_manifest,
    .io = (const struct fido_dev_io *)&soft_io,
};

__attribute__((constructor)) static void soft_register(void)
{
    cs_fido2_devsource_override = &soft_source;
}
