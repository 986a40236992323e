/* The signed directory envelope (the object at fleet/directory).
 *
 *   {"format": "cloudseal-signed-directory", "version": 1,
 *    "key": base64(fleet public key), "body": base64(body JSON bytes),
 *    "signature": base64(Ed25519(DOMAIN || body bytes))}
 *
 * The signature covers the exact body bytes, so no JSON canonicalisation is
 * needed: the verifier checks the signature over the decoded bytes before it
 * parses a single field of the body.  DOMAIN separates these signatures from
 * anything else the fleet key might ever sign.
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

static char *to_b64(const uint8_t *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);

    if (s)
        sodium_bin2base64(s, n, data, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

int cs_fleet_sign(const cs_directory *d, const uint8_t *sk64, char **out, size_t *len)
{
    _cleanup_free_ char *body = NULL, *body_b64 = NULL, *sig_b64 = NULL;
    _cleanup_free_ uint8_t *msg = NULL;
    uint8_t sig[crypto_sign_BYTES];
    char pk_b64[48];
    size_t body_len, msg_len;
    int r, n;

    r = cs_directory_to_json(d, CS_DIR_BODY, &body, &body_len);
    if (r < 0)
        return r;
    r = signed_message((const uint8_t *)body, body_len, &msg, &msg_len);
    if (r < 0)
        return r;
    crypto_sign_detached(sig, NULL, msg, msg_len, sk64);
    body_b64 = to_b64((const uint8_t *)body, body_len);
    sig_b64 = to_b64(sig, sizeof(sig));
    if (!body_b64 || !sig_b64)
        return -ENOMEM;
    /* the public half of a libsodium secret key is its last 32 bytes */
    cs_fleet_encode_key(sk64 + 32, pk_b64);
    n = asprintf(out,
                 "{\"format\":\"" ENVELOPE_FORMAT "\",\"version\":1,\"key\":\"%s\",\n"
                 "\"signature\":\"%s\",\n\"body\":\"%s\"}\n",
                 pk_b64, sig_b64, body_b64);
    if (n < 0)
        return -ENOMEM;
    if (len)
        *len = (size_t)n;
    return 0;
}

static const char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int from_b64(const char *s, uint8_t **out, size_t *out_len)
{
    size_t n = strlen(s), max = n / 4 * 3 + 3;
    const char *end;

    *out = malloc(max + 1);
    if (!*out)
        return -ENOMEM;
    if (sodium_base642bin(*out, max, s, n, "\n", out_len, &end, sodium_base64_VARIANT_ORIGINAL) < 0 ||
        *end != '\0')
        return -EBADMSG;
    return 0;
}

int cs_fleet_open_signed(const uint8_t *data, size_t len, const uint8_t pk[CS_FLEET_PK_BYTES],
                         cs_directory **out, cs_fleet_err *err)
{
    struct json_object *root = NULL;
    struct json_tokener *tok = NULL;
    _cleanup_free_ uint8_t *body = NULL, *sig = NULL, *msg = NULL;
    const char *format, *body_b64, *sig_b64, *key_b64;
    uint8_t signer[32];
    size_t body_len = 0, sig_len = 0, msg_len;
    int r = -EBADMSG;

    if (len > CS_FLEET_MAX_SIGNED || len > INT_MAX || memchr(data, '\0', len)) {
        cs_fleet_fail(err, "the signed directory is larger than %u bytes or not text", CS_FLEET_MAX_SIGNED);
        return -EBADMSG;
    }
    tok = json_tokener_new_ex(4);
    if (!tok)
        return -ENOMEM;
    root = json_tokener_parse_ex(tok, (const char *)data, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(root, json_type_object)) {
        cs_fleet_fail(err, "the signed directory is not a JSON object (truncated or corrupt)");
        goto out;
    }
    format = get_str(root, "format");
    body_b64 = get_str(root, "body");
    sig_b64 = get_str(root, "signature");
    key_b64 = get_str(root, "key");
    if (!format || strcmp(format, ENVELOPE_FORMAT) != 0 || !body_b64 || !sig_b64) {
        cs_fleet_fail(err, "the signed directory lacks format, body or signature");
        goto out;
    }
    if (from_b64(sig_b64, &sig, &sig_len) < 0 || sig_len != crypto_sign_BYTES ||
        from_b64(body_b64, &body, &body_len) < 0) {
        cs_fleet_fail(err, "the signed directory's body or signature is not valid base64");
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
    if (root)
        json_object_put(root);
    json_tokener_free(tok);
    return r;
}
