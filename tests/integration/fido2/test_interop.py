# SPDX-License-Identifier: MIT
"""The software authenticator is not tuned to our client: Debian's
python3-fido2 (its own CBOR with strict canonical checks, Ctap2, ClientPin,
PIN protocols, hmac-secret extension) talks to the same authenticator, and
both clients compute the same hmac-secret for the same credential and salt.

libfido2's own tools (fido2-token, fido2-cred, fido2-assert) open hidraw
devices only, and this kernel has no uhid to make one: they cannot reach
the software authenticator, so python3-fido2 is the second client."""
import os

import pytest

RP = "cloudseal:" + "cd" * 32
PIN = "4711-cs"


def protocol(version):
    from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2
    return {1: PinProtocolV1, 2: PinProtocolV2}[version]()


def py_make_credential(ctap, pin_token=None, proto=None):
    from fido2.attestation import PackedAttestation
    cdh = os.urandom(32)
    kw = {}
    if pin_token:
        kw = dict(pin_uv_param=proto.authenticate(pin_token, cdh), pin_uv_protocol=proto.VERSION)
    att = ctap.make_credential(cdh, {"id": RP, "name": "cloudseal"}, {"id": b"\1" * 32, "name": "alice"},
                               [{"type": "public-key", "alg": -7}], extensions={"hmac-secret": True}, **kw)
    PackedAttestation().verify(att.att_statement, att.auth_data, cdh)     # self attestation holds
    assert att.auth_data.extensions == {"hmac-secret": True}
    return att.auth_data.credential_data


def py_hmac_secret(ctap, cred_id, salt, version, pin_token=None, public_key=None):
    from fido2.ctap2.extensions import HmacSecretExtension
    proto = protocol(version)
    ext = HmacSecretExtension(ctap, pin_protocol=proto)
    inp = ext.process_get_input({"hmacGetSecret": {"salt1": salt}})
    cdh = os.urandom(32)
    kw = {}
    if pin_token:
        kw = dict(pin_uv_param=proto.authenticate(pin_token, cdh), pin_uv_protocol=version)
    resp = ctap.get_assertion(RP, cdh, allow_list=[{"type": "public-key", "id": cred_id}],
                              extensions={"hmac-secret": inp}, options={"up": True}, **kw)
    if public_key is not None:
        resp.verify(cdh, public_key)
    assert resp.auth_data.flags & 0x01     # user present
    return ext.process_get_output(resp.auth_data)["hmacGetSecret"]["output1"].hex()


@pytest.mark.parametrize("version", [1, 2])
def test_python_fido2_credential_our_client_same_secret(keys, ctap2, version):
    from fido2.cose import CoseKey
    k = keys.plug(protocols="2,1")
    ctap = ctap2(k)
    assert "hmac-secret" in ctap.info.extensions
    cred = py_make_credential(ctap)
    salt = os.urandom(32)
    theirs = py_hmac_secret(ctap, cred.credential_id, salt, version,
                            public_key=CoseKey.parse(cred.public_key))
    ours, err, _ = keys.hmac_secret(cred.credential_id.hex(), salt.hex(), "up", rp=RP)
    assert err is None
    assert ours == theirs


@pytest.mark.parametrize("version", [1, 2])
def test_our_credential_python_fido2_same_secret(keys, ctap2, version):
    k = keys.plug(protocols="2,1")
    cred, _, _ = keys.make_credential(rp=RP)
    salt = os.urandom(32)
    ours, err, _ = keys.hmac_secret(cred, salt.hex(), "up", rp=RP)
    assert err is None
    assert py_hmac_secret(ctap2(k), bytes.fromhex(cred), salt, version) == ours


def test_pin_set_by_python_fido2_used_by_our_client(keys, ctap2):
    """python-fido2 sets the PIN (clientPin setPIN) and gets a token;
    user-verified secrets agree between the clients, and differ from the
    unverified one."""
    from fido2.ctap2.pin import ClientPin
    k = keys.plug(protocols="1")
    ctap = ctap2(k)
    cp = ClientPin(ctap, protocol(1))
    cp.set_pin(PIN)
    ctap = ctap2(k)                  # getInfo again: clientPin is now true
    assert ctap.info.options["clientPin"] is True
    cp = ClientPin(ctap, protocol(1))
    assert cp.get_pin_retries()[0] == 8
    cred = py_make_credential(ctap, cp.get_pin_token(PIN), cp.protocol)
    salt = os.urandom(32)
    theirs = py_hmac_secret(ctap, cred.credential_id, salt, 1, pin_token=cp.get_pin_token(PIN))
    ours, err, _ = keys.hmac_secret(cred.credential_id.hex(), salt.hex(), "up", "pin", rp=RP, pin=PIN)
    assert err is None and ours == theirs
    plain, err, _ = keys.hmac_secret(cred.credential_id.hex(), salt.hex(), "up", rp=RP)
    assert err is None and plain != ours


def test_python_fido2_sees_wrong_pin_and_retries(keys, ctap2):
    from fido2.ctap import CtapError
    from fido2.ctap2.pin import ClientPin
    k = keys.plug(pin=PIN)
    cp = ClientPin(ctap2(k), protocol(1))
    with pytest.raises(CtapError) as e:
        cp.get_pin_token("9999-wrong")
    assert e.value.code == CtapError.ERR.PIN_INVALID
    assert cp.get_pin_retries()[0] == 7
