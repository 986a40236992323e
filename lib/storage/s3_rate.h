/* SPDX-License-Identifier: MIT */
/* A byte rate shared by all the transfers of one s3 client ([storage]
 * upload_limit, download_limit): every chunk curl sends or receives first
 * reserves its bytes, and the thread that reserved past the budget sleeps
 * off its debt.  One bucket for all handles, so the total holds however
 * many parts or objects are in flight (curl's own speed limits are per
 * handle).  Bursts are capped at a quarter second of the rate. */
#ifndef CS_STORAGE_S3_RATE_H
#define CS_STORAGE_S3_RATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_s3_rate {
    pthread_mutex_t lock;
    uint64_t bytes_per_s;   /* 0: unlimited */
    double tokens;          /* may go negative: the debt of reservations */
    int64_t last_ns;
} cs_s3_rate;

void cs_s3_rate_init(cs_s3_rate *r, uint64_t bytes_per_s);
void cs_s3_rate_destroy(cs_s3_rate *r);
/* Reserve n bytes, sleeping as long as the rate requires. */
void cs_s3_rate_take(cs_s3_rate *r, size_t n);

#endif
