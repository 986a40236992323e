# SPDX-License-Identifier: MIT
"""JSON the CLI passes on from another process (the agent's replies) stays
valid UTF-8 under the rule of every name in JSON output: U+FFFD for
people, KEY_base64 with the exact bytes.  A stand-in agent on the control
socket answers with strings that are not UTF-8."""
import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")

REPLY = (b'{"ok":true,"status":"idle","pid":4242,'
         b'"jobs":[{"name":"backup","last_error":"cannot read /srv/caf\xe9"}],'
         b'"message":"x\xff","tags":["plain","b\xfe"],"mixed":[1,"\xe9"],"bad\xffkey":1}\n')


@pytest.fixture
def fake_agent():
    """A control socket that answers every request with REPLY; yields the
    runtime directory (XDG_RUNTIME_DIR, short: sun_path is 108 bytes)."""
    rt = tempfile.mkdtemp(prefix="csj-")
    os.mkdir(os.path.join(rt, "cloudseal"), 0o700)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(os.path.join(rt, "cloudseal", "agent.sock"))
    srv.listen(8)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:  # closed: the test is over
                return
            with c:
                buf = b""
                while b"\n" not in buf:
                    got = c.recv(4096)
                    if not got:
                        break
                    buf += got
                c.sendall(REPLY)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield rt
    srv.shutdown(socket.SHUT_RDWR)
    srv.close()
    t.join(timeout=30)
    shutil.rmtree(rt)


def cli(cs_config, rt, *args):
    config, _ = cs_config
    env = {**os.environ, "CLOUDSEAL_CONFIG": str(config), "XDG_RUNTIME_DIR": rt}
    return subprocess.run([str(BUILD / "cloudseal"), *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)


def check_reply(doc):
    job = doc["jobs"][0]
    assert job["last_error"] == "cannot read /srv/caf\ufffd", doc
    assert base64.b64decode(job["last_error_base64"]) == b"cannot read /srv/caf\xe9", doc
    assert doc["message"] == "x\ufffd" and base64.b64decode(doc["message_base64"]) == b"x\xff", doc
    assert doc["tags"] == ["plain", "b\ufffd"] and doc["tags_base64"] == [None, base64.b64encode(b"b\xfe").decode()]
    assert doc["mixed"] == [1, "\ufffd"] and "status_base64" not in doc, doc
    assert not any(k.startswith("bad") for k in doc), doc  # a member name no program can ask for


def test_agent_reply_that_is_not_utf8_in_agent_json(cs_config, fake_agent):
    r = cli(cs_config, fake_agent, "agent", "status", "--json")
    assert r.returncode == 0, r.stderr
    check_reply(json.loads(r.stdout.decode("utf-8", errors="strict")))


def test_agent_reply_that_is_not_utf8_in_status_json(cs_config, fake_agent):
    r = cli(cs_config, fake_agent, "status", "--json")
    check_reply(json.loads(r.stdout.decode("utf-8", errors="strict"))["agent"])


def test_admin_show_of_a_gecos_that_is_not_utf8(cs_config, tmp_path):
    """A directory source may hold a Latin-1 gecos (only ':' and control
    characters are refused): admin show --json stays valid UTF-8."""
    source = str(tmp_path / "directory.json")

    def admin(*args):
        r = cli(cs_config, str(tmp_path), "admin", "--source", source, *args)
        assert r.returncode == 0, r.stderr
        return r
    admin("init")
    admin("add-user", "alice", "--gecos", os.fsdecode(b"Alice Caf\xe9"))
    doc = json.loads(admin("show", "--json").stdout.decode("utf-8", errors="strict"))
    (alice,) = [u for u in doc["users"] if u["name"] == "alice"]
    assert alice["gecos"] == "Alice Caf\ufffd", alice
    assert base64.b64decode(alice["gecos_base64"]) == b"Alice Caf\xe9", alice
