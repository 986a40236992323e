/* SPDX-License-Identifier: MIT */
/* A shared token bucket for S3 transfers: see s3_rate.h. */
#include "storage/s3_rate.h"

#include <errno.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cs_s3_rate_init(cs_s3_rate *r, uint64_t bytes_per_s)
{
    pthread_mutex_init(&r->lock, NULL);
    r->bytes_per_s = bytes_per_s;
    r->tokens = 0;
    r->last_ns = now_ns();
}

void cs_s3_rate_destroy(cs_s3_rate *r)
{
    pthread_mutex_destroy(&r->lock);
}

void cs_s3_rate_take(cs_s3_rate *r, size_t n)
{
    double burst, wait_s = 0;
    int64_t now;

    if (!r->bytes_per_s || n == 0)
        return;
    pthread_mutex_lock(&r->lock);
    now = now_ns();
    burst = (double)r->bytes_per_s / 4;
    r->tokens += (double)(now - r->last_ns) * (double)r->bytes_per_s / 1e9;
    if (r->tokens > burst)
        r->tokens = burst;
    r->last_ns = now;
    r->tokens -= (double)n;
    if (r->tokens < 0)
        wait_s = -r->tokens / (double)r->bytes_per_s;
    pthread_mutex_unlock(&r->lock);
    if (wait_s > 0) {
        struct timespec ts = { .tv_sec = (time_t)wait_s, .tv_nsec = (long)((wait_s - (double)(time_t)wait_s) * 1e9) };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}
