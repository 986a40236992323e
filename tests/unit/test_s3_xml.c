/* SPDX-License-Identifier: MIT */
/* lib/storage/s3_xml.c: ListObjectsV2 pages and <Error> bodies, including
 * truncated, oversized and tampered replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "storage/s3_xml.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
             "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
#define ENTRY(k, sz) "<Contents><Key>" k "</Key><LastModified>2026-11-28T02:16:09.123Z</LastModified>" \
                     "<ETag>&quot;9cd599a3&quot;</ETag><Size>" sz "</Size><StorageClass>STANDARD</StorageClass></Contents>"

static int parse(const char *xml, cs_s3_list_page *p)
{
    return cs_s3_listing_parse(xml, strlen(xml), 1000, p);
}

static void test_valid_page(void **state)
{
    cs_s3_list_page p;
    const char *xml = HEAD "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
        "<IsTruncated>true</IsTruncated><ContinuationToken>old</ContinuationToken>"
        "<NextContinuationToken>1/abc+=</NextContinuationToken>"
        ENTRY("p/a &amp; b", "5") ENTRY("p/\xc3\xa4", "18446744073709551615") "</ListBucketResult>";

    (void)state;
    assert_int_equal(parse(xml, &p), 0);
    assert_int_equal(p.n, 2);
    assert_true(p.truncated);
    assert_string_equal(p.next_token, "1/abc+=");
    assert_string_equal(p.entries[0].key, "p/a & b");
    assert_int_equal(p.entries[0].st.size, 5);
    assert_string_equal(p.entries[0].st.etag, "\"9cd599a3\"");
    assert_int_equal(p.entries[0].st.mtime_sec, 1795832169);
    assert_string_equal(p.entries[1].key, "p/\xc3\xa4");
    assert_true(p.entries[1].st.size == UINT64_MAX);
    cs_s3_list_page_free(&p);

    assert_int_equal(parse(HEAD "<IsTruncated>false</IsTruncated></ListBucketResult>", &p), 0);
    assert_int_equal(p.n, 0);
    assert_false(p.truncated);
    assert_null(p.next_token);
    cs_s3_list_page_free(&p);
}

static void test_rejected_pages(void **state)
{
    static const char *bad[] = {
        "",
        "not xml",
        HEAD ENTRY("a", "1"),                                           /* truncated document */
        HEAD "<Contents><Key>a</Key><Size>1</Size>",                    /* truncated element */
        HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>",      /* no token */
        HEAD "<IsTruncated>maybe</IsTruncated></ListBucketResult>",
        HEAD "<Contents><Size>1</Size></Contents></ListBucketResult>",  /* no key */
        HEAD "<Contents><Key>a</Key></Contents></ListBucketResult>",    /* no size */
        HEAD ENTRY("a", "-1") "</ListBucketResult>",
        HEAD ENTRY("a", "1x") "</ListBucketResult>",
        HEAD ENTRY("a", "99999999999999999999") "</ListBucketResult>",
        HEAD ENTRY("", "1") "</ListBucketResult>",
        HEAD "<Contents><Key>a</Key><Key>b</Key><Size>1</Size></Contents></ListBucketResult>",
        HEAD "<NextContinuationToken>a</NextContinuationToken><NextContinuationToken>b</NextContinuationToken>"
             "</ListBucketResult>",
        "<Error><Code>AccessDenied</Code></Error>",                      /* not a listing */
        "<Other/>",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>"
            "<Contents><Key>&a;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><a><b><c><d><e><f><g><h><i></i></h></g></f></e></d></c></b></a></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#0;b</Key><Size>1</Size></Contents></ListBucketResult>",
    };
    cs_s3_list_page p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse(bad[i], &p);
        if (r != -EBADMSG)
            fail_msg("case %zu accepted or wrong error %d: %s", i, r, bad[i]);
        assert_int_equal(p.n, 0);
        assert_null(p.entries);
    }
}

static void test_bounds(void **state)
{
    cs_s3_list_page p;
    size_t cap = 20000 + 2 * 1000 * 64;
    char *xml = malloc(cap);
    size_t o;

    (void)state;
    /* a key of 1025 bytes (S3's limit is 1024) */
    o = (size_t)sprintf(xml, "%s<Contents><Key>", HEAD);
    memset(xml + o, 'k', 1025);
    o += 1025;
    sprintf(xml + o, "</Key><Size>1</Size></Contents></ListBucketResult>");
    assert_int_equal(parse(xml, &p), -EBADMSG);
    /* a token over CS_S3_TOKEN_MAX */
    o = (size_t)sprintf(xml, "%s<IsTruncated>true</IsTruncated><NextContinuationToken>", HEAD);
    memset(xml + o, 't', CS_S3_TOKEN_MAX + 1);
    o += CS_S3_TOKEN_MAX + 1;
    sprintf(xml + o, "</NextContinuationToken></ListBucketResult>");
    assert_int_equal(parse(xml, &p), -EBADMSG);
    /* more entries than allowed per page */
    o = (size_t)sprintf(xml, "%s", HEAD);
    for (int i = 0; i < 11; i++)
        o += (size_t)sprintf(xml + o, "<Contents><Key>k%d</Key><Size>1</Size></Contents>", i);
    sprintf(xml + o, "</ListBucketResult>");
    assert_int_equal(cs_s3_listing_parse(xml, strlen(xml), 10, &p), -E2BIG);
    assert_int_equal(cs_s3_listing_parse(xml, strlen(xml), 11, &p), 0);
    assert_int_equal(p.n, 11);
    cs_s3_list_page_free(&p);
    /* a body over CS_S3_XML_MAX is refused before parsing */
    assert_int_equal(cs_s3_listing_parse(xml, CS_S3_XML_MAX + 1, 10, &p), -EBADMSG);
    free(xml);
}

static void test_error_body(void **state)
{
    char code[64], msg[256];
    const char *e = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
                    "<Message>bad\tsig</Message><RequestId>x</RequestId></Error>";

    (void)state;
    assert_int_equal(cs_s3_error_parse(e, strlen(e), code, msg), 0);
    assert_string_equal(code, "SignatureDoesNotMatch");
    assert_string_equal(msg, "bad?sig");
    assert_int_equal(cs_s3_error_parse("<Error></Error>", 15, code, msg), -EBADMSG);
    assert_int_equal(cs_s3_error_parse(HEAD "</ListBucketResult>", strlen(HEAD) + 19, code, msg), -EBADMSG);
    assert_int_equal(cs_s3_error_parse("<html>", 6, code, msg), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_page),
        cmocka_unit_test(test_rejected_pages),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_error_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
