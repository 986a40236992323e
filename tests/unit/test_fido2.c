/* SPDX-License-Identifier: MIT */
/* lib/crypto/fido2.c without a key: the contract's argument checks and
 * what an empty or dead device list gives (the device paths themselves are
 * tested against the software authenticator, tests/integration/fido2/). */
#include <errno.h>
#include <fido.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/fido2.h"

#define RP "cloudseal:abab"

static int listed;

static void *dead_open(const char *path) { return NULL; }
static void dead_close(void *h) {}
static int dead_read(void *h, unsigned char *b, size_t n, int ms) { return -1; }
static int dead_write(void *h, const unsigned char *b, size_t n) { return -1; }
static const fido_dev_io_t dead_io = { dead_open, dead_close, dead_read, dead_write };

/* `listed` keys that never answer */
static int manifest(fido_dev_info_t *devlist, size_t ilen, size_t *olen)
{
    *olen = 0;
    for (int i = 0; i < listed && *olen < ilen; i++)
        if (fido_dev_info_set(devlist, *olen, "/nonexistent/key", "m", "p", &dead_io, NULL) == FIDO_OK)
            (*olen)++;
    return FIDO_OK;
}
static const cs_fido2_devsource source = { manifest, &dead_io };

static int setup(void **state)
{
    cs_fido2_devsource_override = &source;
    listed = 0;
    return 0;
}

static void test_bad_arguments(void **state)
{
    uint8_t id[CS_FIDO2_CRED_ID_MAX + 1] = { 1 }, salt[CS_FIDO2_SALT_BYTES] = { 0 }, user[32] = { 0 };
    cs_fido2_credential c;
    cs_secret *out = NULL;

    assert_int_equal(cs_fido2_make_credential(NULL, "u", user, NULL, &c), -EINVAL);
    assert_int_equal(cs_fido2_make_credential(RP, NULL, user, NULL, &c), -EINVAL);
    assert_int_equal(cs_fido2_make_credential(RP, "u", user, NULL, NULL), -EINVAL);
    assert_int_equal(cs_fido2_hmac_secret(RP, id, 0, salt, CS_FIDO2_UP, NULL, &out), -EINVAL);
    assert_int_equal(cs_fido2_hmac_secret(RP, id, sizeof(id), salt, CS_FIDO2_UP, NULL, &out), -EINVAL);
    assert_int_equal(cs_fido2_hmac_secret(RP, id, 16, salt, 1u << 7, NULL, &out), -EINVAL);
    assert_int_equal(cs_fido2_hmac_secret(RP, id, 16, NULL, CS_FIDO2_UP, NULL, &out), -EINVAL);
    assert_int_equal(cs_fido2_hmac_secret(NULL, id, 16, salt, CS_FIDO2_UP, NULL, &out), -EINVAL);
    assert_null(out);
}

static void test_no_key_is_enodev(void **state)
{
    uint8_t id[16] = { 1 }, salt[CS_FIDO2_SALT_BYTES] = { 0 }, user[32] = { 0 };
    cs_fido2_credential c;
    cs_secret *out = NULL;

    assert_false(cs_fido2_present());
    assert_int_equal(cs_fido2_make_credential(RP, "u", user, NULL, &c), -ENODEV);
    assert_int_equal(cs_fido2_hmac_secret(RP, id, sizeof(id), salt, CS_FIDO2_UP, NULL, &out), -ENODEV);
    assert_null(out);
}

static void test_keys_that_do_not_answer_are_enodev(void **state)
{
    uint8_t id[16] = { 1 }, salt[CS_FIDO2_SALT_BYTES] = { 0 }, user[32] = { 0 };
    cs_fido2_credential c;
    cs_secret *out = NULL;

    listed = 20;                        /* more than are looked at */
    assert_true(cs_fido2_present());    /* listed: plugged in */
    assert_int_equal(cs_fido2_make_credential(RP, "u", user, NULL, &c), -ENODEV);
    assert_int_equal(cs_fido2_hmac_secret(RP, id, sizeof(id), salt, CS_FIDO2_UP, NULL, &out), -ENODEV);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_bad_arguments, setup),
        cmocka_unit_test_setup(test_no_key_is_enodev, setup),
        cmocka_unit_test_setup(test_keys_that_do_not_answer_are_enodev, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
