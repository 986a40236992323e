# SPDX-License-Identifier: MIT
"""Security keys without hardware: the software CTAP2 authenticator
(tests/fido2/soft_authenticator.py), one process per plugged-in key, each
listening on KEYS/NAME.sock; the test builds (build/tests/fido2-tool,
build/test-fido2/*) find them through $CLOUDSEAL_TEST_FIDO2_DIR."""
import os
import pathlib
import subprocess

import pytest

from softkey import SoftKeys

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
TOOL = BUILD / "tests" / "fido2-tool"


class Keys(SoftKeys):
    """The plugged-in keys and the fido2-tool that talks to them."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path)
        self.pin_file = tmp_path / "pin"

    def env(self):
        return dict(os.environ, CLOUDSEAL_TEST_FIDO2_DIR=str(self.dir))

    def tool(self, *args, salt=None, pin=None, timeout_ms=None, check=False, background=False):
        opts = []
        if pin is not None:
            self.pin_file.write_text(pin + "\n")
            self.pin_file.chmod(0o600)
            opts += ["--pin-file", str(self.pin_file)]
        if timeout_ms:
            opts += ["--timeout-ms", str(timeout_ms)]
        cmd = [str(TOOL), *opts, *args]
        if background:
            return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=self.env())
        r = subprocess.run(cmd, input=(salt + "\n") if salt else None, capture_output=True, text=True,
                           env=self.env(), timeout=120)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def make_credential(self, rp="cloudseal:" + "ab" * 32, pin=None):
        r = self.tool("make-credential", rp, "alice", pin=pin, check=True)
        cred, pin_set, uv = r.stdout.split()
        return cred, pin_set == "1", uv == "1"

    def hmac_secret(self, cred, salt, *flags, rp="cloudseal:" + "ab" * 32, pin=None, timeout_ms=None):
        """(secret hex or None, errno name or None, stderr)"""
        r = self.tool("hmac-secret", rp, cred, *flags, salt=salt, pin=pin, timeout_ms=timeout_ms)
        if r.returncode == 0:
            return r.stdout.strip(), None, r.stderr
        err = [line.split(": ", 1)[1] for line in r.stderr.splitlines() if line.startswith("error: ")]
        return None, (err[0] if err else r.stderr), r.stderr


@pytest.fixture
def keys(tmp_path, build_dir):
    if not TOOL.exists():
        pytest.fail(f"{TOOL} missing: run 'make integration-tools'")
    k = Keys(tmp_path)
    yield k
    k.stop()


class SocketCtapDevice:
    """python3-fido2's CtapDevice over the software authenticator's socket:
    CTAPHID framing written here from the spec, so python-fido2's Ctap2,
    ClientPin and hmac-secret code run unchanged against the same key our C
    client uses (built on first use: importing fido2 at collection time
    would make a missing python3-fido2 break the whole area)."""

    @staticmethod
    def open(path):
        import socket
        import struct
        from fido2.ctap import CtapDevice, CtapError

        class Dev(CtapDevice):
            def __init__(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                self.sock.settimeout(120)
                self.sock.connect(str(path))
                self.cid = 0xFFFFFFFF
                nonce = os.urandom(8)
                resp = self.call(0x06, nonce)
                assert resp[:8] == nonce
                self.cid = struct.unpack(">I", resp[8:12])[0]
                self._caps = resp[16]

            @property
            def capabilities(self):
                return self._caps

            def call(self, cmd, data=b"", event=None, on_keepalive=None):
                first = struct.pack(">IBH", self.cid, 0x80 | cmd, len(data)) + data[:57]
                self.sock.send(first.ljust(64, b"\0"))
                rest, seq = data[57:], 0
                while rest:
                    self.sock.send((struct.pack(">IB", self.cid, seq) + rest[:59]).ljust(64, b"\0"))
                    rest, seq = rest[59:], seq + 1
                while True:
                    pkt = self.sock.recv(64)
                    cid, rcmd, length = struct.unpack(">IBH", pkt[:7])
                    if cid != self.cid:
                        continue
                    if rcmd == 0x80 | 0x3B:
                        if on_keepalive:
                            on_keepalive(pkt[7])
                        continue
                    if rcmd == 0x80 | 0x3F:
                        raise CtapError(pkt[7])
                    assert rcmd == 0x80 | cmd, hex(rcmd)
                    body, seq = pkt[7:7 + length], 0
                    while len(body) < length:
                        cont = self.sock.recv(64)
                        assert cont[4] == seq
                        body += cont[5:5 + length - len(body)]
                        seq += 1
                    return body

            def close(self):
                self.sock.close()

            @classmethod
            def list_devices(cls):
                return iter(())

        return Dev()


@pytest.fixture
def ctap2():
    """ctap2(key): python3-fido2's Ctap2 on that key (strict canonical CBOR)."""
    def open_(key):
        from fido2.ctap2 import Ctap2
        return Ctap2(SocketCtapDevice.open(key.socket))
    return open_
