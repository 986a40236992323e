/* SPDX-License-Identifier: MIT */
/* lib/agent/agent_proto.c: control requests, replies, job progress lines,
 * the state file.  Truncated, oversized and tampered input included. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/agent_proto.h"

#define S(x) x, strlen(x)

static void test_requests(void **state)
{
    cs_agent_cmd c;

    (void)state;
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"status\"}\n"), &c), 0);
    assert_int_equal(c, CS_AGENT_CMD_STATUS);
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"backup-now\"}"), &c), 0);
    assert_int_equal(c, CS_AGENT_CMD_BACKUP_NOW);
    assert_int_equal(cs_agent_parse_request(S(" {\"cmd\":\"unlock-notify\",\"x\":[1]} \r\n"), &c), 0);
    assert_int_equal(c, CS_AGENT_CMD_UNLOCK_NOTIFY);
    assert_string_equal(cs_agent_cmd_name(CS_AGENT_CMD_SYNC_NOW), "sync-now");
    /* truncated, tampered, wrong types, trailing documents */
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"stat"), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S(""), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":7}"), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S("{}"), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S("\"status\""), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"status\"}{\"cmd\":\"lock\"}"), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request("{\"cmd\":\"status\"}\0x", 18, &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"reboot\"}"), &c), -EOPNOTSUPP);
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"Status\"}"), &c), -EOPNOTSUPP);
}

/* Requests are strict JSON (cs_json_parse) and typed by a table: json-c's
 * lenient forms and a NUL that would cut the name short are refused. */
static void test_requests_strict(void **state)
{
    cs_agent_cmd c;
    int64_t s;

    (void)state;
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"status\",}"), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"status\",\"x\":[1,]}"), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request(S("{\"cmd\":\"status\\u0000x\"}"), &c), -EBADMSG);
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"pause\",\"seconds\":60.5}"), &c, &s), -EBADMSG);
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"pause\",\"seconds\":60}"), &c, &s), 0);
    assert_int_equal(s, 60);
}

static void test_oversized_and_deep(void **state)
{
    char *big = malloc(CS_AGENT_LINE_MAX + 2);
    cs_agent_cmd c;

    (void)state;
    memset(big, ' ', CS_AGENT_LINE_MAX + 1);
    memcpy(big, "{\"cmd\":\"status\"}", 16);
    assert_int_equal(cs_agent_parse_request(big, CS_AGENT_LINE_MAX + 1, &c), -EMSGSIZE);
    assert_int_equal(cs_agent_parse_request(big, CS_AGENT_LINE_MAX, &c), 0);
    /* nesting beyond the tokenizer's depth limit is refused, not recursed */
    memset(big, '[', 1000);
    assert_int_equal(cs_agent_parse_request(big, 1000, &c), -EBADMSG);
    free(big);
}

static void test_replies(void **state)
{
    json_object *o = NULL;

    (void)state;
    assert_int_equal(cs_agent_parse_reply(S("{\"ok\":true,\"state\":\"idle\"}\n"), &o), 0);
    json_object_put(o);
    assert_int_equal(cs_agent_parse_reply(S("{\"ok\":\"yes\"}"), &o), -EBADMSG);
    assert_int_equal(cs_agent_parse_reply(S("{\"state\":\"idle\"}"), &o), -EBADMSG);
    assert_int_equal(cs_agent_parse_reply(S("{\"ok\":tru"), &o), -EBADMSG);
    assert_null(o);
}

