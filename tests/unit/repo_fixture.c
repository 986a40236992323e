/* SPDX-License-Identifier: MIT */
/* The repository tests' temp dir, key and repository (repo_fixture.h). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "repo_fixture.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/secmem.h"

void repo_fixture_setup(repo_fixture *f, const char *name)
{
    char url[300], p[600];

    cs_log_setup("test", LOG_WARNING);
    assert_int_equal(cs_crypto_init(), 0);
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/cs-%s-test-XXXXXX", name);
    assert_non_null(mkdtemp(f->tmp));
    snprintf(f->src, sizeof(f->src), "%s/src", f->tmp);
    snprintf(f->cache, sizeof(f->cache), "%s/cache", f->tmp);
    snprintf(url, sizeof(url), "file://%s/storage", f->tmp);
    snprintf(p, sizeof(p), "%s/sub", f->src);
    assert_int_equal(mkdir(f->src, 0755), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(cs_amk_generate(&f->amk), 0);
    assert_int_equal(cs_storage_open(url, NULL, &f->st), 0);
    assert_int_equal(cs_repo_init(f->st, REPO_FIXTURE_PREFIX, f->amk), 0);
}

void repo_fixture_open(const repo_fixture *f, cs_repo **r)
{
    assert_int_equal(cs_repo_open(f->st, REPO_FIXTURE_PREFIX, f->amk, r), 0);
}

void repo_fixture_write(const repo_fixture *f, const char *rel, const void *data, size_t len)
{
    char p[600];
    int fd;

    snprintf(p, sizeof(p), "%s/%s", f->src, rel);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(cs_write_all(fd, data, len), 0);
    close(fd);
}

int repo_fixture_teardown(repo_fixture *f)
{
    char cmd[600];

    cs_storage_close(f->st);
    cs_amk_free(f->amk);
    f->st = NULL;
    f->amk = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
    return system(cmd);
}
