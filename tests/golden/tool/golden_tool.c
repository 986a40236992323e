/* SPDX-License-Identifier: MIT */
/* golden-tool: the writing half of tests/golden.  Each command parses a
 * golden fixture with today's parsers, encodes the parsed form again with
 * today's encoders and compares the bytes: where the code is deterministic
 * for the same input, a refactored encoder must write exactly what the old
 * one wrote.  Not installed; run by tests/integration/golden/test_golden.py.
 *
 *   golden-tool keybag KEYBAG                      (password on stdin)
 *   golden-tool fleet SIGNED PUBKEY SECRETKEY CACHE SOURCE
 *   golden-tool archive-state STATE
 *   golden-tool agent-state STATE
 *   golden-tool segment KEYBAG DEVICE SEQ FILE     (password on stdin)
 *   golden-tool repo URL PREFIX KEYBAG CACHE_ROOT STATS  (password on stdin)
 *   golden-tool packs URL PREFIX KEYBAG            (password on stdin)
 *   golden-tool chunks URL PREFIX KEYBAG FILE...    (password on stdin)
 *   golden-tool fleet-user USER KEYBAG SEAL ESCROW ESCROW_SECRET SIGNED PUBKEY
 *                                                  (one-time password on stdin)
 *
 * Output: one line per object; exit 0 when every object re-encoded to the
 * same bytes, 1 when one did not, 2 when a fixture could not be read.
 * Each command returns the number of objects that differ, or -errno. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/agent_proto.h"
#include "archive/state.h"
#include "fleet/fleet.h"
#include "golden_tool.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/secmem.h"

#define MAX_FIXTURE (16u << 20)

int golden_same(const char *what, const char *name, const uint8_t *a, size_t alen,
                const uint8_t *b, size_t blen)
{
    size_t i = 0;

    while (i < alen && i < blen && a[i] == b[i])
        i++;
    if (i == alen && alen == blen) {
        printf("%s%s%s: re-encoded equal, %zu bytes\n", what, *name ? " " : "", name, alen);
        return 0;
    }
    printf("%s%s%s: re-encoded DIFFERS at byte %zu (%zu bytes written, %zu in the fixture)\n",
           what, *name ? " " : "", name, i, alen, blen);
    return 1;
}

int golden_unlock(const char *path, cs_keybag **kb_out, cs_amk **amk)
{
    static cs_secret *pw; /* one read of stdin serves every unlock */
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    _cleanup_keybag_ cs_keybag *kb = NULL;
    int r = cs_read_file(path, MAX_FIXTURE, &raw);

    if (r < 0)
        return log_error_errno(r, "%s", path);
    if ((r = cs_keybag_parse(raw.data, raw.len, &kb)) < 0)
        return log_error_errno(r, "%s: not a keybag", path);
    if (!pw && (r = cs_secret_read_fd(STDIN_FILENO, &pw)) < 0)
        return log_error_errno(r, "reading the password on stdin");
    if ((r = cs_keybag_unlock(kb, CS_SLOT_PASSWORD, pw, amk)) < 0)
        return log_error_errno(r, "%s: cannot unlock with the fixtures' password", path);
    if (kb_out)
        *kb_out = CS_TAKE_PTR(kb);
    return 0;
}

/* The keybag serialised again from its parsed form, MAC recomputed. */
static int cmd_keybag(const char *path)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    _cleanup_keybag_ cs_keybag *kb = NULL;
    _cleanup_amk_ cs_amk *amk = NULL;
    _cleanup_free_ char *out = NULL;
    size_t len;
    int r = cs_read_file(path, MAX_FIXTURE, &raw);

    if (r < 0 || (r = golden_unlock(path, &kb, &amk)) < 0)
        return r;
    if ((r = cs_keybag_serialize(kb, amk, &out, &len)) < 0)
        return log_error_errno(r, "serialising the keybag");
    return golden_same("keybag", "", (const uint8_t *)out, len, raw.data, raw.len);
}

