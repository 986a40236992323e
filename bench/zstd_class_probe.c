/* SPDX-License-Identifier: MIT */
/* zstd_class_probe DIR: what each zstd level stores and costs per size class
 * of a tree's small files (below 128 KiB: one blob each), compressed one by
 * one as the backup does (>= 64 B, kept only when 3 % smaller).  The figures
 * behind the level by size in lib/repo/crypto.c (bench/README.md, issue 23
 * session 8).  Columns: MB stored / CPU-s (thread CPU time) per level.
 *   cc -O2 -o zstd_class_probe bench/zstd_class_probe.c -lzstd */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define SMALL (128 << 10)
#define NCLS 8
static const size_t bounds[NCLS] = { 1024, 4096, 8192, 16384, 32768, 65536, 98304, 131072 };
static const int levels[] = { 1, 2, 3, 4, 5, 6, 7, 9 };
#define NL (sizeof(levels) / sizeof(levels[0]))

typedef struct {
    unsigned char *p;
    size_t n;
} item;
static item *items;
static size_t nitems, cap;
static unsigned char dst[SMALL * 2];

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int one(const char *p, const struct stat *st, int type, struct FTW *f)
{
    unsigned char *b;
    ssize_t n;
    int fd;

    (void)f;
    if (type != FTW_F || st->st_size >= SMALL || (fd = open(p, O_RDONLY)) < 0)
        return 0;
    b = malloc((size_t)st->st_size + 1);
    n = b ? read(fd, b, (size_t)st->st_size + 1) : -1;
    close(fd);
    if (n < 0 || n >= SMALL) {
        free(b);
        return 0;
    }
    if (nitems == cap) {
        cap = cap ? cap * 2 : 1024;
        if (!(items = realloc(items, cap * sizeof(*items))))
            exit(1);
    }
    items[nitems++] = (item){ b, (size_t)n };
    return 0;
}

static int cls(size_t n)
{
    int c = 0;

    while (n >= bounds[c])
        c++;
    return c;
}

int main(int argc, char **argv)
{
    static double out[NL][NCLS], secs[NL][NCLS], in[NCLS];
    static long count[NCLS];

    if (argc != 2) {
        fprintf(stderr, "usage: zstd_class_probe DIR\n");
        return 2;
    }
    nftw(argv[1], one, 64, FTW_PHYS);
    for (size_t i = 0; i < nitems; i++) {
        in[cls(items[i].n)] += (double)items[i].n;
        count[cls(items[i].n)]++;
    }
    for (size_t l = 0; l < NL; l++) {
        ZSTD_CCtx *z = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, levels[l]);
        for (size_t i = 0; i < nitems; i++) {
            size_t n = items[i].n, r = n;
            int c = cls(n);
            if (n >= 64) {
                double t0 = now();
                r = ZSTD_compress2(z, dst, sizeof(dst), items[i].p, n);
                secs[l][c] += now() - t0;
                if (ZSTD_isError(r) || r >= n - n / 32)
                    r = n;
            }
            out[l][c] += (double)r;
        }
        ZSTD_freeCCtx(z);
    }
    printf("below     files     MB |");
    for (size_t l = 0; l < NL; l++)
        printf(" level %d MB / s |", levels[l]);
    printf("\n");
    for (int c = 0; c < NCLS; c++) {
        printf("%6zu K %7ld %6.1f |", bounds[c] >> 10, count[c], in[c] / 1e6);
        for (size_t l = 0; l < NL; l++)
            printf(" %7.2f / %5.2f |", out[l][c] / 1e6, secs[l][c]);
        printf("\n");
    }
    return 0;
}
