# SPDX-License-Identifier: MIT
"""lib/crypto/fido2.c through the real libfido2, against the software
authenticator (build/tests/fido2-tool): every errno of the fido2.h contract."""
import json
import os
import time

import pytest

PIN = "4711-cs"


def salt():
    return os.urandom(32).hex()


@pytest.mark.parametrize("protocols", ["1", "2"])
def test_same_salt_same_secret_other_salt_other_secret(keys, protocols):
    keys.plug(protocols=protocols)
    cred, pin_set, uv = keys.make_credential()
    assert not pin_set and not uv
    s = salt()
    a, err, _ = keys.hmac_secret(cred, s, "up")
    assert err is None and len(a) == 64
    b, _, _ = keys.hmac_secret(cred, s, "up")
    c, _, _ = keys.hmac_secret(cred, salt(), "up")
    assert a == b != c


def test_secret_is_bound_to_the_relying_party(keys):
    keys.plug()
    cred, _, _ = keys.make_credential(rp="cloudseal:" + "11" * 32)
    _, err, _ = keys.hmac_secret(cred, salt(), "up", rp="cloudseal:" + "22" * 32)
    assert err == "ENOKEY"


def test_another_authenticator_is_enokey(keys):
    a = keys.plug("a")
    cred, _, _ = keys.make_credential()
    a.unplug()
    keys.plug("b")
    _, err, _ = keys.hmac_secret(cred, salt(), "up")
    assert err == "ENOKEY"


def test_silent_probe_touches_only_the_holder(keys):
    """Two keys plugged in: the one without the credential is asked with
    up=false only, never for a touch."""
    a = keys.plug("a", touch="file")
    b = keys.plug("b", touch="file")
    a.unplug()
    p = keys.tool("make-credential", "cloudseal:" + "ab" * 32, "alice", background=True)
    b.wait_event("up-needed")
    b.touch()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    cred = out.split()[0]
    a = keys.plug("a", touch="file", secret=json.loads(a.state.read_text())["secret"])
    s = salt()
    p = keys.tool("hmac-secret", "cloudseal:" + "ab" * 32, cred, "up", background=True)
    p.stdin.write(s + "\n")
    p.stdin.flush()
    b.wait_event("up-needed", count=2)
    b.touch()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert any("getAssertion up=0 no-credential" in e for e in a.events())
    assert not any("up-needed" in e or "up=1" in e for e in a.events())


def test_several_keys_enrolment_uses_the_touched_one(keys):
    a = keys.plug("a", touch="file")
    b = keys.plug("b", touch="file")
    p = keys.tool("make-credential", "cloudseal:" + "ab" * 32, "alice", background=True)
    a.wait_event("up-needed")
    b.wait_event("up-needed")
    b.touch()                       # the selecting touch
    b.wait_event("up-needed", count=2)
    b.touch()                       # the one that makes the credential
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "touch the one to use" in err
    a.wait_event("cancelled")
    assert not any("makeCredential" in e for e in a.events())
    a.unplug()
    b.touch_file.touch()            # b answers the unlock's touch at once
    secret, e, _ = keys.hmac_secret(out.split()[0], salt(), "up")
    assert e is None and secret


def test_pin_makes_uv_and_gives_its_own_secret(keys):
    keys.plug(pin=PIN)
    cred, pin_set, uv = keys.make_credential(pin=PIN)
    assert pin_set and uv
    s = salt()
    with_pin, err, out = keys.hmac_secret(cred, s, "up", "pin", pin=PIN)
    assert err is None and "notify: PIN asked" in out
    without, err, out = keys.hmac_secret(cred, s, "up")
    assert err is None and "PIN asked" not in out
    # CTAP 2.1: one CredRandom with, one without user verification
    assert with_pin != without
    assert keys.hmac_secret(cred, s, "up", "pin", pin=PIN)[0] == with_pin


def test_enrolment_on_a_key_with_pin_needs_the_pin(keys):
    keys.plug(pin=PIN)
    r = keys.tool("make-credential", "cloudseal:" + "ab" * 32, "alice")
    assert r.returncode == 1 and "error: ENOPKG" in r.stderr


def test_pin_flag_on_a_key_without_pin_is_enotsup(keys):
    keys.plug()
    cred, _, _ = keys.make_credential()
    _, err, _ = keys.hmac_secret(cred, salt(), "up", "pin", pin=PIN)
    assert err == "ENOTSUP"


def test_wrong_pin_is_eacces_and_counts(keys):
    k = keys.plug(pin=PIN)
    cred, _, _ = keys.make_credential(pin=PIN)
    _, err, _ = keys.hmac_secret(cred, salt(), "up", "pin", pin="0000-wrong")
    assert err == "EACCES"
    assert k.retries() == 7
    _, err, _ = keys.hmac_secret(cred, salt(), "up", "pin")      # no PIN given
    assert err == "ENOPKG"


def test_blocked_pin_is_eperm_without_asking(keys):
    k = keys.plug(pin=PIN)
    cred, _, _ = keys.make_credential(pin=PIN)
    k.unplug()
    k = keys.plug(pin=PIN, secret=json.loads(k.state.read_text())["secret"], retries=1)
    _, err, _ = keys.hmac_secret(cred, salt(), "up", "pin", pin="0000-wrong")
    assert err == "EPERM"               # the last retry used up
    assert k.retries() == 0
    _, err, out = keys.hmac_secret(cred, salt(), "up", "pin", pin=PIN)
    assert err == "EPERM" and "PIN asked" not in out


def test_no_touch_is_etimedout_within_the_bound(keys):
    k = keys.plug()
    cred, _, _ = keys.make_credential()
    k.unplug()
    k = keys.plug(touch="never", secret=json.loads(k.state.read_text())["secret"])
    start = time.monotonic()
    _, err, _ = keys.hmac_secret(cred, salt(), "up", timeout_ms=1500)
    took = time.monotonic() - start
    assert err == "ETIMEDOUT"
    assert took >= 1.4
    assert took < 1.5 + 30          # the bound plus start-up on a busy machine
    k.wait_event("cancelled")       # the key was told to stop waiting


def test_no_device_is_enodev(keys):
    assert keys.tool("present").returncode == 1
    r = keys.tool("make-credential", "cloudseal:" + "ab" * 32, "alice")
    assert "error: ENODEV" in r.stderr
    _, err, _ = keys.hmac_secret("01" * 61, salt(), "up")
    assert err == "ENODEV"
    keys.plug()
    assert keys.tool("present").returncode == 0


def test_no_hmac_secret_is_enotsup(keys):
    keys.plug(hmac_secret=False)
    r = keys.tool("make-credential", "cloudseal:" + "ab" * 32, "alice")
    assert "error: ENOTSUP" in r.stderr


def test_silent_assertion_without_touch(keys):
    """Without CS_FIDO2_UP no touch is asked (a policy's choice)."""
    k = keys.plug()
    cred, _, _ = keys.make_credential()
    k.unplug()
    k = keys.plug(touch="never", secret=json.loads(k.state.read_text())["secret"])
    secret, err, out = keys.hmac_secret(cred, salt())
    assert err is None and "Touch" not in out
