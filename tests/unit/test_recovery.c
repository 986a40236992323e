/* SPDX-License-Identifier: MIT */
/* Recovery codes: format, tolerant parsing, checksum errors. */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/recovery.h"
#include "util/secmem.h"

static void test_format_and_round_trip(void **state)
{
    for (int i = 0; i < 200; i++) {
        uint8_t k[CS_RECOVERY_KEY_BYTES], back[CS_RECOVERY_KEY_BYTES];
        char code[CS_RECOVERY_CODE_MAX];

        cs_recovery_generate(k);
        cs_recovery_encode(k, code);
        assert_int_equal(strlen(code), CS_RECOVERY_CODE_MAX - 1);
        for (size_t j = 0; code[j]; j++) {
            if (j % 5 == 4)
                assert_int_equal(code[j], '-');
            else
                assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", code[j]));
        }
        assert_int_equal(cs_recovery_parse(code, strlen(code), back), 0);
        assert_memory_equal(k, back, sizeof(k));
    }
}

static void test_known_vector(void **state)
{
    uint8_t k[CS_RECOVERY_KEY_BYTES] = { 0 }, back[CS_RECOVERY_KEY_BYTES];
    char code[CS_RECOVERY_CODE_MAX];

    cs_recovery_encode(k, code);
    /* 32 zero bytes: 51 '0' characters, then the checksum */
    assert_int_equal(strncmp(code, "0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-000", 63), 0);
    assert_int_equal(cs_recovery_parse(code, strlen(code), back), 0);
    assert_memory_equal(k, back, sizeof(k));
}

static void test_tolerant(void **state)
{
    uint8_t k[CS_RECOVERY_KEY_BYTES], back[CS_RECOVERY_KEY_BYTES];
    char code[CS_RECOVERY_CODE_MAX], typed[200];
    size_t o = 0;

    cs_recovery_generate(k);
    cs_recovery_encode(k, code);
    /* lower case, spaces instead of dashes, O for 0, l for 1, tabs */
    for (size_t i = 0; code[i]; i++) {
        char c = code[i];
        if (c == '-') { typed[o++] = ' '; if (i % 2) typed[o++] = '\t'; continue; }
        if (c == '0') c = 'O';
        else if (c == '1') c = 'l';
        typed[o++] = (char)tolower((unsigned char)c);
    }
    typed[o] = '\0';
    assert_int_equal(cs_recovery_parse(typed, o, back), 0);
    assert_memory_equal(k, back, sizeof(k));
}

static void test_errors(void **state)
{
    uint8_t k[CS_RECOVERY_KEY_BYTES], back[CS_RECOVERY_KEY_BYTES];
    char code[CS_RECOVERY_CODE_MAX], bad[CS_RECOVERY_CODE_MAX + 8];

    cs_recovery_generate(k);
    cs_recovery_encode(k, code);
    /* every single-character substitution is caught */
    for (size_t i = 0; code[i]; i++) {
        if (code[i] == '-')
            continue;
        strcpy(bad, code);
        bad[i] = bad[i] == 'Z' ? 'Y' : 'Z';
        assert_int_equal(cs_recovery_parse(bad, strlen(bad), back), -EILSEQ);
    }
    /* swapped neighbours (when different) */
    strcpy(bad, code);
    if (bad[0] != bad[1]) {
        char t = bad[0]; bad[0] = bad[1]; bad[1] = t;
        assert_int_equal(cs_recovery_parse(bad, strlen(bad), back), -EILSEQ);
    }
    /* too short, too long, invalid characters */
    assert_int_equal(cs_recovery_parse(code, strlen(code) - 1, back), -EINVAL);
    snprintf(bad, sizeof(bad), "%sA", code);
    assert_int_equal(cs_recovery_parse(bad, strlen(bad), back), -EINVAL);
    strcpy(bad, code);
    bad[0] = 'U';
    assert_int_equal(cs_recovery_parse(bad, strlen(bad), back), -EINVAL);
    bad[0] = '\0';
    assert_int_equal(cs_recovery_parse(bad, strlen(code), back), -EINVAL);
    assert_int_equal(cs_recovery_parse("", 0, back), -EINVAL);
    assert_int_equal(cs_recovery_parse(NULL, 0, back), -EINVAL);
    {
        char huge[CS_RECOVERY_INPUT_MAX + 2];
        memset(huge, ' ', sizeof(huge));
        memcpy(huge, code, strlen(code));
        assert_int_equal(cs_recovery_parse(huge, sizeof(huge), back), -EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_round_trip),
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_tolerant),
        cmocka_unit_test(test_errors),
    };
    if (cs_crypto_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("recovery", tests, NULL, NULL);
}
