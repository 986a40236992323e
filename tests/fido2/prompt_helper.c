/* SPDX-License-Identifier: MIT */
/* TEST ONLY: a stand-in for cloudseal-helper that pam_cloudseal.so execs
 * (helper=build/tests/fido2-prompt-helper) to exercise the prompt wire end to
 * end: the module's conversation relay, helper/priv/ui.c, lib/crypto/fido2.c
 * and the software authenticator (linked with tests/fido2/soft_transport.c).
 *
 * It takes the module's command line (... COMMAND --user NAME [ARGS]), reads
 * the frames the module sends (two with --previous, else one), then asks the
 * key for the hmac-secret described by DIR/prompt-job.json ({"rp", "cred",
 * "salt" in hex, "pin": bool}) through the PAM conversation, writes
 * "ok HEX" or "error ENAME" to DIR/prompt-result and exits 11 (not enrolled:
 * the module logs it and the login goes on).  DIR is the soft transport's
 * directory ($CLOUDSEAL_TEST_FIDO2_DIR or /run/cloudseal-test-fido2). */
#include <errno.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../helper/priv/helper.h"
#include "../../helper/priv/ui.h"

static char dir[256];

static int hex(json_object *job, const char *key, uint8_t *out, size_t max, size_t *len)
{
    json_object *v;
    const char *s;

    if (!json_object_object_get_ex(job, key, &v) || !(s = json_object_get_string(v)) ||
        sodium_hex2bin(out, max, s, strlen(s), NULL, len, NULL) < 0)
        return -EINVAL;
    return 0;
}

static int run_job(cs_secret **secret)
{
    uint8_t cred[CS_FIDO2_CRED_ID_MAX], salt[CS_FIDO2_SALT_BYTES];
    size_t cred_len, salt_len;
    char path[300];
    json_object *job, *rp, *pin;
    cs_fido2_ui ui;
    int r;

    snprintf(path, sizeof(path), "%s/prompt-job.json", dir);
    job = json_object_from_file(path);
    if (!job)
        return -ENOENT;
    r = hex(job, "cred", cred, sizeof(cred), &cred_len);
    if (r == 0)
        r = hex(job, "salt", salt, sizeof(salt), &salt_len);
    if (r == 0 && (salt_len != sizeof(salt) || !json_object_object_get_ex(job, "rp", &rp)))
        r = -EINVAL;
    if (r == 0) {
        helper_fido2_ui(&ui, 5000);
        r = cs_fido2_hmac_secret(json_object_get_string(rp), cred, cred_len, salt,
                                 CS_FIDO2_UP | (json_object_object_get_ex(job, "pin", &pin) &&
                                                json_object_get_boolean(pin) ? CS_FIDO2_PIN : 0),
                                 &ui, secret);
    }
    json_object_put(job);
    return r;
}

int main(int argc, char **argv)
{
    _cleanup_secret_ cs_secret *frame = NULL, *secret = NULL;
    const char *e = getenv("CLOUDSEAL_TEST_FIDO2_DIR");
    bool previous = false;
    char path[300];
    FILE *f;
    int r;

    snprintf(dir, sizeof(dir), "%s", e && *e ? e : "/run/cloudseal-test-fido2");
    for (int i = 1; i < argc; i++)
        previous |= strcmp(argv[i], "--previous") == 0;
    for (int i = 0; i < (previous ? 2 : 1); i++) {
        cs_secret_freep(&frame);
        frame = NULL;
        if (helper_read_secret(STDIN_FILENO, &frame) < 0)
            return CS_HELPER_USAGE;
    }
    r = run_job(&secret);
    snprintf(path, sizeof(path), "%s/prompt-result", dir);
    f = fopen(path, "we");
    if (!f)
        return CS_HELPER_INTERNAL;
    if (r < 0) {
        fprintf(f, "error %s\n", r == -ENOTSUP ? "ENOTSUP" : strerrorname_np(-r));
    } else {
        fprintf(f, "ok ");
        for (size_t i = 0; i < secret->len; i++)
            fprintf(f, "%02x", (uint8_t)secret->data[i]);
        fprintf(f, "\n");
    }
    fclose(f);
    return CS_HELPER_NOT_ENROLLED;
}