static int64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

#define DIRCACHE_COMPILED_AT 56 /* docs/directory.md section 4: i64 compiled */

/* The signed directory signed again (Ed25519 is deterministic), its cache
 * compiled again with the recorded compile time, the source written again. */
static int cmd_fleet(char **argv)
{
    _cleanup_buf_ cs_buf signed_raw = CS_BUF_INIT, cache = CS_BUF_INIT, source = CS_BUF_INIT, image = CS_BUF_INIT;
    _cleanup_directory_ cs_directory *d = NULL, *src = NULL;
    _cleanup_free_ char *resigned = NULL, *json = NULL;
    uint8_t pk[CS_FLEET_PK_BYTES], *sk = NULL;
    cs_fleet_err err = { "" };
    size_t len;
    int r, bad = 0;

    if ((r = cs_read_file(argv[0], MAX_FIXTURE, &signed_raw)) < 0 ||
        (r = cs_read_file(argv[3], MAX_FIXTURE, &cache)) < 0 ||
        (r = cs_read_file(argv[4], MAX_FIXTURE, &source)) < 0)
        return log_error_errno(r, "reading the fleet fixtures");
    if ((r = cs_fleet_read_pubkey(argv[1], pk)) < 0)
        return log_error_errno(r, "%s", argv[1]);
    if ((r = cs_fleet_open_signed(signed_raw.data, signed_raw.len, pk, &d, &err)) < 0)
        return log_error_errno(r, "%s: %s", argv[0], err.msg);
    if (cache.len < DIRCACHE_COMPILED_AT + 8)
        return log_error_errno(-EBADMSG, "%s: too short for a cache header", argv[3]);
    if ((r = cs_fleet_compile_cache(d, le64(cache.data + DIRCACHE_COMPILED_AT), &image)) < 0)
        return log_error_errno(r, "compiling the cache");
    bad += golden_same("dircache", "", image.data, image.len, cache.data, cache.len);

    if ((r = cs_fleet_read_signing_key(argv[2], &sk)) < 0)
        return log_error_errno(r, "%s", argv[2]);
    r = cs_fleet_sign(d, sk, &resigned, &len);
    cs_secure_free(sk);
    if (r < 0)
        return log_error_errno(r, "signing the directory");
    bad += golden_same("signed-directory", "", (const uint8_t *)resigned, len, signed_raw.data, signed_raw.len);

    if ((r = cs_directory_load_source(argv[4], &src, &err)) < 0)
        return log_error_errno(r, "%s: %s", argv[4], err.msg);
    if ((r = cs_directory_to_json(src, CS_DIR_SOURCE, &json, &len)) < 0)
        return log_error_errno(r, "writing the source");
    bad += golden_same("directory-source", "", (const uint8_t *)json, len, source.data, source.len);
    return bad;
}

/* The archive's device state decoded and encoded again (checksum included),
 * in the fixture's version: a newer version adds to it, it must still
 * write the older one byte for byte. */
static int cmd_archive_state(const char *path)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT, enc = CS_BUF_INIT;
    cs_arch_state *st = NULL;
    int r = cs_read_file(path, MAX_FIXTURE, &raw);

    if (r < 0)
        return log_error_errno(r, "%s", path);
    if ((r = cs_arch_state_decode(raw.data, raw.len, &st)) < 0)
        return log_error_errno(r, "%s: not an archive state", path);
    r = cs_arch_state_encode_as(st, raw.data[4], &enc);
    cs_arch_state_free(st);
    if (r < 0)
        return log_error_errno(r, "encoding the state");
    return golden_same("archive-state", "", enc.data, enc.len, raw.data, raw.len);
}

/* Leave out of o the top-level fields that old (the fixture, as JSON)
 * lacks, naming them in added: fields a later version appended. */
