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
    n = asprintf(&header,
                 "{\"format\":\"" ENVELOPE_FORMAT "\",\"version\":1,\"key\":\"%s\",\"signature\":\"%s\","
                 "\"body_bytes\":%zu}\n",
                 pk_b64, sig_b64, body_len);
    if (n < 0)
        return -ENOMEM;
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

static const char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int cs_fleet_open_signed(const uint8_t *data, size_t len, const uint8_t pk[CS_FLEET_PK_BYTES],
                         cs_directory **out, cs_fleet_err *err)
{
    struct json_object *header = NULL, *v;
    struct json_tokener *tok = NULL;
    _cleanup_free_ uint8_t *msg = NULL;
    const char *format, *sig_b64, *key_b64;
    const uint8_t *nl, *body;
    uint8_t sig[crypto_sign_BYTES + 1], signer[32];
    size_t header_len, body_len, sig_len = 0, msg_len;
    int64_t declared;
    int r = -EBADMSG;

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
    tok = json_tokener_new_ex(2);
    if (!tok)
        return -ENOMEM;
    header = json_tokener_parse_ex(tok, (const char *)data, (int)header_len);
    if (!header || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != header_len || !json_object_is_type(header, json_type_object)) {
        cs_fleet_fail(err, "the signed directory's header is not a JSON object");
        goto out;
    }
    format = get_str(header, "format");
    sig_b64 = get_str(header, "signature");
    key_b64 = get_str(header, "key");
    if (!format || strcmp(format, ENVELOPE_FORMAT) != 0 || !sig_b64 ||
        !json_object_object_get_ex(header, "body_bytes", &v) || !json_object_is_type(v, json_type_int)) {
        cs_fleet_fail(err, "the signed directory's header lacks format, signature or body_bytes");
        goto out;
    }
    declared = json_object_get_int64(v);
    if (declared < 0 || (uint64_t)declared != body_len) {
        cs_fleet_fail(err, "the signed directory's body has %zu bytes, its header says %lld (truncated?)",
                      body_len, (long long)declared);
        goto out;
    }
    if (sodium_base642bin(sig, sizeof(sig), sig_b64, strlen(sig_b64), NULL, &sig_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) < 0 || sig_len != crypto_sign_BYTES) {
        cs_fleet_fail(err, "the signed directory's signature is not valid base64");
        goto out;
    }
    r = signed_message(body, body_len, &msg, &msg_len);
    if (r < 0)
        goto out;
    if (crypto_sign_verify_detached(sig, msg, msg_len, pk) != 0) {
        if (key_b64 && cs_fleet_decode_key(key_b64, signer) == 0 && sodium_memcmp(signer, pk, 32) != 0)
            cs_fleet_fail(err, "the directory is signed by another key than this machine's fleet key "
                               "(check /etc/cloudseal/fleet.pub)");
        else
            cs_fleet_fail(err, "the directory's signature does not verify: it was altered or corrupted");
        r = -EKEYREJECTED;
        goto out;
    }
    r = cs_directory_from_json((const char *)body, body_len, CS_DIR_BODY, out, err);
out:
    if (header)
        json_object_put(header);
    json_tokener_free(tok);
    return r;
}
