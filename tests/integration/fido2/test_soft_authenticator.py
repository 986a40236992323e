# SPDX-License-Identifier: MIT
"""The software authenticator is a test tool, but strict about its input:
malformed reports and CBOR get CTAP errors, never a crash, and it keeps
answering afterwards."""
import struct

import cbor2
import pytest


def raw(dev, cmd, payload, declared=None):
    """Send one message with a chosen declared length; the reply's
    (command, body)."""
    n = len(payload) if declared is None else declared
    dev.sock.send((struct.pack(">IBH", dev.cid, 0x80 | cmd, n) + payload[:57]).ljust(64, b"\0"))
    rest, seq = payload[57:], 0
    while rest:
        dev.sock.send((struct.pack(">IB", dev.cid, seq) + rest[:59]).ljust(64, b"\0"))
        rest, seq = rest[59:], seq + 1
    pkt = dev.sock.recv(64)
    cid, rcmd, length = struct.unpack(">IBH", pkt[:7])
    body = pkt[7:7 + length]
    while len(body) < length:           # the rest of a long reply
        body += dev.sock.recv(64)[5:5 + length - len(body)]
    return rcmd & 0x7F, body


def cbor_status(d, body):
    cmd, reply = raw(d, 0x10, body)
    assert cmd == 0x10
    return reply[0]


@pytest.fixture
def device(keys, ctap2):
    k = keys.plug()
    c = ctap2(k)            # opens and INITs a channel
    yield c.device
    assert "FIDO_2_0" in ctap2(k).info.versions      # still alive and answering


@pytest.mark.parametrize("body, status", [
    (b"\x04\xff", 0x11),                               # getInfo with a lone break code
    (b"\x01\xa0\x00", 0x12),                           # trailing byte after the map
    (b"\x01\x80", 0x11),                               # an array, not a map
    (b"\x01" + cbor2.dumps({"1": 1}), 0x11),           # text keys
    (b"\x01" + b"\x81" * 900 + b"\x00", 0x11),         # deep nesting, not a map
    (b"\x01\xa1\x01\x5a\xff\xff\xff\xff", 0x12),       # a 4 GiB byte string in 8 bytes
    (b"\x01" + cbor2.dumps({1: b"\0" * 31, 2: {"id": "x"}, 3: {"id": b"u"},
                            4: [{"type": "public-key", "alg": -7}]}), 0x03),   # short clientDataHash
    (b"\x01" + cbor2.dumps({1: b"\0" * 32, 2: {"id": 5}, 3: {"id": b"u"}, 4: []}), 0x11),
    (b"\x01" + cbor2.dumps({1: b"\0" * 32, 2: {"id": "x"}, 3: {"id": b"u"},
                            4: [{"type": "public-key", "alg": -257}]}), 0x26),  # no ES256
    (b"\x02" + cbor2.dumps({1: "x", 2: b"\0" * 32, 3: [{"type": "public-key", "id": b"\1" * 1300}]}), 0x39),
    (b"\x02" + cbor2.dumps({1: "x", 2: b"\0" * 32, 3: [{"type": "public-key", "id": b"\1" * 61}]}), 0x2E),
    (b"\x06" + cbor2.dumps({1: 1, 2: 5, 3: {1: 2, -1: 1, -2: b"\0" * 32, -3: b"\0" * 32},
                            6: b"\0" * 16}), 0x35),   # no PIN set
    (b"\x06" + cbor2.dumps({1: 7, 2: 1}), 0x02),       # unknown PIN protocol
    (b"\x02" + cbor2.dumps({1: "x", 2: b"\0" * 32, 3: [{"type": "public-key", "id": b"\1" * 61}],
                            5: {"up": 1}}), 0x11),                           # an option not a bool
    (b"\x06" + cbor2.dumps({1: 1, 2: 5, 3: [1, 2], 6: b"\0" * 16}), 0x35),  # no PIN: refused before the key
    (b"\x09", 0x01),                                   # unknown command
], ids=lambda v: v.hex()[:24] if isinstance(v, bytes) else hex(v))
def test_bad_cbor_requests_get_ctap_errors(device, body, status):
    assert cbor_status(device, body) == status


def test_point_not_on_the_curve_is_refused(keys, ctap2):
    k = keys.plug(pin="4711-cs")
    d = ctap2(k).device
    body = b"\x06" + cbor2.dumps({1: 1, 2: 5, 3: {1: 2, 3: -25, -1: 1, -2: b"\1" * 32, -3: b"\1" * 32},
                                  6: b"\0" * 16})
    assert cbor_status(d, body) == 0x02
    assert k.retries() == 8          # a malformed request costs no PIN retry


def test_oversized_and_broken_framing_are_hid_errors(device):
    assert raw(device, 0x10, b"\x04", declared=5000) == (0x3F, b"\x03")    # ERR_INVALID_LEN
    # a continuation with the wrong sequence number
    device.sock.send((struct.pack(">IBH", device.cid, 0x90, 100) + b"\x04" * 57).ljust(64, b"\0"))
    device.sock.send((struct.pack(">IB", device.cid, 5) + b"\0" * 59).ljust(64, b"\0"))
    pkt = device.sock.recv(64)
    assert pkt[4] == 0xBF and pkt[7] == 0x04                             # ERR_INVALID_SEQ
    assert raw(device, 0x25, b"") == (0x3F, b"\x01")                     # unknown HID command
    device.sock.send(b"\0" * 10)                                         # a short report: dropped
    assert raw(device, 0x01, b"ping") == (0x01, b"ping")


def mutations(rng):
    """Valid requests of every command, then bytes flipped, cut or added."""
    cose = {1: 2, 3: -25, -1: 1, -2: b"\1" * 32, -3: b"\2" * 32}
    good = [b"\x04",
            b"\x01" + cbor2.dumps({1: b"\0" * 32, 2: {"id": "x"}, 3: {"id": b"u", "name": "n"},
                                   4: [{"type": "public-key", "alg": -7}], 6: {"hmac-secret": True}}),
            b"\x02" + cbor2.dumps({1: "x", 2: b"\0" * 32, 3: [{"type": "public-key", "id": b"\1" * 61}],
                                   4: {"hmac-secret": {1: cose, 2: b"\0" * 32, 3: b"\0" * 16}}, 5: {"up": False}}),
            b"\x06" + cbor2.dumps({1: 1, 2: 5, 3: cose, 6: b"\0" * 16}),
            b"\x06" + cbor2.dumps({1: 2, 2: 3, 3: cose, 4: b"\0" * 32, 5: b"\0" * 80})]
    while True:
        b = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 4)):
            op = rng.randint(0, 2)
            i = rng.randrange(1, len(b)) if len(b) > 1 else 1
            if op == 0 and len(b) > 1:
                b[i] = rng.randrange(256)
            elif op == 1:
                del b[i:i + rng.randint(1, 8)]
            else:
                b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        yield bytes(b[:1000])


def test_mutated_requests_get_ctap_errors_not_crashes(keys, ctap2):
    """A small fixed-seed mutation run: every answer is a CTAP status (no
    internal error, no dropped connection), and the key still answers."""
    import random
    k = keys.plug()
    d = ctap2(k).device
    gen = mutations(random.Random(2026))
    for _ in range(400):
        cmd, reply = raw(d, 0x10, next(gen))
        assert cmd == 0x10
    assert not [e for e in k.events() if e.startswith("error 0x7f")]
    assert "FIDO_2_0" in ctap2(k).info.versions
