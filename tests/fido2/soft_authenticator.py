#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A software CTAP2 authenticator.  TEST TOOL ONLY: it keeps its device
secret and PIN in a plain state file and is never part of a cloudseal
installation.

It lets the test suite drive the real libfido2 code path without hardware
(this kernel has no uhid): it serves CTAPHID 64-byte reports on a unix
SOCK_SEQPACKET socket, which the test builds reach through libfido2's io hooks
(tests/fido2/soft_transport.c) and the interop tests through python3-fido2
(tests/integration/fido2/softdev.py).

What it implements (CTAP 2.0 with the CTAP 2.1 hmac-secret rule of one
CredRandom with and one without user verification):
  CTAPHID  INIT, PING, CBOR, CANCEL, WINK, KEEPALIVE (while waiting for a
           touch), ERROR
  CTAP2    getInfo; makeCredential (ES256, packed self attestation; the
           credential id is the private key sealed under the device secret
           and bound to the rp id, so nothing is stored per credential);
           getAssertion (allowList only) with hmac-secret; clientPIN
           getRetries, getKeyAgreement, setPIN, getPinToken, PIN/UV auth
           protocols 1 and 2, retries, blocking after 3 wrong PINs in a row
           and after the last retry.
It is strict about its input: reports of 64 bytes (65 with the report id),
messages up to MAX_MSG bytes, one CBOR item of the expected types.

Knobs:
  --socket PATH     where to listen (bound elsewhere, renamed into place
                    once listening: its existence means ready)
  --state FILE      JSON {secret, pin, retries, counter}; created if missing
  --pin PIN         the PIN of a new state file
  --no-hmac-secret  an authenticator without the extension
  --touch MODE      auto (touched at once), never, or file:PATH (touched when
                    PATH exists; the touch removes it)
  --protocols 2,1   PIN/UV auth protocols offered (getInfo order)
  --log FILE        one line per event (tests wait for them)
