/* SPDX-License-Identifier: MIT */
/* The signed directory (the object at fleet/directory): one header line of
 * JSON, then the body bytes.
 *
 *   {"format": "cloudseal-signed-directory", "version": 1,
 *    "key": base64(fleet public key), "signature": base64(Ed25519(DOMAIN || body)),
 *    "body_bytes": N}\n
 *   <N bytes: the body JSON (lib/fleet/directory_json.c, CS_DIR_BODY)>
 *
 * The signature covers the exact body bytes, so no JSON canonicalisation is
 * needed, and the verifier checks it before it parses a single byte of the
 * body.  The body is not wrapped in base64 or a JSON string: a 100 000-user
 * directory stays readable with `tail -n +2` and verifies in one pass.
 * DOMAIN separates these signatures from anything else the fleet key might
 * ever sign.
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>
#include "fleet/fleet_internal.h"
#include "util/json.h"
#include "util/macros.h"

#define ENVELOPE_FORMAT "cloudseal-signed-directory"
static const char DOMAIN[] = "cloudseal directory v1"; /* signed with its NUL */
#define HEADER_MAX 1024

static int signed_message(const uint8_t *body, size_t len, uint8_t **msg, size_t *msg_len)
{
    if (len > SIZE_MAX - sizeof(DOMAIN))
        return -EMSGSIZE;
    *msg = malloc(sizeof(DOMAIN) + len);
    if (!*msg)
        return -ENOMEM;
    memcpy(*msg, DOMAIN, sizeof(DOMAIN));
    memcpy(*msg + sizeof(DOMAIN), body, len);
    *msg_len = sizeof(DOMAIN) + len;
    return 0;
}

/* The header line: base64 keeps its slashes (the bytes signers have
 * always written). */
static int envelope_header(const char *key, const char *sig, size_t body_len, char **out)
{
    _cleanup_json_ json_object *o = json_object_new_object();
    const char *s;

    if (!o)
        return -ENOMEM;
    json_object_object_add(o, "format", json_object_new_string(ENVELOPE_FORMAT));
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "key", json_object_new_string(key));
    json_object_object_add(o, "signature", json_object_new_string(sig));
    json_object_object_add(o, "body_bytes", json_object_new_uint64(body_len));
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!s || asprintf(out, "%s\n", s) < 0) {
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

int cs_fleet_sign(const cs_directory *d, const uint8_t *sk64, char **out, size_t *len)
{
    _cleanup_free_ char *body = NULL, *header = NULL;
    _cleanup_free_ uint8_t *msg = NULL;
    uint8_t sig[crypto_sign_BYTES];
    char pk_b64[48], sig_b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    size_t body_len, msg_len;
    int r, n;

    r = cs_directory_to_json(d, CS_DIR_BODY, &body, &body_len);
    if (r < 0)
        return r;
    r = signed_message((const uint8_t *)body, body_len, &msg, &msg_len);
    if (r < 0)
        return r;
    crypto_sign_detached(sig, NULL, msg, msg_len, sk64);
    sodium_bin2base64(sig_b64, sizeof(sig_b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    /* the public half of a libsodium secret key is its last 32 bytes */
    cs_fleet_encode_key(sk64 + 32, pk_b64);
    r = envelope_header(pk_b64, sig_b64, body_len, &header);
    if (r < 0)
        return r;
    n = (int)strlen(header);
    *out = malloc((size_t)n + body_len + 1);
    if (!*out)
        return -ENOMEM;
    memcpy(*out, header, (size_t)n);
    memcpy(*out + n, body, body_len);
    (*out)[(size_t)n + body_len] = '\0';
    if (len)
        *len = (size_t)n + body_len;
    return 0;
}

/* The header line: what is signed, by whom, and how long the body is. */
typedef struct envelope {
    char format[sizeof(ENVELOPE_FORMAT)];
    uint8_t sig[crypto_sign_BYTES];
    char key[48];
    int64_t body_bytes;
} envelope;

static const cs_json_field envelope_fields[] = {
    CS_JSON_STRBUF("format", envelope, format, CS_JSON_MANDATORY),
    CS_JSON_B64("signature", envelope, sig, CS_JSON_MANDATORY),
    CS_JSON_STRBUF("key", envelope, key, 0),
    CS_JSON_I64("body_bytes", envelope, body_bytes, 0, INT64_MAX, CS_JSON_MANDATORY),
    {},
};

static int read_envelope(const uint8_t *data, size_t len, envelope *e, cs_fleet_err *err)
{
    _cleanup_json_ struct json_object *header = NULL;
    cs_json_error jerr = { "" };
    int r = cs_json_parse_object((const char *)data, len, HEADER_MAX, 2, &header, NULL);

    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return cs_fleet_fail(err, "the signed directory's header is not a JSON object"), -EBADMSG;
    memset(e, 0, sizeof(*e));
    r = cs_json_dispatch(header, envelope_fields, 0, e, &jerr);
    if (r == 0 && strcmp(e->format, ENVELOPE_FORMAT) != 0)
        r = cs_json_fail(&jerr, "field 'format' is not \"" ENVELOPE_FORMAT "\"");
    if (r < 0)
        cs_fleet_fail(err, "the signed directory's header: %s", jerr.msg);
    return r;
}

int cs_fleet_open_signed(const uint8_t *data, size_t len, const uint8_t pk[CS_FLEET_PK_BYTES],
                         cs_directory **out, cs_fleet_err *err)
{
    _cleanup_free_ uint8_t *msg = NULL;
    const uint8_t *nl, *body;
    uint8_t signer[32];
    size_t header_len, body_len, msg_len;
    envelope e;
    int r;

    *out = NULL;
    if (len > CS_FLEET_MAX_SIGNED) {
        cs_fleet_fail(err, "the signed directory is larger than %u bytes", CS_FLEET_MAX_SIGNED);
        return -EBADMSG;
    }
    nl = memchr(data, '\n', len < HEADER_MAX ? len : HEADER_MAX);
    if (!nl) {
        cs_fleet_fail(err, "the signed directory has no header line (truncated or not a directory)");
        return -EBADMSG;
    }
    header_len = (size_t)(nl - data);
    body = nl + 1;
    body_len = len - header_len - 1;
    if ((r = read_envelope(data, header_len, &e, err)) < 0)
        return r;
    if ((uint64_t)e.body_bytes != body_len) {
        cs_fleet_fail(err, "the signed directory's body has %zu bytes, its header says %lld (truncated?)",
                      body_len, (long long)e.body_bytes);
        return -EBADMSG;
    }
    r = signed_message(body, body_len, &msg, &msg_len);
    if (r < 0)
        return r;
    if (crypto_sign_verify_detached(e.sig, msg, msg_len, pk) != 0) {
        if (e.key[0] && cs_fleet_decode_key(e.key, signer) == 0 && sodium_memcmp(signer, pk, 32) != 0)
            cs_fleet_fail(err, "the directory is signed by another key than this machine's fleet key "
                               "(check /etc/cloudseal/fleet.pub)");
        else
            cs_fleet_fail(err, "the directory's signature does not verify: it was altered or corrupted");
        return -EKEYREJECTED;
    }
    return cs_directory_from_json((const char *)body, body_len, CS_DIR_BODY, out, err);
}