static int drop_added_fields(json_object *o, json_object *old, char *added, size_t len)
{
    const char *names[64];
    size_t n = 0;

    added[0] = '\0';
    json_object_object_foreach(o, key, val) {
        (void)val;
        if (!json_object_object_get_ex(old, key, NULL) && n < 64)
            names[n++] = key;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(added + strlen(added), len - strlen(added), "%s%s", i ? ", " : "", names[i]);
        json_object_object_del(o, names[i]);
    }
    return (int)n;
}

/* The agent's state file parsed and written again the way the agent
 * writes it (helper/agent/status.c: plain JSON).  Its readers ignore
 * unknown fields, so a later version may append some (prune_left, issue
 * 18): those the fixture predates are named and left out, and the rest
 * must still be the fixture's bytes. */
static int cmd_agent_state(const char *path)
{
    _cleanup_buf_ cs_buf raw = CS_BUF_INIT;
    cs_agent_state st;
    json_tokener *tok;
    json_object *o, *old;
    char added[512], what[600];
    const char *s;
    int r = cs_read_file(path, CS_AGENT_STATE_MAX, &raw);

    if (r < 0)
        return log_error_errno(r, "%s", path);
    if ((r = cs_agent_state_parse((const char *)raw.data, raw.len, &st)) < 0)
        return log_error_errno(r, "%s: not an agent state", path);
    tok = json_tokener_new();
    old = tok ? json_tokener_parse_ex(tok, (const char *)raw.data, (int)raw.len) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (!old)
        return log_error_errno(-EBADMSG, "%s: not JSON", path);
    o = cs_agent_state_to_json(&st);
    snprintf(what, sizeof(what), "%s", "");
    if (drop_added_fields(o, old, added, sizeof(added)) > 0)
        snprintf(what, sizeof(what), "(the fields the fixture predates left out: %s)", added);
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    r = golden_same("agent-state", what, (const uint8_t *)s, strlen(s), raw.data, raw.len);
    json_object_put(o);
    json_object_put(old);
    return r;
}

static int usage(void)
{
    fprintf(stderr, "usage: golden-tool keybag KEYBAG | fleet SIGNED PUBKEY SECRETKEY CACHE SOURCE |\n"
                    "       archive-state STATE | agent-state STATE | segment KEYBAG DEVICE SEQ FILE |\n"
                    "       repo URL PREFIX KEYBAG CACHE_ROOT STATS | packs URL PREFIX KEYBAG |\n"
                    "       chunks URL PREFIX KEYBAG FILE... |\n"
                    "       fleet-user USER KEYBAG SEAL ESCROW ESCROW_SECRET SIGNED PUBKEY\n");
    return 2;
}

int main(int argc, char **argv)
{
    int r;

    if (argc < 3)
        return usage();
    if (strcmp(argv[1], "keybag") == 0 && argc == 3)
        r = cmd_keybag(argv[2]);
    else if (strcmp(argv[1], "fleet") == 0 && argc == 7)
        r = cmd_fleet(argv + 2);
    else if (strcmp(argv[1], "archive-state") == 0 && argc == 3)
        r = cmd_archive_state(argv[2]);
    else if (strcmp(argv[1], "agent-state") == 0 && argc == 3)
        r = cmd_agent_state(argv[2]);
    else if (strcmp(argv[1], "segment") == 0 && argc == 6)
        r = golden_segment(argc - 2, argv + 2);
    else if (strcmp(argv[1], "repo") == 0 && argc == 7)
        r = golden_repo(argc - 2, argv + 2);
    else if (strcmp(argv[1], "packs") == 0 && argc == 5)
        r = golden_packs(argc - 2, argv + 2);
    else if (strcmp(argv[1], "chunks") == 0 && argc >= 6)
        r = golden_chunks(argc - 2, argv + 2);
    else if (strcmp(argv[1], "fleet-user") == 0 && argc == 9)
        r = golden_fleet_user(argc - 2, argv + 2);
    else
        return usage();
    return r < 0 ? 2 : r > 0 ? 1 : 0;
}