static void test_progress(void **state)
{
    cs_job_progress p;

    (void)state;
    assert_int_equal(cs_agent_parse_progress(S("{\"percent\":42}"), &p), 0);
    assert_int_equal(p.percent, 42);
    assert_int_equal(p.repository_size, -1);
    assert_int_equal(cs_agent_parse_progress(S("{\"percent\":420}"), &p), 0);
    assert_int_equal(p.percent, 100);
    assert_int_equal(cs_agent_parse_progress(S("{\"percent\":-3}"), &p), 0);
    assert_int_equal(p.percent, -1);
    assert_int_equal(cs_agent_parse_progress(S("{\"bytes_done\":1,\"bytes_total\":4}"), &p), 0);
    assert_int_equal(p.percent, 25);
    assert_int_equal(cs_agent_parse_progress(S("{\"bytes_done\":9,\"bytes_total\":0}"), &p), 0);
    assert_int_equal(p.percent, -1);
    assert_int_equal(cs_agent_parse_progress(S("{\"files_done\":9223372036854775807,"
                                               "\"files_total\":9223372036854775807}"), &p), 0);
    assert_int_equal(p.percent, 100);
    assert_int_equal(cs_agent_parse_progress(S("{\"bytes\":3,\"total_bytes\":4,\"files\":1}"), &p), 0);
    assert_int_equal(p.percent, 75);
    assert_int_equal(cs_agent_parse_progress(S("{\"id\":\"ff00\",\"time\":\"x\"}"), &p), 0);
    assert_string_equal(p.snapshot, "ff00");
    assert_int_equal(cs_agent_parse_progress(S("{\"snapshot\":\"ab12\",\"repository_size\":77}"), &p), 0);
    assert_string_equal(p.snapshot, "ab12");
    assert_int_equal(p.repository_size, 77);
    assert_int_equal(p.snapshots, -1);
    /* `cloudseal --json stats`: the count the fleet health report carries */
    assert_int_equal(cs_agent_parse_progress(S("{\"snapshots\":3,\"stored_bytes\":9}"), &p), 0);
    assert_int_equal(p.snapshots, 3);
    assert_int_equal(p.repository_size, 9);
    /* an id with path or control characters is dropped, not shown */
    assert_int_equal(cs_agent_parse_progress(S("{\"snapshot\":\"../x\\n\"}"), &p), 0);
    assert_string_equal(p.snapshot, "");
    assert_int_equal(cs_agent_parse_progress(S("{\"error\":\"storage unreachable\"}"), &p), 0);
    assert_string_equal(p.error, "storage unreachable");
    assert_int_equal(cs_agent_parse_progress(S("backing up..."), &p), -EBADMSG);
}

static void test_state_roundtrip_and_tamper(void **state)
{
    cs_agent_state st, back;
    cs_agent_job_state *j;
    json_object *o;
    const char *s;

    (void)state;
    cs_agent_state_init(&st);
    j = cs_agent_state_job(&st, "backup");
    assert_non_null(j);
    j->last_run = 1700000000;
    j->last_success = 1690000000;
    j->failures = 2;
    strcpy(j->last_result, "unreachable");
    strcpy(j->last_error, "storage unreachable");
    st.repository_size = 12345;
    st.snapshots = 4;
    st.report_sequence = 17;
    st.report_last = 1700000001;
    assert_ptr_equal(cs_agent_state_job(&st, "backup"), j);
    o = cs_agent_state_to_json(&st);
    s = json_object_to_json_string(o);
    assert_int_equal(cs_agent_state_parse(s, strlen(s), &back), 0);
    assert_int_equal(back.n_jobs, 1);
    assert_memory_equal(&back.jobs[0], j, sizeof(*j));
    assert_int_equal(back.repository_size, 12345);
    assert_int_equal(back.snapshots, 4);
    assert_int_equal(back.report_sequence, 17);
    assert_int_equal(back.report_last, 1700000001);
    json_object_put(o);

    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{\"backup\":{\"last_run\":-1}}}"), &back), -EBADMSG);
    assert_int_equal(back.n_jobs, 0); /* nothing half-parsed is kept */
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{\"backup\":{\"last_run\":\"x\"}}}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":[]}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{\"backup\":{\"failures\":99999999}}}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{\"backup\":{\"last_result\":\""
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{\"backup\":{\"last_run\":5"), &back), -EBADMSG);
    /* more jobs than the table holds: the extra ones are ignored */
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{\"a\":{},\"b\":{},\"c\":{},\"d\":{},\"e\":{}}}"), &back), 0);
    assert_int_equal(back.n_jobs, CS_AGENT_MAX_JOBS);
}

/* The retention and notification fields: round trip, an older file
 * without them, tampered types. */
