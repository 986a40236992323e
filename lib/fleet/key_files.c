/* SPDX-License-Identifier: MIT */
/* Fleet key files: the public key every workstation trusts
 * (/etc/cloudseal/fleet.pub) and the admin's secret signing key.
 *
 * Both are small text files: '#' comment lines and one base64 line.  The
 * secret seed only ever lives in secure memory; it is read with read(2)
 * straight into a cs_secure_alloc buffer, never into stdio's buffers.
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "util/buf.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/secmem.h"

#define KEY_FILE_MAX 4096

int cs_fleet_decode_key(const char *text, uint8_t out[32])
{
    size_t n = strlen(text), got = 0;
    const char *end;

    if (n == 64 && sodium_hex2bin(out, 32, text, n, NULL, &got, &end) == 0 && got == 32 && *end == '\0')
        return 0;
    if (sodium_base642bin(out, 32, text, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
        got == 32 && *end == '\0')
        return 0;
    return -EINVAL;
}

void cs_fleet_encode_key(const uint8_t key[32], char out[48])
{
    sodium_bin2base64(out, 48, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

/* The first line that is neither empty nor a comment, trimmed, into line. */
static int key_line(const char *text, size_t len, char *line, size_t max)
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *s = p;

        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e > s && *s != '#') {
            if ((size_t)(e - s) >= max)
                return -EINVAL;
            memcpy(line, s, (size_t)(e - s));
            line[e - s] = '\0';
            return 0;
        }
        p = nl ? nl + 1 : end;
    }
    return -EINVAL;
}

int cs_fleet_read_pubkey(const char *path, uint8_t pk[CS_FLEET_PK_BYTES])
{
    _cleanup_buf_ cs_buf b = CS_BUF_INIT;
    char line[128];
    int r = cs_read_file(path, KEY_FILE_MAX, &b);

    if (r < 0)
        return r;
    r = key_line((const char *)b.data, b.len, line, sizeof(line));
    if (r < 0)
        return -EBADMSG;
    return cs_fleet_decode_key(line, pk) < 0 ? -EBADMSG : 0;
}

int cs_fleet_config_pubkey(const cs_config *cfg, uint8_t pk[CS_FLEET_PK_BYTES])
{
    const char *inline_key = cs_config_str(cfg, "fleet", "public_key");

    if (inline_key && *inline_key)
        return cs_fleet_decode_key(inline_key, pk) < 0 ? -EBADMSG : 0;
    return cs_fleet_read_pubkey(cs_config_str(cfg, "fleet", "public_key_file"), pk);
}

bool cs_fleet_configured(const cs_config *cfg)
{
    uint8_t pk[CS_FLEET_PK_BYTES];

    return cs_fleet_config_pubkey(cfg, pk) == 0;
}

static int write_new(const char *path, const char *text, size_t len, mode_t mode)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    int r;

    if (fd < 0)
        return -errno;
    r = fchmod(fd, mode) < 0 ? -errno : 0;
    if (r == 0)
        r = cs_write_all(fd, text, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(path);
    return r;
}

int cs_fleet_write_pubkey(const char *path, const uint8_t pk[32], const char *comment)
{
    char b64[48], text[512];
    int n;

    cs_fleet_encode_key(pk, b64);
    n = snprintf(text, sizeof(text), "# %s\n%s\n", comment, b64);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -EINVAL;
    return write_new(path, text, (size_t)n, 0644);
}

int cs_fleet_write_secret(const char *path, const uint8_t *seed32, const char *comment)
{
    const size_t max = 512;
    char *text = cs_secure_alloc(max);
    char *b64 = cs_secure_alloc(48);
    int n, r;

    if (!text || !b64) {
        cs_secure_free(text);
        cs_secure_free(b64);
        return -ENOMEM;
    }
    sodium_bin2base64(b64, 48, seed32, 32, sodium_base64_VARIANT_ORIGINAL);
    n = snprintf(text, max, "# %s\n# SECRET: keep this file offline and readable only by you.\n%s\n",
                 comment, b64);
    r = (n < 0 || (size_t)n >= max) ? -EINVAL : write_new(path, text, (size_t)n, 0600);
    cs_secure_free(text);
    cs_secure_free(b64);
    return r;
}

int cs_fleet_read_secret32(const char *path, uint8_t **out)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    char *text = NULL, *line = NULL;
    uint8_t *key = NULL;
    size_t len = 0;
    struct stat st;
    int r;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX)
        return -EINVAL;
    if (st.st_mode & 077)
        return -EPERM; /* a secret key readable by others is not used: fix with chmod 600 */
    text = cs_secure_alloc(KEY_FILE_MAX + 1);
    line = cs_secure_alloc(128);
    key = cs_secure_alloc(32);
    r = (text && line && key) ? 0 : -ENOMEM;
    while (r == 0 && len < KEY_FILE_MAX) {
        ssize_t n = read(fd, text + len, KEY_FILE_MAX - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (r == 0)
        r = key_line(text, len, line, 128) < 0 || cs_fleet_decode_key(line, key) < 0 ? -EBADMSG : 0;
    cs_secure_free(text);
    cs_secure_free(line);
    if (r < 0) {
        cs_secure_free(key);
        return r;
    }
    *out = key;
    return 0;
}

int cs_fleet_read_signing_key(const char *path, uint8_t **sk64)
{
    uint8_t *seed = NULL, *sk = NULL, pk[32];
    int r = cs_fleet_read_secret32(path, &seed);

    if (r == 0)
        r = (sk = cs_secure_alloc(64)) ? 0 : -ENOMEM;
    if (r == 0)
        r = crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -EIO;
    cs_secure_free(seed);
    if (r < 0) {
        cs_secure_free(sk);
        return r;
    }
    *sk64 = sk;
    return 0;
}
