/* SPDX-License-Identifier: MIT */
/* lib/storage/s3_multipart_xml.c: the replies of multipart uploads as real
 * servers send them, and truncated, oversized, tampered and hostile ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "storage/s3_multipart_xml.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static int initiate(const char *xml, char id[CS_S3_UPLOAD_ID_MAX + 1])
{
    return cs_s3_initiate_parse(xml, strlen(xml), id);
}

static void test_initiate(void **state)
{
    char id[CS_S3_UPLOAD_ID_MAX + 1];
    char *big;

    (void)state;
    assert_int_equal(initiate("<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult " NS
                              "><Bucket>b</Bucket><Key>k</Key><UploadId>2~abc_DEF</UploadId>"
                              "</InitiateMultipartUploadResult>", id), 0);
    assert_string_equal(id, "2~abc_DEF");
    assert_int_equal(initiate("<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>", id),
                     -EBADMSG); /* no id */
    assert_int_equal(initiate("<InitiateMultipartUploadResult><UploadId>a</UploadId><UploadId>b</UploadId>"
                              "</InitiateMultipartUploadResult>", id), -EBADMSG); /* two */
    assert_int_equal(initiate("<Error><Code>AccessDenied</Code></Error>", id), -EBADMSG);
    assert_int_equal(initiate("<InitiateMultipartUploadResult><UploadId>abc", id), -EBADMSG); /* truncated */
    assert_int_equal(initiate("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><InitiateMultipartUploadResult><UploadId>&a;"
                              "</UploadId></InitiateMultipartUploadResult>", id), -EBADMSG);
    assert_int_equal(initiate("<InitiateMultipartUploadResult><a><b><c><d><e><f><g><h><i/></h></g></f></e></d>"
                              "</c></b></a></InitiateMultipartUploadResult>", id), -EBADMSG); /* too deep */
    /* an id over the bound */
    big = malloc(CS_S3_UPLOAD_ID_MAX + 200);
    strcpy(big, "<InitiateMultipartUploadResult><UploadId>");
    memset(big + strlen(big), 'x', CS_S3_UPLOAD_ID_MAX + 1);
    strcpy(big + 41 + CS_S3_UPLOAD_ID_MAX + 1, "</UploadId></InitiateMultipartUploadResult>");
    assert_int_equal(initiate(big, id), -EBADMSG);
    free(big);
}

static void test_complete(void **state)
{
    static const char ok[] = "<CompleteMultipartUploadResult " NS "><Location>x</Location><Key>k</Key>"
                             "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
    static const char err[] = "<Error><Code>InternalError</Code><Message>We encountered an internal error."
                              "</Message></Error>";
    char code[64];

    (void)state;
    assert_int_equal(cs_s3_complete_parse(ok, strlen(ok), code), 0);
    assert_int_equal(cs_s3_complete_parse(err, strlen(err), code), -EIO); /* a failure inside a 200 */
    assert_string_equal(code, "InternalError");
    static const char utf8[] = "<Error><Code>Ab\xc3\xa9</Code></Error>";
    assert_int_equal(cs_s3_complete_parse(utf8, strlen(utf8), code), -EIO);
    assert_string_equal(code, "Ab??"); /* made printable */
    assert_int_equal(cs_s3_complete_parse("<Error><Code>\x01</Code></Error>", 29, code), -EBADMSG);
    assert_int_equal(cs_s3_complete_parse("", 0, code), -EBADMSG);
    assert_int_equal(cs_s3_complete_parse(ok, strlen(ok) / 2, code), -EBADMSG);
    assert_int_equal(cs_s3_complete_parse("<ListBucketResult/>", 19, code), -EBADMSG);
}

static const char PAGE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult " NS "><Bucket>b</Bucket>"
    "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>p/b</NextKeyMarker>"
    "<NextUploadIdMarker>id-2</NextUploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>"
    "<Upload><Key>p/a</Key><UploadId>id-1</UploadId><Initiator><ID>x</ID></Initiator>"
    "<Initiated>2026-12-01T10:00:00.000Z</Initiated></Upload>"
    "<Upload><Key>p/b</Key><UploadId>id-2</UploadId><Initiated>garbage</Initiated></Upload>"
    "</ListMultipartUploadsResult>";

static void test_uploads_page(void **state)
{
    cs_s3_upload_page p;

    (void)state;
    assert_int_equal(cs_s3_uploads_parse(PAGE, strlen(PAGE), 1000, &p), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.uploads[0].key, "p/a");
    assert_string_equal(p.uploads[0].upload_id, "id-1");
    assert_int_equal(p.uploads[0].initiated, 1796119200);
    assert_int_equal(p.uploads[1].initiated, 0); /* unparseable: never "old" */
    assert_true(p.truncated);
    assert_string_equal(p.next_key_marker, "p/b");
    assert_string_equal(p.next_upload_id_marker, "id-2");
    cs_s3_upload_page_free(&p);
    /* more entries than allowed */
    assert_int_equal(cs_s3_uploads_parse(PAGE, strlen(PAGE), 1, &p), -E2BIG);
    assert_int_equal(p.n, 0);
    /* every truncation of the page is refused or parses cleanly, never crashes */
    for (size_t n = 0; n < strlen(PAGE); n++) {
        int r = cs_s3_uploads_parse(PAGE, n, 1000, &p);
        assert_true(r == -EBADMSG);
        cs_s3_upload_page_free(&p);
    }
}

static void test_uploads_tampered(void **state)
{
    static const char *bad[] = {
        /* truncated without markers */
        "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>",
        /* an upload without its id */
        "<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>",
        /* two keys in one upload */
        "<ListMultipartUploadsResult><Upload><Key>k</Key><Key>l</Key><UploadId>i</UploadId></Upload>"
        "</ListMultipartUploadsResult>",
        "<ListBucketResult></ListBucketResult>",
        "<ListMultipartUploadsResult><Upload><Key></Key><UploadId>i</UploadId></Upload>"
        "</ListMultipartUploadsResult>",
    };
    cs_s3_upload_page p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cs_s3_uploads_parse(bad[i], strlen(bad[i]), 1000, &p), -EBADMSG);
        assert_int_equal(p.n, 0);
    }
    assert_int_equal(cs_s3_uploads_parse(PAGE, (8u << 20) + 1, 1000, &p), -EBADMSG); /* over the size bound */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initiate),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_uploads_page),
        cmocka_unit_test(test_uploads_tampered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