static void test_state_retention_fields(void **state)
{
    cs_agent_state st, back;
    json_object *o;
    const char *s;

    (void)state;
    cs_agent_state_init(&st);
    assert_int_equal(st.first_backup_notified, -1);
    st.first_seen = 1700000000;
    st.first_backup_notified = 1;
    st.overdue_notified = 1;
    st.retention_last = 1700000100;
    st.retention_removed = 3;
    st.retention_guard = 1;
    st.guard_rescued = 2;
    st.newest_bytes = 10;
    st.full_bytes = 1000;
    st.last_prune = 1700000200;
    st.prune_left = 3 << 20;
    o = cs_agent_state_to_json(&st);
    s = json_object_to_json_string(o);
    assert_int_equal(cs_agent_state_parse(s, strlen(s), &back), 0);
    json_object_put(o);
    assert_int_equal(back.first_seen, 1700000000);
    assert_int_equal(back.first_backup_notified, 1);
    assert_int_equal(back.overdue_notified, 1);
    assert_int_equal(back.retention_removed, 3);
    assert_int_equal(back.retention_guard, 1);
    assert_int_equal(back.guard_rescued, 2);
    assert_int_equal(back.full_bytes, 1000);
    assert_int_equal(back.last_prune, 1700000200);
    assert_int_equal(back.prune_left, 3 << 20);
    /* an older agent's file: absent means unknown, not "notified" */
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{}}"), &back), 0);
    assert_int_equal(back.first_backup_notified, -1);
    assert_int_equal(back.last_prune, 0);
    assert_int_equal(cs_agent_state_parse(S("{\"last_prune\":-5}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"last_prune\":\"soon\"}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"prune_left\":-1}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"retention_guard\":1}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"overdue_notified\":\"yes\"}"), &back), -EBADMSG);
    assert_int_equal(back.overdue_notified, 0); /* a rejected file leaves nothing behind */
    /* every count is a JSON integer, as the agent writes it: json-c's
     * doubles (which the counts used to take, truncated) are refused */
    assert_int_equal(cs_agent_state_parse(S("{\"first_seen\":1.5e3}"), &back), -EBADMSG);
    assert_int_equal(cs_agent_state_parse(S("{\"jobs\":{\"backup\":{\"failures\":2.0}}}"), &back), -EBADMSG);
    assert_int_equal(back.n_jobs, 0);
    assert_int_equal(cs_agent_state_parse(S("{\"first_seen\":1500,\"newer\":{\"x\":[]}}"), &back), 0);
    assert_int_equal(back.first_seen, 1500);
}

static void test_progress_retention(void **state)
{
    cs_job_progress p;

    (void)state;
    assert_int_equal(cs_agent_parse_progress(S("{\"retention\":{\"removed\":4,\"guard\":true,"
                                               "\"guard_rescued\":2,\"newest_bytes\":1,\"full_bytes\":9}}"), &p), 0);
    assert_int_equal(p.retention_removed, 4);
    assert_int_equal(p.retention_guard, 1);
    assert_int_equal(p.guard_rescued, 2);
    assert_int_equal(p.full_bytes, 9);
    assert_int_equal(p.bytes_freed, -1);
    assert_int_equal(p.repack_left, -1);
    assert_int_equal(cs_agent_parse_progress(S("{\"prune\":{\"bytes_freed\":77}}"), &p), 0);
    assert_int_equal(p.bytes_freed, 77);
    assert_int_equal(p.repack_left, 0);
    assert_int_equal(cs_agent_parse_progress(S("{\"prune\":{\"bytes_freed\":7,\"bytes_repack_left\":5}}"), &p), 0);
    assert_int_equal(p.repack_left, 5);
    assert_int_equal(cs_agent_parse_progress(S("{\"prune\":{\"bytes_freed\":7,\"bytes_repack_left\":-5}}"), &p), 0);
    assert_int_equal(p.repack_left, 0);
    assert_int_equal(p.retention_removed, -1);
    /* tampered: no count, wrong types */
    assert_int_equal(cs_agent_parse_progress(S("{\"retention\":{\"removed\":-1,\"guard\":true}}"), &p), 0);
    assert_int_equal(p.retention_removed, -1);
    assert_int_equal(cs_agent_parse_progress(S("{\"retention\":[1],\"prune\":{\"bytes_freed\":\"x\"}}"), &p), 0);
    assert_int_equal(p.retention_removed, -1);
    assert_int_equal(p.bytes_freed, -1);
    assert_int_equal(cs_agent_parse_progress(S("{\"retention\":{\"removed\":1,\"guard\":\"yes\"}}"), &p), 0);
    assert_int_equal(p.retention_guard, 0);
}

