/* SPDX-License-Identifier: MIT */
/* zstd_level_probe DIR: what zstd levels store for the small files of a tree
 * (below 128 KiB: one blob each), compressed one by one as the backup does
 * (>= 64 B, kept only when 3 % smaller), and their CPU time.  The figures
 * behind ZSTD_SMALL_LEVEL in lib/repo/crypto.c (bench/README.md).
 *   cc -O2 -o zstd_level_probe bench/zstd_level_probe.c -lzstd */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define SMALL (128 << 10)
static const int levels[] = { 2, 3, 4, 5, 6, 7 };
#define NL (sizeof(levels) / sizeof(levels[0]))
static ZSTD_CCtx *cc[NL];
static double out[NL], secs[NL], in;
static long files;
static char buf[SMALL], dst[SMALL + 4096];

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int one(const char *p, const struct stat *st, int type, struct FTW *f)
{
    ssize_t n;
    int fd;

    (void)f;
    if (type != FTW_F || st->st_size >= SMALL || (fd = open(p, O_RDONLY)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0)
        return 0;
    files++;
    in += (double)n;
    for (size_t i = 0; i < NL; i++) {
        double t0 = now();
        size_t z = n >= 64 ? ZSTD_compress2(cc[i], dst, sizeof(dst), buf, (size_t)n) : (size_t)n;
        secs[i] += now() - t0;
        out[i] += (double)(!ZSTD_isError(z) && z < (size_t)n - (size_t)n / 32 ? z : (size_t)n);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: zstd_level_probe DIR\n");
        return 2;
    }
    for (size_t i = 0; i < NL; i++) {
        cc[i] = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc[i], ZSTD_c_compressionLevel, levels[i]);
        if (levels[i] == 2) /* the level of big blobs, as cs_zctx_new() sets it */
            ZSTD_CCtx_setParameter(cc[i], ZSTD_c_hashLog, 15);
    }
    nftw(argv[1], one, 64, FTW_PHYS);
    printf("%ld files < 128 KiB, %.1f MB\n", files, in / 1e6);
    for (size_t i = 0; i < NL; i++)
        printf("level %d: %.2f MB stored, %.2f CPU-s\n", levels[i], out[i] / 1e6, secs[i]);
    return 0;
}
