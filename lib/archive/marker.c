/* SPDX-License-Identifier: MIT */
/* Which Maildir a device's state belongs to (marker.h). */
#include "archive/marker.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sodium.h>
#include "util/fileio.h"
#include "util/log.h"

#define PREFIX "cloudseal-maildir-id v1 "
#define PREFIX_LEN (sizeof(PREFIX) - 1)

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif
#ifndef CIFS_SUPER_MAGIC
#define CIFS_SUPER_MAGIC 0xff534d42
#endif
#ifndef SMB2_SUPER_MAGIC
#define SMB2_SUPER_MAGIC 0xfe534d42
#endif

int cs_arch_marker_parse(const void *data, size_t len, uint8_t id[CS_ARCH_MD_ID_BYTES])
{
    const char *s = data;
    size_t bin = 0;

    if (len != CS_ARCH_MARKER_LEN || memcmp(s, PREFIX, PREFIX_LEN) != 0 || s[len - 1] != '\n')
        return -EBADMSG;
    for (size_t i = PREFIX_LEN; i < len - 1; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -EBADMSG;
    if (sodium_hex2bin(id, CS_ARCH_MD_ID_BYTES, s + PREFIX_LEN, 2 * CS_ARCH_MD_ID_BYTES, NULL, &bin, NULL) != 0 ||
        bin != CS_ARCH_MD_ID_BYTES)
        return -EBADMSG;
    return 0;
}

void cs_arch_marker_format(const uint8_t id[CS_ARCH_MD_ID_BYTES], char out[CS_ARCH_MARKER_LEN + 1])
{
    memcpy(out, PREFIX, PREFIX_LEN);
    sodium_bin2hex(out + PREFIX_LEN, 2 * CS_ARCH_MD_ID_BYTES + 1, id, CS_ARCH_MD_ID_BYTES);
    out[CS_ARCH_MARKER_LEN - 1] = '\n';
    out[CS_ARCH_MARKER_LEN] = '\0';
}

int cs_arch_marker_read(int rootfd, uint8_t id[CS_ARCH_MD_ID_BYTES])
{
    cs_buf b = CS_BUF_INIT;
    int r = cs_read_file_at(rootfd, CS_ARCH_MARKER_NAME, CS_ARCH_MARKER_LEN, &b);

    if (r == -EFBIG)
        r = -EBADMSG;
    if (r == 0)
        r = cs_arch_marker_parse(b.data, b.len, id);
    cs_buf_free(&b);
    return r;
}

static int marker_write(int rootfd, const uint8_t id[CS_ARCH_MD_ID_BYTES])
{
    char text[CS_ARCH_MARKER_LEN + 1];

    cs_arch_marker_format(id, text);
    return cs_write_file_atomic_at(rootfd, CS_ARCH_MARKER_NAME, text, CS_ARCH_MARKER_LEN, 0600);
}

uint64_t cs_arch_maildir_dev(int rootfd)
{
    struct statfs fs;
    struct stat st;

    if (fstat(rootfd, &st) < 0 || fstatfs(rootfd, &fs) < 0)
        return 0;
    switch ((unsigned long)fs.f_type) {
    case NFS_SUPER_MAGIC: case FUSE_SUPER_MAGIC: case CIFS_SUPER_MAGIC: case SMB2_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC: case OVERLAYFS_SUPER_MAGIC:
        return 0;
    default:
        return (uint64_t)st.st_dev;
    }
}

static bool has_local(const cs_arch_state *st)
{
    for (size_t i = 0; i < st->ninst; i++)
        if (st->inst[i]->local_present)
            return true;
    return false;
}

int cs_arch_maildir_bind(int rootfd, const char *maildir, cs_arch_state *st, bool dry_run, bool *rejoined)
{
    uint8_t id[CS_ARCH_MD_ID_BYTES];
    uint64_t dev = cs_arch_maildir_dev(rootfd);
    bool marked, known = st->md_bound || has_local(st);
    int r = cs_arch_marker_read(rootfd, id);

    *rejoined = false;
    if (r == -EBADMSG) {
        log_error("archive: %s/%s is not a cloudseal Maildir marker; nothing was synced. If it was "
                  "damaged, delete it: this Maildir then joins as a new one (its messages are merged, "
                  "nothing is deleted)", maildir, CS_ARCH_MARKER_NAME);
        return r;
    }
    if (r < 0 && r != -ENOENT)
        return log_error_errno(r, "archive: cannot read %s/%s", maildir, CS_ARCH_MARKER_NAME);
    marked = r == 0;
    if (st->md_bound && marked && sodium_memcmp(id, st->md_id, sizeof(id)) == 0 &&
        (!st->md_dev || !dev || st->md_dev == dev))
        return 0; /* the Maildir we know */
    if (known && !(!st->md_bound && !marked)) {
        /* not the Maildir our records describe (a state of before the
         * markers binds to what it finds unmarked: the upgrade) */
        log_notice("archive: %s is not the Maildir this workstation synced before (%s); it joins as a "
                   "new one: its messages are merged, nothing is deleted anywhere", maildir,
                   !marked ? "it has no marker" : st->md_dev && dev && st->md_dev != dev
                                 ? "it is on another file system" : "its marker differs");
        for (size_t i = 0; i < st->ninst; i++)
            cs_arch_inst_clear_local(st->inst[i]);
        for (size_t i = 0; i < st->nfolders; i++)
            st->folders[i].local = false;
        *rejoined = true;
    }
    if (!marked)
        randombytes_buf(id, sizeof(id));
    if (!marked && !dry_run && (r = marker_write(rootfd, id)) < 0)
        return log_error_errno(r, "archive: cannot write %s/%s", maildir, CS_ARCH_MARKER_NAME);
    memcpy(st->md_id, id, sizeof(id));
    st->md_dev = dev;
    st->md_bound = true;
    st->dirty = true;
    return 0;
}
