/* SPDX-License-Identifier: MIT */
/* TEST ONLY: drives lib/crypto/fido2.c from the pytest suite (linked with
 * tests/fido2/soft_transport.c, so it talks to the software authenticator).
 *
 *   fido2-tool present                      exit 0 when a key is plugged in
 *   fido2-tool make-credential RP USER      prints "CREDHEX PIN_SET UV"
 *   fido2-tool hmac-secret RP CREDHEX [up] [pin]
 *                                           reads the salt (64 hex) on stdin,
 *                                           prints the secret in hex
 * Options before the verb: --pin-file F (the PIN, mode 0600), --timeout-ms N.
 * Notifications go to stderr as "notify: TEXT"; a failure prints the errno
 * name ("error: ENOKEY") on stderr and exits 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/fido2.h"
#include "util/macros.h"

static const char *pin_file;

static int ask_pin(void *userdata, cs_secret **pin)
{
    fprintf(stderr, "notify: PIN asked\n");
    return cs_secret_read_file(pin_file, "security key PIN", pin);
}

static void notify(void *userdata, const char *message)
{
    fprintf(stderr, "notify: %s\n", message);
}

static int unhex(const char *s, uint8_t *out, size_t max, size_t *len)
{
    size_t n = strlen(s);

    if (n % 2 || n / 2 > max)
        return -EINVAL;
    for (size_t i = 0; i < n / 2; i++)
        if (sscanf(s + 2 * i, "%2hhx", &out[i]) != 1)
            return -EINVAL;
    *len = n / 2;
    return 0;
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static int do_make(char **argv, const cs_fido2_ui *ui)
{
    uint8_t user_id[32] = { 1 };
    cs_fido2_credential c;
    int r = cs_fido2_make_credential(argv[0], argv[1], user_id, ui, &c);

    if (r < 0)
        return r;
    print_hex(c.id, c.id_len);
    printf(" %d %d\n", c.pin_set, c.uv);
    return 0;
}

static int do_hmac(int argc, char **argv, const cs_fido2_ui *ui)
{
    uint8_t cred[CS_FIDO2_CRED_ID_MAX], salt[CS_FIDO2_SALT_BYTES];
    char line[2 * CS_FIDO2_SALT_BYTES + 2];
    _cleanup_secret_ cs_secret *out = NULL;
    size_t cred_len, salt_len;
    unsigned flags = 0;
    int r;

    for (int i = 2; i < argc; i++)
        flags |= strcmp(argv[i], "up") == 0 ? CS_FIDO2_UP : strcmp(argv[i], "pin") == 0 ? CS_FIDO2_PIN : 0;
    if (unhex(argv[1], cred, sizeof(cred), &cred_len) < 0 || !fgets(line, sizeof(line), stdin))
        return -EINVAL;
    line[strcspn(line, "\n")] = 0;
    if (unhex(line, salt, sizeof(salt), &salt_len) < 0 || salt_len != sizeof(salt))
        return -EINVAL;
    r = cs_fido2_hmac_secret(argv[0], cred, cred_len, salt, flags, ui, &out);
    if (r < 0)
        return r;
    print_hex((const uint8_t *)out->data, out->len);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    cs_fido2_ui ui = { .ask_pin = ask_pin, .notify = notify };
    int r = -EINVAL;

    setvbuf(stderr, NULL, _IOLBF, 0);
    for (argc--, argv++; argc >= 2 && strncmp(argv[0], "--", 2) == 0; argc -= 2, argv += 2) {
        if (strcmp(argv[0], "--pin-file") == 0)
            pin_file = argv[1];     /* without it no ask_pin: -ENOPKG when a PIN is needed */
        else if (strcmp(argv[0], "--timeout-ms") == 0)
            ui.timeout_ms = atoi(argv[1]);
    }
    if (!pin_file)
        ui.ask_pin = NULL;
    if (argc == 1 && strcmp(argv[0], "present") == 0)
        return cs_fido2_present() ? 0 : 1;
    if (argc == 3 && strcmp(argv[0], "make-credential") == 0)
        r = do_make(argv + 1, &ui);
    else if (argc >= 3 && strcmp(argv[0], "hmac-secret") == 0)
        r = do_hmac(argc - 1, argv + 1, &ui);
    if (r < 0) {
        /* ENOTSUP is EOPNOTSUPP on Linux: print the contract's name */
        fprintf(stderr, "error: %s\n", r == -ENOTSUP ? "ENOTSUP" : strerrorname_np(-r));
        return 1;
    }
    return 0;
}