static void test_pause_request(void **state)
{
    cs_agent_cmd c;
    int64_t s;

    (void)state;
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"pause\",\"seconds\":7200}"), &c, &s), 0);
    assert_int_equal(c, CS_AGENT_CMD_PAUSE);
    assert_int_equal(s, 7200);
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"pause\"}"), &c, &s), 0);
    assert_int_equal(s, -1);
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"resume\"}"), &c, &s), 0);
    assert_int_equal(c, CS_AGENT_CMD_RESUME);
    /* tampered: negative, too long, wrong type */
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"pause\",\"seconds\":-5}"), &c, &s), -EBADMSG);
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"pause\",\"seconds\":99999999999}"), &c, &s),
                     -EBADMSG);
    assert_int_equal(cs_agent_parse_request_seconds(S("{\"cmd\":\"pause\",\"seconds\":\"1h\"}"), &c, &s), -EBADMSG);
}

/* The client's request lines: the bytes the printf'd lines had for the
 * commands there are, and valid JSON on one line whatever the name holds
 * (a quote, a backslash, a control character, invalid UTF-8). */
static void test_format_request(void **state)
{
    static const char *const hostile[] = { "st\"atus", "st\\atus", "a\nb", "a\x01\x1f" "b", "\xff\xfe", "\xc3" };
    char *line, *big;
    size_t len;
    cs_agent_cmd c;
    int64_t s;

    (void)state;
    assert_int_equal(cs_agent_format_request("pause", 7200, &line, &len), 0);
    assert_string_equal(line, "{\"cmd\":\"pause\",\"seconds\":7200}\n");
    assert_int_equal(len, strlen(line));
    free(line);
    assert_int_equal(cs_agent_format_request("unlock-notify", -1, &line, &len), 0);
    assert_string_equal(line, "{\"cmd\":\"unlock-notify\"}\n");
    free(line);
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        assert_int_equal(cs_agent_format_request(hostile[i], 60, &line, &len), 0);
        assert_int_equal(len, strlen(line));
        assert_ptr_equal(strchr(line, '\n'), line + len - 1);
        /* a JSON object with a string "cmd": only the name is unknown */
        assert_int_equal(cs_agent_parse_request_seconds(line, len, &c, &s), -EOPNOTSUPP);
        free(line);
    }
    big = malloc(CS_AGENT_LINE_MAX + 1);
    assert_non_null(big);
    memset(big, 'a', CS_AGENT_LINE_MAX);
    big[CS_AGENT_LINE_MAX] = '\0';
    assert_int_equal(cs_agent_format_request(big, -1, &line, &len), -EMSGSIZE);
    assert_null(line);
    free(big);
}

static void test_socket_path(void **state)
{
    char p[108];

    (void)state;
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    assert_int_equal(cs_agent_socket_path(p, sizeof(p)), 0);
    assert_string_equal(p, "/run/user/1000/cloudseal/agent.sock");
    setenv("XDG_RUNTIME_DIR", "relative", 1);
    assert_int_equal(cs_agent_socket_path(p, sizeof(p)), -ENXIO);
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(cs_agent_socket_path(p, sizeof(p)), -ENXIO);
    char longdir[200];
    memset(longdir, 'a', sizeof(longdir));
    longdir[0] = '/';
    longdir[199] = '\0';
    setenv("XDG_RUNTIME_DIR", longdir, 1);
    assert_int_equal(cs_agent_socket_path(p, sizeof(p)), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_requests_strict),
        cmocka_unit_test(test_oversized_and_deep),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_state_roundtrip_and_tamper),
        cmocka_unit_test(test_socket_path),
        cmocka_unit_test(test_state_retention_fields),
        cmocka_unit_test(test_pause_request),
        cmocka_unit_test(test_format_request),
        cmocka_unit_test(test_progress_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
