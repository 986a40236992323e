/* SPDX-License-Identifier: MIT */
/* pack_write_probe: how fast can this machine make packs durable?
 *
 * Writes TOTAL_MIB of random data as packs of PACK_MIB (temp name, O_DIRECT,
 * rename) from THREADS threads, in one of these modes:
 *   each     fsync the pack, rename, fsync the directory (what file:// does)
 *   nodir    fsync the pack, rename; one directory fsync at the end
 *   syncfs   no fsync per pack; one syncfs(2) at the end
 *   syncer   writers only write; one background thread fsyncs and renames
 * and prints the time of the writes, of the final sync, and the MiB/s.
 *
 *   cc -O2 -pthread -o pack_write_probe bench/pack_write_probe.c
 *   ./pack_write_probe DIR PACK_MIB TOTAL_MIB THREADS MODE
 *
 * DIR must be empty and on the file system under test.  See bench/README.md. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum mode { EACH, NODIR, SYNCFS, SYNCER };

static size_t pack_bytes;
static int npacks, next_pack, dirfd_;
static enum mode mode;
static char *data;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int *queue, qhead, qtail, writers_done; /* syncer mode: written packs (fd, index) */
static int *queue_idx;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void publish(int fd, int i)
{
    char tmp[32], final[32];

    if (mode != SYNCFS && fsync(fd) < 0)
        die("fsync");
    close(fd);
    snprintf(tmp, sizeof(tmp), "%d.tmp", i);
    snprintf(final, sizeof(final), "%d", i);
    if (renameat(dirfd_, tmp, dirfd_, final) < 0)
        die("rename");
    if (mode == EACH && fsync(dirfd_) < 0)
        die("fsync dir");
}

static void *writer(void *arg)
{
    for (;;) {
        char tmp[32];
        int i, fd;

        pthread_mutex_lock(&mu);
        i = next_pack++;
        pthread_mutex_unlock(&mu);
        if (i >= npacks)
            return arg;
        snprintf(tmp, sizeof(tmp), "%d.tmp", i);
        fd = openat(dirfd_, tmp, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)pack_bytes) < 0)
            die("open");
        if (write(fd, data, pack_bytes) != (ssize_t)pack_bytes)
            die("write");
        if (mode != SYNCER) {
            publish(fd, i);
            continue;
        }
        pthread_mutex_lock(&mu);
        queue[qtail] = fd;
        queue_idx[qtail++] = i;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static void *syncer(void *arg)
{
    for (;;) {
        int fd, i;

        pthread_mutex_lock(&mu);
        while (qhead == qtail && !writers_done)
            pthread_cond_wait(&cv, &mu);
        if (qhead == qtail) {
            pthread_mutex_unlock(&mu);
            break;
        }
        fd = queue[qhead];
        i = queue_idx[qhead++];
        pthread_mutex_unlock(&mu);
        publish(fd, i);
    }
    if (fsync(dirfd_) < 0)
        die("fsync dir");
    return arg;
}

int main(int argc, char **argv)
{
    static const char *const names[] = { "each", "nodir", "syncfs", "syncer" };
    pthread_t th[64], sy;
    int nthreads;
    double t0, t1, t2;

    if (argc != 6) {
        fprintf(stderr, "usage: %s DIR PACK_MIB TOTAL_MIB THREADS each|nodir|syncfs|syncer\n", argv[0]);
        return 2;
    }
    pack_bytes = (size_t)atoi(argv[2]) << 20;
    npacks = atoi(argv[3]) / atoi(argv[2]);
    nthreads = atoi(argv[4]);
    for (mode = EACH; mode <= SYNCER && strcmp(argv[5], names[mode]) != 0; mode++)
        ;
    if (!pack_bytes || npacks < 1 || nthreads < 1 || nthreads > 64 || mode > SYNCER)
        return 2;
    if (posix_memalign((void **)&data, 4096, pack_bytes) != 0)
        die("memalign");
    for (size_t off = 0; off < pack_bytes; off += 1 << 20) /* incompressible, like packs */
        if (getrandom(data + off, 1 << 20, 0) != 1 << 20)
            die("getrandom");
    queue = calloc((size_t)npacks, sizeof(int));
    queue_idx = calloc((size_t)npacks, sizeof(int));
    if ((dirfd_ = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0 || !queue || !queue_idx)
        die(argv[1]);

    t0 = now();
    if (mode == SYNCER)
        pthread_create(&sy, NULL, syncer, NULL);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, writer, NULL);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    t1 = now();
    if (mode == SYNCER) {
        pthread_mutex_lock(&mu);
        writers_done = 1;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
        pthread_join(sy, NULL);
    } else if (mode == SYNCFS && syncfs(dirfd_) < 0) {
        die("syncfs");
    } else if (mode == NODIR && fsync(dirfd_) < 0) {
        die("fsync dir");
    }
    t2 = now();
    printf("%s: %d packs of %zu MiB, %d threads: writes %.2f s, final sync %.2f s, %.0f MiB/s\n", names[mode],
           npacks, pack_bytes >> 20, nthreads, t1 - t0, t2 - t1, (double)npacks * (double)(pack_bytes >> 20) / (t2 - t0));
    return 0;
}
