/* SPDX-License-Identifier: MIT */
/* The common ground of the unit tests that run the repository engine on a
 * real file:// storage: a temp dir, a random account key, a repository.
 * Linked into every unit binary (Makefile: UNIT_COMMON). */
#ifndef CS_TESTS_REPO_FIXTURE_H
#define CS_TESTS_REPO_FIXTURE_H

#include <stddef.h>
#include "repo/repo.h"

#define REPO_FIXTURE_PREFIX "users/t/backup/"

typedef struct repo_fixture {
    char tmp[256];   /* the temp dir, removed by repo_fixture_teardown() */
    char src[300];   /* tmp/src, with src/sub: what the tests back up */
    char cache[300]; /* tmp/cache (not made: the engine makes it) */
    cs_amk *amk;     /* random */
    cs_storage *st;  /* file://tmp/storage */
} repo_fixture;

/* Logging and crypto set up, tmp (/tmp/cs-NAME-test-XXXXXX) with src/sub
 * made, the key made, the storage opened and a repository initialised at
 * REPO_FIXTURE_PREFIX.  Fails the test on any error. */
void repo_fixture_setup(repo_fixture *f, const char *name);
/* Open the fixture's repository into *r (the test fails if it cannot). */
void repo_fixture_open(const repo_fixture *f, cs_repo **r);
/* Write src/rel. */
void repo_fixture_write(const repo_fixture *f, const char *rel, const void *data, size_t len);
/* Close the storage, free the key, remove tmp: 0 or system()'s status. */
int repo_fixture_teardown(repo_fixture *f);

#endif
