/* SPDX-License-Identifier: MIT */
/* Security keys through libfido2: make a credential with hmac-secret, get
 * the hmac-secret output back (the contract is in fido2.h).
 *
 * Several keys may be plugged in.  Enrolment asks the user to touch the one
 * to use (fido_dev_get_touch_begin on each); unlocking first asks every key
 * silently (up=false, no touch) whether it holds the credential, then only
 * that one for the touch, so the user never touches the wrong key.
 *
 * fido_init() is never called: all it does is turn on libfido2's debug log
 * (hex dumps of the traffic) when $FIDO_DEBUG is set, which a secret-holding
 * program must not let its environment decide. */
#include <errno.h>
#include <fido.h>
#include <string.h>
#include <time.h>

#include "crypto/fido2.h"
#include "util/log.h"
#include "util/macros.h"

#define DEV_MAX 16              /* keys looked at; more plugged in are ignored */
#define PROBE_TIMEOUT_MS 5000   /* a silent question needs no touch */
#define SELECT_POLL_MS 100      /* poll interval while waiting for the selecting touch */

const cs_fido2_devsource *cs_fido2_devsource_override;

/* libfido2's answer (a CTAP status or one of its own) as the contract's errno. */
static int fido_errno(int fr)
{
    switch (fr) {
    case FIDO_OK: return 0;
    case FIDO_ERR_NO_CREDENTIALS: case FIDO_ERR_INVALID_CREDENTIAL: return -ENOKEY;
    case FIDO_ERR_UNSUPPORTED_EXTENSION: case FIDO_ERR_UNSUPPORTED_OPTION:
    case FIDO_ERR_UNSUPPORTED_ALGORITHM: case FIDO_ERR_PIN_NOT_SET: return -ENOTSUP;
    case FIDO_ERR_PIN_INVALID: case FIDO_ERR_PIN_AUTH_INVALID: return -EACCES;
    case FIDO_ERR_PIN_BLOCKED: case FIDO_ERR_PIN_AUTH_BLOCKED: case FIDO_ERR_OPERATION_DENIED:
    case FIDO_ERR_UV_BLOCKED: case FIDO_ERR_UV_INVALID: case FIDO_ERR_NOT_ALLOWED: return -EPERM;
    case FIDO_ERR_PIN_REQUIRED: return -ENOPKG;
    case FIDO_ERR_USER_ACTION_TIMEOUT: case FIDO_ERR_ACTION_TIMEOUT: case FIDO_ERR_TIMEOUT:
    case FIDO_ERR_KEEPALIVE_CANCEL: return -ETIMEDOUT;
    case FIDO_ERR_INVALID_ARGUMENT: return -EINVAL;
    case FIDO_ERR_RX_NOT_CBOR: case FIDO_ERR_RX_INVALID_CBOR: case FIDO_ERR_INVALID_CBOR:
    case FIDO_ERR_CBOR_UNEXPECTED_TYPE: case FIDO_ERR_INVALID_PARAM: case FIDO_ERR_INVALID_SIG:
        return -EPROTO;
    case FIDO_ERR_TX: case FIDO_ERR_RX: return -EIO;
    default: return -EIO;
    }
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int ui_timeout(const cs_fido2_ui *ui)
{
    return ui && ui->timeout_ms > 0 ? ui->timeout_ms : 30000;
}

static void ui_notify(const cs_fido2_ui *ui, const char *message)
{
    if (ui && ui->notify)
        ui->notify(ui->userdata, message);
}

/* libfido2 reports a read that timed out as a plain receive error: when the
 * time is up, that was the user not touching the key (and the key is told
 * to stop waiting). */
static int touch_result(fido_dev_t *dev, int fr, long started, int timeout_ms)
{
    int r = fido_errno(fr);

    if (r == -EIO && now_ms() - started >= timeout_ms - 50)
        r = -ETIMEDOUT;
    if (r == -ETIMEDOUT)
        (void) fido_dev_cancel(dev);
    return r;
}

static void dev_closep(fido_dev_t **d)
{
    if (*d) {
        (void) fido_dev_close(*d);
        fido_dev_free(d);
    }
}
#define _cleanup_dev_ __attribute__((cleanup(dev_closep)))

typedef struct devlist {
    fido_dev_info_t *info;
    size_t n;
} devlist;

static void devlist_done(devlist *l)
{
    fido_dev_info_free(&l->info, DEV_MAX);
}

static int devlist_get(devlist *l)
{
    const cs_fido2_devsource *src = cs_fido2_devsource_override;
    int fr;

    l->n = 0;
    l->info = fido_dev_info_new(DEV_MAX);
    if (!l->info)
        return -ENOMEM;
    fr = src ? src->manifest(l->info, DEV_MAX, &l->n) : fido_dev_info_manifest(l->info, DEV_MAX, &l->n);
    if (fr != FIDO_OK) {
        devlist_done(l);
        return log_debug_errno(fido_errno(fr), "listing security keys failed (%s)", fido_strerr(fr));
    }
    if (l->n == 0) {
        devlist_done(l);
        return -ENODEV;
    }
    return 0;
}

static int dev_open(const char *path, fido_dev_t **out)
{
    const cs_fido2_devsource *src = cs_fido2_devsource_override;
    _cleanup_dev_ fido_dev_t *dev = fido_dev_new();
    int fr;

    if (!dev)
        return -ENOMEM;
    if (src && (fr = fido_dev_set_io_functions(dev, (const fido_dev_io_t *)src->io)) != FIDO_OK)
        return fido_errno(fr);
    fr = fido_dev_open(dev, path);
    if (fr != FIDO_OK) {
        fido_dev_free(&dev);
        return log_debug_errno(-ENODEV, "security key %s did not answer (%s)", path, fido_strerr(fr));
    }
    if (!fido_dev_is_fido2(dev))
        return -ENOTSUP;        /* a U2F-only key has no hmac-secret */
    *out = CS_TAKE_PTR(dev);
    return 0;
}

static bool dev_has_hmac_secret(fido_dev_t *dev)
{
    fido_cbor_info_t *ci = fido_cbor_info_new();
    bool found = false;

    if (ci && fido_dev_get_cbor_info(dev, ci) == FIDO_OK) {
        char *const *ext = fido_cbor_info_extensions_ptr(ci);
        for (size_t i = 0; i < fido_cbor_info_extensions_len(ci); i++)
            found |= strcmp(ext[i], "hmac-secret") == 0;
    }
    fido_cbor_info_free(&ci);
    return found;
}

/* Asks the user for the key's PIN, unless the key already says it is
 * blocked (no point in asking then). */
static int dev_ask_pin(fido_dev_t *dev, const cs_fido2_ui *ui, cs_secret **pin)
{
    int retries = -1;

    if (fido_dev_get_retry_count(dev, &retries) == FIDO_OK && retries == 0)
        return -EPERM;
    if (!ui || !ui->ask_pin)
        return -ENOPKG;
    return ui->ask_pin(ui->userdata, pin);
}

static int fill_random(uint8_t *buf, size_t len)
{
    return getentropy(buf, len) < 0 ? -errno : 0;
}

/* The keys that can hold a cloudseal credential, opened; -ENODEV when none
 * is plugged in, -ENOTSUP when those that are cannot do hmac-secret. */
static int open_capable(fido_dev_t *devs[DEV_MAX], size_t *n_out)
{
    devlist l = {0};
    size_t n = 0;
    int r, seen = 0;

    r = devlist_get(&l);
    if (r < 0)
        return r;
    for (size_t i = 0; i < l.n; i++) {
        fido_dev_t *dev = NULL;
        if (dev_open(fido_dev_info_path(fido_dev_info_ptr(l.info, i)), &dev) == -ENODEV)
            continue;
        seen++;
        if (dev && dev_has_hmac_secret(dev))
            devs[n++] = dev;
        else
            dev_closep(&dev);
    }
    devlist_done(&l);
    *n_out = n;
    return n > 0 ? 0 : seen > 0 ? -ENOTSUP : -ENODEV;
}

static void close_all(fido_dev_t *devs[DEV_MAX], size_t n, const fido_dev_t *keep)
{
    for (size_t i = 0; i < n; i++)
        if (devs[i] != keep)
            dev_closep(&devs[i]);
}

/* Several capable keys: the one the user touches first. */
static int select_touched(fido_dev_t *devs[DEV_MAX], size_t n, const cs_fido2_ui *ui, fido_dev_t **out)
{
    long started = now_ms();
    int timeout = ui_timeout(ui);

    ui_notify(ui, "Several security keys are plugged in: touch the one to use.");
    for (size_t i = 0; i < n; i++)
        if (fido_dev_get_touch_begin(devs[i]) != FIDO_OK)
            return -EIO;
    while (now_ms() - started < timeout) {
        for (size_t i = 0; i < n; i++) {
            int touched = 0;
            if (fido_dev_get_touch_status(devs[i], &touched, SELECT_POLL_MS) != FIDO_OK || !touched)
                continue;
            for (size_t j = 0; j < n; j++)
                if (j != i)
                    (void) fido_dev_cancel(devs[j]);
            *out = devs[i];
            return 0;
        }
    }
    for (size_t i = 0; i < n; i++)
        (void) fido_dev_cancel(devs[i]);
    return -ETIMEDOUT;
}

static int cred_prepare(fido_cred_t *cred, const char *rp_id, const char *user_name, const uint8_t user_id[32])
{
    uint8_t cdh[32];
    int r = fill_random(cdh, sizeof(cdh));

    if (r < 0)
        return r;
    if (fido_cred_set_type(cred, COSE_ES256) != FIDO_OK ||
        fido_cred_set_clientdata_hash(cred, cdh, sizeof(cdh)) != FIDO_OK ||
        fido_cred_set_rp(cred, rp_id, "cloudseal") != FIDO_OK ||
        fido_cred_set_user(cred, user_id, 32, user_name, NULL, NULL) != FIDO_OK ||
        fido_cred_set_extensions(cred, FIDO_EXT_HMAC_SECRET) != FIDO_OK ||
        fido_cred_set_rk(cred, FIDO_OPT_FALSE) != FIDO_OK)
        return -EINVAL;
    return 0;
}

static int cred_make_on(fido_dev_t *dev, fido_cred_t *cred, const cs_fido2_ui *ui, cs_fido2_credential *out)
{
    _cleanup_secret_ cs_secret *pin = NULL;
    int timeout = ui_timeout(ui), r;
    long started;

    out->pin_set = fido_dev_has_pin(dev);
    if (out->pin_set && (r = dev_ask_pin(dev, ui, &pin)) < 0)
        return r;
    ui_notify(ui, "Touch your security key.");
    (void) fido_dev_set_timeout(dev, timeout);
    started = now_ms();
    r = touch_result(dev, fido_dev_make_cred(dev, cred, pin ? pin->data : NULL), started, timeout);
    if (r < 0)
        return r;
    if (fido_cred_id_len(cred) == 0 || fido_cred_id_len(cred) > CS_FIDO2_CRED_ID_MAX)
        return log_error_errno(-EPROTO, "The security key returned a credential id of %zu bytes",
                               fido_cred_id_len(cred));
    memcpy(out->id, fido_cred_id_ptr(cred), fido_cred_id_len(cred));
    out->id_len = fido_cred_id_len(cred);
    out->uv = pin != NULL;
    return 0;
}

int cs_fido2_make_credential(const char *rp_id, const char *user_name, const uint8_t user_id[32],
                             const cs_fido2_ui *ui, cs_fido2_credential *out)
{
    fido_dev_t *devs[DEV_MAX] = {0}, *dev = NULL;
    fido_cred_t *cred = NULL;
    size_t n = 0;
    int r;

    if (!rp_id || !user_name || !user_id || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    r = open_capable(devs, &n);
    if (r < 0)
        return r;
    if (n == 1)
        dev = devs[0];
    else if ((r = select_touched(devs, n, ui, &dev)) < 0)
        goto out;
    close_all(devs, n, dev);
    n = 0;
    cred = fido_cred_new();
    r = cred ? cred_prepare(cred, rp_id, user_name, user_id) : -ENOMEM;
    if (r >= 0)
        r = cred_make_on(dev, cred, ui, out);
    dev_closep(&dev);
out:
    close_all(devs, n, NULL);
    fido_cred_free(&cred);
    return r;
}

static int assert_prepare(fido_assert_t *as, const char *rp_id, const uint8_t *cred_id, size_t cred_id_len)
{
    uint8_t cdh[32];
    int r = fill_random(cdh, sizeof(cdh));

    if (r < 0)
        return r;
    if (fido_assert_set_rp(as, rp_id) != FIDO_OK ||
        fido_assert_set_clientdata_hash(as, cdh, sizeof(cdh)) != FIDO_OK ||
        fido_assert_allow_cred(as, cred_id, cred_id_len) != FIDO_OK)
        return -EINVAL;
    return 0;
}

/* Does this key hold the credential?  Asked without a touch (up=false) and
 * without the PIN: 0 yes, -ENOKEY no. */
static int dev_holds(fido_dev_t *dev, const char *rp_id, const uint8_t *cred_id, size_t cred_id_len)
{
    fido_assert_t *as = fido_assert_new();
    int r = as ? assert_prepare(as, rp_id, cred_id, cred_id_len) : -ENOMEM;

    if (r >= 0 && fido_assert_set_up(as, FIDO_OPT_FALSE) != FIDO_OK)
        r = -EINVAL;
    if (r >= 0) {
        (void) fido_dev_set_timeout(dev, PROBE_TIMEOUT_MS);
        r = fido_errno(fido_dev_get_assert(dev, as, NULL));
    }
    fido_assert_free(&as);
    return r;
}

/* The key among those plugged in that holds the credential. */
static int find_holder(const char *rp_id, const uint8_t *cred_id, size_t cred_id_len, fido_dev_t **out)
{
    fido_dev_t *devs[DEV_MAX] = {0};
    size_t n = 0;
    int r = open_capable(devs, &n), first_err = -ENOKEY;

    if (r < 0)
        return r;
    for (size_t i = 0; i < n && !*out; i++) {
        r = dev_holds(devs[i], rp_id, cred_id, cred_id_len);
        if (r == 0)
            *out = devs[i];
        else if (r != -ENOKEY && first_err == -ENOKEY)
            first_err = r;
    }
    close_all(devs, n, *out);
    return *out ? 0 : first_err;
}

static int assert_secret(fido_assert_t *as, cs_secret **out)
{
    _cleanup_secret_ cs_secret *s = NULL;
    int r;

    if (fido_assert_count(as) != 1 || fido_assert_hmac_secret_len(as, 0) != CS_FIDO2_SECRET_BYTES)
        return log_error_errno(-ENOTSUP, "The security key gave no hmac-secret output");
    r = cs_secret_new(&s);
    if (r < 0)
        return r;
    r = cs_secret_set(s, (const char *)fido_assert_hmac_secret_ptr(as, 0), CS_FIDO2_SECRET_BYTES);
    if (r < 0)
        return r;
    *out = CS_TAKE_PTR(s);
    return 0;
}

static int assert_on(fido_dev_t *dev, fido_assert_t *as, unsigned flags, const cs_fido2_ui *ui, cs_secret **out)
{
    _cleanup_secret_ cs_secret *pin = NULL;
    int timeout = ui_timeout(ui), r;
    long started;

    if (flags & CS_FIDO2_PIN) {
        if (!fido_dev_has_pin(dev))
            return log_error_errno(-ENOTSUP, "This credential needs the security key's PIN, "
                                   "but the key has none set");
        r = dev_ask_pin(dev, ui, &pin);
        if (r < 0)
            return r;
    }
    if (fido_assert_set_up(as, flags & CS_FIDO2_UP ? FIDO_OPT_TRUE : FIDO_OPT_FALSE) != FIDO_OK)
        return -EINVAL;
    if (flags & CS_FIDO2_UP)
        ui_notify(ui, "Touch your security key.");
    (void) fido_dev_set_timeout(dev, timeout);
    started = now_ms();
    r = touch_result(dev, fido_dev_get_assert(dev, as, pin ? pin->data : NULL), started, timeout);
    return r < 0 ? r : assert_secret(as, out);
}

int cs_fido2_hmac_secret(const char *rp_id, const uint8_t *cred_id, size_t cred_id_len,
                         const uint8_t salt[CS_FIDO2_SALT_BYTES], unsigned flags,
                         const cs_fido2_ui *ui, cs_secret **out)
{
    fido_dev_t *dev = NULL;
    fido_assert_t *as = NULL;
    int r;

    if (!rp_id || !cred_id || cred_id_len == 0 || cred_id_len > CS_FIDO2_CRED_ID_MAX || !salt || !out ||
        (flags & ~(unsigned)(CS_FIDO2_UP | CS_FIDO2_PIN)))
        return -EINVAL;
    r = find_holder(rp_id, cred_id, cred_id_len, &dev);
    if (r < 0)
        return r;
    as = fido_assert_new();
    r = as ? assert_prepare(as, rp_id, cred_id, cred_id_len) : -ENOMEM;
    if (r >= 0 && (fido_assert_set_extensions(as, FIDO_EXT_HMAC_SECRET) != FIDO_OK ||
                   fido_assert_set_hmac_salt(as, salt, CS_FIDO2_SALT_BYTES) != FIDO_OK))
        r = -EINVAL;
    if (r >= 0)
        r = assert_on(dev, as, flags, ui, out);
    fido_assert_free(&as);
    dev_closep(&dev);
    return r;
}

bool cs_fido2_present(void)
{
    devlist l = {0};
    bool present;

    present = devlist_get(&l) == 0;
    if (present)
        devlist_done(&l);
    return present;
}