"""
import argparse
import hashlib
import hmac
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

REPORT = 64
MAX_MSG = 1200            # advertised maxMsgSize
MAX_HID_PAYLOAD = 2048    # what the HID layer reassembles at most
KEEPALIVE_MS = 100
USER_WAIT_S = 60          # a touch never comes after this: USER_ACTION_TIMEOUT
AAGUID = bytes.fromhex("c10d5ea1000000000000000000000001")
BROADCAST = 0xFFFFFFFF

# CTAPHID commands (without the 0x80 init bit) and errors
HID_PING, HID_MSG, HID_INIT, HID_WINK, HID_CBOR, HID_CANCEL = 0x01, 0x03, 0x06, 0x08, 0x10, 0x11
HID_KEEPALIVE, HID_ERROR = 0x3B, 0x3F
ERR_INVALID_CMD, ERR_INVALID_PAR, ERR_INVALID_LEN, ERR_INVALID_SEQ = 0x01, 0x02, 0x03, 0x04
ERR_INVALID_CHANNEL, ERR_OTHER = 0x0B, 0x7F

# CTAP2 status codes
OK = 0x00
INVALID_COMMAND, INVALID_PARAMETER, INVALID_LENGTH = 0x01, 0x02, 0x03
CBOR_UNEXPECTED_TYPE, INVALID_CBOR, MISSING_PARAMETER = 0x11, 0x12, 0x14
UNSUPPORTED_EXTENSION, CREDENTIAL_EXCLUDED = 0x16, 0x19
UNSUPPORTED_ALGORITHM, UNSUPPORTED_OPTION, INVALID_OPTION = 0x26, 0x2B, 0x2C
KEEPALIVE_CANCEL, NO_CREDENTIALS, USER_ACTION_TIMEOUT, NOT_ALLOWED = 0x2D, 0x2E, 0x2F, 0x30
PIN_INVALID, PIN_BLOCKED, PIN_AUTH_INVALID, PIN_AUTH_BLOCKED = 0x31, 0x32, 0x33, 0x34
PIN_NOT_SET, PIN_REQUIRED, PIN_POLICY_VIOLATION, REQUEST_TOO_LARGE = 0x35, 0x36, 0x37, 0x39
INVALID_SUBCOMMAND = 0x3E


class CtapError(Exception):
    def __init__(self, code):
        super().__init__(f"CTAP error 0x{code:02x}")
        self.code = code


class Disconnected(Exception):
    pass


def need(cond, code=INVALID_PARAMETER):
    if not cond:
        raise CtapError(code)


def sha256(b):
    return hashlib.sha256(b).digest()


def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def aes_cbc(key, iv, data, decrypt):
    need(len(data) % 16 == 0, INVALID_LENGTH)
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def cose_ec2(pub, alg):
    n = pub.public_numbers()
    return {1: 2, 3: alg, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")}


def parse_cose_ecdh(key):
    need(isinstance(key, dict) and key.get(1) == 2 and key.get(-1) == 1, INVALID_PARAMETER)
    x, y = key.get(-2), key.get(-3)
    need(isinstance(x, bytes) and isinstance(y, bytes) and len(x) == 32 and len(y) == 32)
    try:
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                             ec.SECP256R1()).public_key()
    except ValueError:
        raise CtapError(INVALID_PARAMETER)


class PinProtocol:
    """PIN/UV auth protocol 1 or 2 (CTAP 2.1 §6.5.6, §6.5.7)."""

    def __init__(self, version):
        self.version = version

    def kdf(self, z):
        if self.version == 1:
            return sha256(z)
        def hk(info):
            return HKDF(hashes.SHA256(), 32, b"\0" * 32, info).derive(z)
        return hk(b"CTAP2 HMAC key") + hk(b"CTAP2 AES key")

    def encrypt(self, key, data):
        if self.version == 1:
            return aes_cbc(key, b"\0" * 16, data, False)
        iv = os.urandom(16)
        return iv + aes_cbc(key[32:], iv, data, False)

    def decrypt(self, key, data):
        need(isinstance(data, bytes))
        if self.version == 1:
            return aes_cbc(key, b"\0" * 16, data, True)
        need(len(data) >= 16, INVALID_LENGTH)
        return aes_cbc(key[32:], data[:16], data[16:], True)

    def authenticate(self, key, msg):
        mac = hmac256(key[:32], msg)
        return mac[:16] if self.version == 1 else mac

    def verify(self, key, msg, sig):
        return isinstance(sig, bytes) and hmac.compare_digest(self.authenticate(key, msg), sig)


class Device:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.protocols = [int(p) for p in args.protocols.split(",")]
        self.hmac_secret = not args.no_hmac_secret
        self.state = self.load_state(args.state, args.pin)
        self.secret = bytes.fromhex(self.state["secret"])
        self.new_key_agreement()
        self.pin_token = os.urandom(32)
        self.consecutive_fails = 0
        self.next_cid = 1
        self.log_file = open(args.log, "a", buffering=1) if args.log else None

    def log(self, line):
        if self.log_file:
            self.log_file.write(line + "\n")

    @staticmethod
    def load_state(path, pin):
        if os.path.exists(path):
            with open(path) as f:
                st = json.load(f)
            need(isinstance(st.get("secret"), str) and len(st["secret"]) == 64, ERR_OTHER)
            return st
        st = {"secret": os.urandom(32).hex(), "pin": pin, "retries": 8, "counter": 0}
        Device.save_state_to(path, st)
        return st

    @staticmethod
    def save_state_to(path, st):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.replace(tmp, path)

    def save_state(self):
        self.save_state_to(self.args.state, self.state)

    def new_key_agreement(self):
        self.ka_key = ec.generate_private_key(ec.SECP256R1())

    def shared_secret(self, proto, peer_cose):
        peer = parse_cose_ecdh(peer_cose)
        return proto.kdf(self.ka_key.exchange(ec.ECDH(), peer))

    def protocol(self, version):
        need(isinstance(version, int) and version in self.protocols, INVALID_PARAMETER)
        return PinProtocol(version)

    # credentials: the private key sealed under the device secret, bound to the rp
    def wrap_key(self):
        return hmac256(self.secret, b"credential wrapping key")

    def seal_credential(self, priv, rp_hash):
        nonce = os.urandom(12)
        scalar = priv.private_numbers().private_value.to_bytes(32, "big")
        return b"\x01" + nonce + AESGCM(self.wrap_key()).encrypt(nonce, scalar, rp_hash)

    def open_credential(self, cred_id, rp_hash):
        if not isinstance(cred_id, bytes) or len(cred_id) != 1 + 12 + 32 + 16 or cred_id[0] != 1:
            return None
        try:
            scalar = AESGCM(self.wrap_key()).decrypt(cred_id[1:13], cred_id[13:], rp_hash)
        except Exception:
            return None
        return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())

    def cred_random(self, cred_id, uv):
        return hmac256(self.secret, b"CredRandom" + (b"WithUV" if uv else b"WithoutUV") + cred_id)

    def next_counter(self):
        self.state["counter"] = int(self.state.get("counter", 0)) + 1
        self.save_state()
        return self.state["counter"]


class Channel:
    """One connection (one opened device handle in the client)."""

    def __init__(self, dev, sock):
        self.dev, self.sock = dev, sock
        self.cid = None

    # ---- HID reports
    def recv_report(self, timeout=None):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        try:
            data = self.sock.recv(REPORT + 2)
        except ConnectionResetError:
            # the client closed with our keepalives unread: the kernel reports
            # that once, before the reports it sent last (a CANCEL) are read
            data = self.sock.recv(REPORT + 2)
        if not data:
            raise Disconnected()
        if len(data) == REPORT + 1 and data[0] == 0:
            data = data[1:]
        if len(data) != REPORT:
            return b""      # malformed report: ignored, like a real HID device would drop it
        return data

    def send(self, cid, cmd, payload):
        assert len(payload) <= MAX_HID_PAYLOAD
        first = struct.pack(">IBH", cid, 0x80 | cmd, len(payload)) + payload[:REPORT - 7]
        self.sock.send(first.ljust(REPORT, b"\0"))
        rest, seq = payload[REPORT - 7:], 0
        while rest:
            self.sock.send((struct.pack(">IB", cid, seq) + rest[:REPORT - 5]).ljust(REPORT, b"\0"))
            rest, seq = rest[REPORT - 5:], seq + 1

    def hid_error(self, cid, code):
        self.send(cid, HID_ERROR, bytes([code]))

    def read_message(self):
        """The next complete message: (cid, cmd, payload), or None after an
        error was answered."""
        pkt = self.recv_report()
        if not pkt:
            return None
        cid, cmd = struct.unpack(">IB", pkt[:5])
        if not cmd & 0x80:
            return None     # a stray continuation: ignored
        cmd &= 0x7F
        (length,) = struct.unpack(">H", pkt[5:7])
        if length > MAX_HID_PAYLOAD:
            self.hid_error(cid, ERR_INVALID_LEN)
            return None
        payload, seq = pkt[7:7 + length], 0
        while len(payload) < length:
            cont = self.recv_report(timeout=0.5)
            if cont is None:
                self.hid_error(cid, 0x05)      # ERR_MSG_TIMEOUT
                return None
            ccid, cseq = struct.unpack(">IB", cont[:5]) if cont else (None, None)
            if ccid != cid or cseq != seq:
                self.hid_error(cid, ERR_INVALID_SEQ)
                return None
            payload += cont[5:5 + length - len(payload)]
            seq += 1
        return cid, cmd, payload

    def serve(self):
        try:
            while True:
                msg = self.read_message()
                if msg:
                    self.handle(*msg)
        except (Disconnected, ConnectionError, OSError):
            pass
        finally:
            self.sock.close()

    def handle(self, cid, cmd, payload):
        if cmd == HID_INIT:
            if len(payload) != 8:
                return self.hid_error(cid, ERR_INVALID_LEN)
            with self.dev.lock:
                new_cid = self.dev.next_cid
                self.dev.next_cid += 1
            if cid == BROADCAST:
                self.cid = new_cid
            else:
                new_cid = cid
            self.send(cid, HID_INIT, payload + struct.pack(">IBBBBB", new_cid, 2, 1, 0, 0, 0x01 | 0x04 | 0x08))
        elif cid == BROADCAST or cid != self.cid:
            self.hid_error(cid, ERR_INVALID_CHANNEL)
        elif cmd == HID_PING:
            self.send(cid, HID_PING, payload)
        elif cmd == HID_WINK:
            self.send(cid, HID_WINK, b"")
        elif cmd == HID_CANCEL:
            pass            # nothing pending: no answer
        elif cmd == HID_CBOR:
            if not payload:
                return self.hid_error(cid, ERR_INVALID_LEN)
            with self.dev.lock:
                status, body = self.ctap(payload)
            self.send(cid, HID_CBOR, bytes([status]) + body)
        else:
            self.hid_error(cid, ERR_INVALID_CMD)

    # ---- user presence
    def wait_touch(self):
        mode = self.dev.args.touch
        if mode == "auto":
            self.dev.log("touched")
            return
        self.dev.log("up-needed")
        deadline = time.monotonic() + USER_WAIT_S
        while time.monotonic() < deadline:
            if mode.startswith("file:") and os.path.exists(mode[5:]):
                os.unlink(mode[5:])
                self.dev.log("touched")
                return
            pkt = self.recv_report(timeout=KEEPALIVE_MS / 1000)
            if pkt and struct.unpack(">IB", pkt[:5]) == (self.cid, 0x80 | HID_CANCEL):
                self.dev.log("cancelled")
                raise CtapError(KEEPALIVE_CANCEL)
            try:
                self.send(self.cid, HID_KEEPALIVE, b"\x02")     # STATUS_UPNEEDED
            except OSError:
                # a client that cancels and closes at once: its CANCEL is
                # still queued, read it on the next turn (then EOF)
                pass
        raise CtapError(USER_ACTION_TIMEOUT)

    # ---- CTAP2
    def ctap(self, payload):
        if len(payload) - 1 > MAX_MSG:
            return REQUEST_TOO_LARGE, b""
        handlers = {0x01: self.make_credential, 0x02: self.get_assertion,
                    0x04: self.get_info, 0x06: self.client_pin}
        h = handlers.get(payload[0])
        if h is None:
            return INVALID_COMMAND, b""
        try:
            params = decode_params(payload[1:])
            resp = h(params)
            return OK, (cbor2.dumps(resp, canonical=True) if resp is not None else b"")
        except CtapError as e:
            self.dev.log(f"error 0x{e.code:02x}")
            return e.code, b""
        except (Disconnected, OSError):
            raise
        except Exception as e:      # a bug here, or input no check foresaw: an error, not a dead device
            self.dev.log(f"error 0x7f {type(e).__name__}")
            return ERR_OTHER, b""

    def get_info(self, params):
        d = self.dev
        info = {1: ["FIDO_2_0"], 2: ["hmac-secret"] if d.hmac_secret else [], 3: AAGUID,
                4: {"rk": False, "up": True, "plat": False, "clientPin": d.state.get("pin") is not None},
                5: MAX_MSG, 6: d.protocols}
        if not info[2]:
            del info[2]
        return info

    def check_pin_auth(self, params, key_auth, key_proto, cdh):
        """None (no PIN used) or True (verified); zero-length pinAuth is the
        touch probe of CTAP 2.0 §5.5.8."""
        d = self.dev
        auth = params.get(key_auth)
        if auth is None:
            if key_auth == 8 and d.state.get("pin") is not None:
                raise CtapError(PIN_REQUIRED)       # makeCredential needs the PIN once set
            return None
        need(isinstance(auth, bytes), CBOR_UNEXPECTED_TYPE)
        if len(auth) == 0:
            self.wait_touch()
            raise CtapError(PIN_NOT_SET if d.state.get("pin") is None else PIN_INVALID)
        need(key_proto in params, MISSING_PARAMETER)
        proto = d.protocol(params[key_proto])
        if d.state.get("pin") is None:
            raise CtapError(PIN_NOT_SET)
        if not proto.verify(d.pin_token, cdh, auth):
            raise CtapError(PIN_AUTH_INVALID)
        return True

    def options(self, params, key, allowed):
        opts = params.get(key, {})
        need(isinstance(opts, dict), CBOR_UNEXPECTED_TYPE)
        for k, v in opts.items():
            need(isinstance(k, str) and isinstance(v, bool), CBOR_UNEXPECTED_TYPE)
            if k == "rk" and v:
                raise CtapError(UNSUPPORTED_OPTION)
            if k == "uv" and v:
                raise CtapError(UNSUPPORTED_OPTION)     # no built-in user verification
            if k == "up" and "up" not in allowed:
                raise CtapError(INVALID_OPTION)
        return opts

    def make_credential(self, p):
        d = self.dev
        cdh, rp, user, algs = p.get(1), p.get(2), p.get(3), p.get(4)
        need(cdh is not None and rp is not None and user is not None and algs is not None, MISSING_PARAMETER)
        need(isinstance(cdh, bytes) and len(cdh) == 32, INVALID_LENGTH)
        need(isinstance(rp, dict) and isinstance(rp.get("id"), str) and 0 < len(rp["id"]) <= 256,
             CBOR_UNEXPECTED_TYPE)
        need(isinstance(user, dict) and isinstance(user.get("id"), bytes) and len(user["id"]) <= 64,
             CBOR_UNEXPECTED_TYPE)
        need(isinstance(algs, list) and all(isinstance(a, dict) for a in algs), CBOR_UNEXPECTED_TYPE)
        if not any(a.get("type") == "public-key" and a.get("alg") == -7 for a in algs):
            raise CtapError(UNSUPPORTED_ALGORITHM)
        ext = p.get(6, {})
        need(isinstance(ext, dict), CBOR_UNEXPECTED_TYPE)
        self.options(p, 7, allowed=())
        uv = self.check_pin_auth(p, 8, 9, cdh)
        rp_hash = sha256(rp["id"].encode())
        excl = p.get(5, [])
        need(isinstance(excl, list), CBOR_UNEXPECTED_TYPE)
        if any(isinstance(c, dict) and d.open_credential(c.get("id"), rp_hash) for c in excl):
            self.wait_touch()
            raise CtapError(CREDENTIAL_EXCLUDED)
        self.wait_touch()
        priv = ec.generate_private_key(ec.SECP256R1())
        cred_id = d.seal_credential(priv, rp_hash)
        flags = 0x01 | (0x04 if uv else 0) | 0x40
        exts = {}
        if ext.get("hmac-secret") is True and d.hmac_secret:
            exts["hmac-secret"] = True
            flags |= 0x80
        auth_data = (rp_hash + bytes([flags]) + struct.pack(">I", d.next_counter()) + AAGUID +
                     struct.pack(">H", len(cred_id)) + cred_id +
                     cbor2.dumps(cose_ec2(priv.public_key(), -7), canonical=True) +
                     (cbor2.dumps(exts, canonical=True) if exts else b""))
        sig = priv.sign(auth_data + cdh, ec.ECDSA(hashes.SHA256()))
        d.log(f"makeCredential uv={int(bool(uv))} hmac-secret={int('hmac-secret' in exts)}")
        return {1: "packed", 2: auth_data, 3: {"alg": -7, "sig": sig}}

    def hmac_secret_output(self, ext, cred_id, uv):
        d = self.dev
        need(isinstance(ext, dict), CBOR_UNEXPECTED_TYPE)
        need(all(k in ext for k in (1, 2, 3)), MISSING_PARAMETER)
        proto = d.protocol(ext.get(4, 1))
        shared = d.shared_secret(proto, ext[1])
        salt_enc, salt_auth = ext[2], ext[3]
        need(isinstance(salt_enc, bytes) and isinstance(salt_auth, bytes), CBOR_UNEXPECTED_TYPE)
        if not proto.verify(shared, salt_enc, salt_auth):
            raise CtapError(PIN_AUTH_INVALID)
        salts = proto.decrypt(shared, salt_enc)
        need(len(salts) in (32, 64), INVALID_LENGTH)
        cr = d.cred_random(cred_id, uv)
        out = b"".join(hmac256(cr, salts[i:i + 32]) for i in range(0, len(salts), 32))
        return proto.encrypt(shared, out)

    def get_assertion(self, p):
        d = self.dev
        rp_id, cdh = p.get(1), p.get(2)
        need(rp_id is not None and cdh is not None, MISSING_PARAMETER)
        need(isinstance(rp_id, str) and 0 < len(rp_id) <= 256, CBOR_UNEXPECTED_TYPE)
        need(isinstance(cdh, bytes) and len(cdh) == 32, INVALID_LENGTH)
        allow = p.get(3, [])
        need(isinstance(allow, list) and len(allow) <= 16, CBOR_UNEXPECTED_TYPE)
        ext = p.get(4, {})
        need(isinstance(ext, dict), CBOR_UNEXPECTED_TYPE)
        opts = self.options(p, 5, allowed=("up",))
        up = opts.get("up", True)
        uv = self.check_pin_auth(p, 6, 7, cdh)
        rp_hash = sha256(rp_id.encode())
        found = None
        for c in allow:
            need(isinstance(c, dict) and isinstance(c.get("id"), bytes) and len(c["id"]) <= 1023,
                 CBOR_UNEXPECTED_TYPE)
            priv = d.open_credential(c["id"], rp_hash)
            if priv and c.get("type") == "public-key":
                found = (c["id"], priv)
                break
        if not found:
            d.log(f"getAssertion up={int(up)} no-credential")
            raise CtapError(NO_CREDENTIALS)
        cred_id, priv = found
        exts = {}
        if "hmac-secret" in ext:
            if not d.hmac_secret:
                raise CtapError(UNSUPPORTED_EXTENSION)
            exts["hmac-secret"] = self.hmac_secret_output(ext["hmac-secret"], cred_id, bool(uv))
        if up:
            self.wait_touch()
        flags = (0x01 if up else 0) | (0x04 if uv else 0) | (0x80 if exts else 0)
        auth_data = (rp_hash + bytes([flags]) + struct.pack(">I", d.next_counter()) +
                     (cbor2.dumps(exts, canonical=True) if exts else b""))
        sig = priv.sign(auth_data + cdh, ec.ECDSA(hashes.SHA256()))
        d.log(f"getAssertion up={int(up)} uv={int(bool(uv))} hmac-secret={int(bool(exts))}")
        return {1: {"type": "public-key", "id": cred_id}, 2: auth_data, 3: sig}

    def client_pin(self, p):
        d = self.dev
        sub = p.get(2)
        need(isinstance(sub, int), MISSING_PARAMETER)
        proto = d.protocol(p.get(1))
        if sub == 1:
            return {3: int(d.state.get("retries", 8))}
        if sub == 2:
            return {1: cose_ec2(d.ka_key.public_key(), -25)}
        if sub == 3:
            return self.set_pin(p, proto)
        if sub == 5:
            return self.get_pin_token(p, proto)
        raise CtapError(INVALID_SUBCOMMAND)

    def set_pin(self, p, proto):
        d = self.dev
        if d.state.get("pin") is not None:
            raise CtapError(NOT_ALLOWED)
        need(all(k in p for k in (3, 4, 5)), MISSING_PARAMETER)
        shared = d.shared_secret(proto, p[3])
        new_enc = p[5]
        need(isinstance(new_enc, bytes), CBOR_UNEXPECTED_TYPE)
        if not proto.verify(shared, new_enc, p[4]):
            raise CtapError(PIN_AUTH_INVALID)
        padded = proto.decrypt(shared, new_enc)
        need(len(padded) == 64, PIN_POLICY_VIOLATION)
        pin = padded.rstrip(b"\0")
        try:
            text = pin.decode()
        except UnicodeDecodeError:
            raise CtapError(PIN_POLICY_VIOLATION)
        need(4 <= len(text) and len(pin) <= 63, PIN_POLICY_VIOLATION)
        d.state.update(pin=text, retries=8)
        d.save_state()
        d.log("pin-set")
        return None

    def get_pin_token(self, p, proto):
        d = self.dev
        if d.state.get("pin") is None:
            raise CtapError(PIN_NOT_SET)
        if int(d.state.get("retries", 8)) <= 0:
            raise CtapError(PIN_BLOCKED)
        if d.consecutive_fails >= 3:
            raise CtapError(PIN_AUTH_BLOCKED)
        need(3 in p and 6 in p, MISSING_PARAMETER)
        shared = d.shared_secret(proto, p[3])
        d.state["retries"] = int(d.state.get("retries", 8)) - 1
        d.save_state()
        pin_hash = proto.decrypt(shared, p[6])
        if not hmac.compare_digest(pin_hash, sha256(d.state["pin"].encode())[:16]):
            d.new_key_agreement()
            d.consecutive_fails += 1
            d.log(f"pin-invalid retries={d.state['retries']}")
            if d.state["retries"] <= 0:
                raise CtapError(PIN_BLOCKED)
            raise CtapError(PIN_AUTH_BLOCKED if d.consecutive_fails >= 3 else PIN_INVALID)
        d.state["retries"] = 8
        d.save_state()
        d.consecutive_fails = 0
        d.pin_token = os.urandom(32)
        d.log("pin-token")
        return {2: proto.encrypt(shared, d.pin_token)}


def decode_params(data):
    """The CBOR map of a request: one item, integer keys, nothing after it."""
    if not data:
        return {}
    try:
        f = io.BytesIO(data)
        item = cbor2.CBORDecoder(f).decode()
        if f.tell() != len(data):
            raise CtapError(INVALID_CBOR)
    except CtapError:
        raise
    except Exception:
        raise CtapError(INVALID_CBOR)
    need(isinstance(item, dict) and all(isinstance(k, int) for k in item), CBOR_UNEXPECTED_TYPE)
    return item


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--pin")
    ap.add_argument("--no-hmac-secret", action="store_true")
    ap.add_argument("--touch", default="auto")
    ap.add_argument("--protocols", default="1")
    ap.add_argument("--log")
    args = ap.parse_args()
    if args.touch not in ("auto", "never") and not args.touch.startswith("file:"):
        ap.error("--touch: auto, never or file:PATH")
    # SIGTERM and SIGINT (an unplug) stay blocked in every thread and the
    # main thread takes them with sigwait(): no race.  A Python handler
    # runs only between bytecodes, so one that came just before accept()
    # blocked was caught by no one and the key never went away (a
    # teardown's 30 s wait).  Blocked before the socket exists, so every
    # thread started later inherits the mask.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    dev = Device(args)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    tmp = args.socket + ".binding"
    if os.path.exists(tmp):
        os.unlink(tmp)
    srv.bind(tmp)
    srv.listen(8)
    os.rename(tmp, args.socket)
    dev.log("ready")
    threading.Thread(target=accept_channels, args=(dev, srv), daemon=True).start()
    signal.sigwait(stop)
    # a socket left behind would look like a key that does not answer
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    os._exit(0)


def accept_channels(dev, srv):
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=Channel(dev, conn).serve, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
