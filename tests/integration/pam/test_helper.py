# SPDX-License-Identifier: MIT
"""cloudseal-helper on its own: framing limits, caller checks, run-time bound."""
import os
import struct
import subprocess
import time

import pytest

PASSWORD = "Tr0ub4dor&3"


def helper(build_dir, *args, input=b"", user=None, timeout=30):
    pre = []
    if user:
        pre = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    return subprocess.run([*pre, str(build_dir / "cloudseal-helper"), *args], input=input,
                          capture_output=True, timeout=timeout, env={})


def frame(b):
    return struct.pack(">I", len(b)) + b


@pytest.mark.parametrize("cmd", ["unlock", "handoff", "revoke", "rewrap", "login", "fleet-check"])
def test_help_for_every_command(build_dir, cmd):
    r = helper(build_dir, cmd, "--help")
    assert r.returncode == 0 and b"Usage: cloudseal-helper" in r.stdout


def test_help_lists_commands_and_exit_codes(build_dir):
    r = helper(build_dir, "--help")
    assert r.returncode == 0
    for word in (b"unlock", b"handoff", b"revoke", b"rewrap", b"10 wrong password"):
        assert word in r.stdout


def test_bad_user_names_are_usage_errors(build_dir):
    for name in ("../etc", "a/b", "-x", ""):
        r = helper(build_dir, "unlock", "--user", name, input=frame(b"pw"))
        assert r.returncode == 2, (name, r.stderr)


def test_unknown_user(build_dir):
    r = helper(build_dir, "unlock", "--user", "no-such-user-cs", input=frame(b"pw"))
    assert r.returncode == 11


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_non_root_may_act_only_for_itself(build_dir):
    r = helper(build_dir, "unlock", "--user", "root", input=frame(b"pw"), user="65534")
    assert r.returncode == 16 and b"may act only for itself" in r.stderr


def test_oversized_frame_is_refused_without_reading_it(build_dir, sandbox):
    r = helper(build_dir, "--config", str(sandbox.config), "unlock", "--user", "root",
               input=struct.pack(">I", 0xFFFFFFFF) + b"x" * 16)
    assert r.returncode == 2 and b"Message too long" in r.stderr


def test_truncated_frames_are_refused(build_dir, sandbox):
    for data in (b"", b"\0\0", struct.pack(">I", 10) + b"short"):
        r = helper(build_dir, "--config", str(sandbox.config), "unlock", "--user", "root", input=data)
        assert r.returncode == 2, (data, r.stderr)
    # rewrap needs two frames
    r = helper(build_dir, "--config", str(sandbox.config), "rewrap", "--user", "root", input=frame(b"old"))
    assert r.returncode == 2


def test_run_time_is_bounded(build_dir, sandbox):
    """A caller that never sends the secret cannot keep the helper alive."""
    t0 = time.monotonic()
    p = subprocess.Popen([str(build_dir / "cloudseal-helper"), "--config", str(sandbox.config),
                          "--timeout", "1", "unlock", "--user", "root"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={})
    rc = p.wait(timeout=30)  # a failure bound; the alarm itself is what is tested
    p.stdin.close()
    assert rc == -14  # SIGALRM: its own 1 s alarm ended it, not the caller
    assert time.monotonic() - t0 < 30


def test_unlock_rewrap_exit_codes(sandbox):
    """Through the namespace (the test user exists only there): ok, wrong
    password, rewrap, the key on fd 1 as one 32-byte frame."""
    sandbox.enroll()
    unlock = "$B/cloudseal-helper --config $C unlock --user $U"
    rewrap = "$B/cloudseal-helper --config $C rewrap --user $U"

    def run(script, data):
        return sandbox.run(script, input=data, binary=True, check=False)

    r = run(unlock, frame(PASSWORD.encode()))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 36 and r.stdout[:4] == b"\0\0\0\x20"
    r = run(unlock, frame(b"wrong"))
    assert r.returncode == 10 and r.stdout == b""
    r = run(rewrap, frame(PASSWORD.encode()) + frame(b""))
    assert r.returncode == 2  # an empty new password is refused
    r = run(rewrap, frame(b"wrong") + frame(b"brand new"))
    assert r.returncode == 10
    r = run(rewrap, frame(PASSWORD.encode()) + frame(b"brand new"))
    assert r.returncode == 0, r.stderr
    assert run(unlock, frame(b"brand new")).returncode == 0
    assert run(unlock, frame(PASSWORD.encode())).returncode == 10
    # a pin above every copy: a rollback, refused as such
    pin = sandbox.state / "keybags" / "cspamtest" / "generation"
    saved = pin.read_text()
    pin.write_text("99\n")
    assert run(unlock, frame(b"brand new")).returncode == 13
    pin.write_text(saved)
    # a damaged keybag (cache and storage): corrupt, not "wrong password"
    for kb in (sandbox.storage / "users" / "cspamtest" / "keybag",
               sandbox.state / "keybags" / "cspamtest" / "keybag"):
        kb.write_text(kb.read_text().replace('"password"', '"passwort"'))
    assert run(unlock, frame(b"brand new")).returncode == 12


def test_either_fetches_storage_once(build_dir, sandbox):
    """Drift repair's 'previous password or recovery key' is one storage
    fetch, not one per guess: with storage hanging, a login waits for the
    login timeout once.  Counted as TCP connections to a server that accepts
    and never answers; the unlock then works from the cached keybag."""
    import socket

    sandbox.enroll()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)  # the kernel completes each handshake: a connection is queued before connect() returns
    srv.setblocking(False)
    conns = []

    def accept_queued():
        """The connections the helper made, all queued by the time it exited."""
        while True:
            try:
                conns.append(srv.accept()[0])
            except BlockingIOError:
                return
    port = srv.getsockname()[1]
    (sandbox.dir / "s3.secret").write_text("secret\n")
    (sandbox.dir / "s3.secret").chmod(0o600)
    sandbox.config.write_text(
        f"[storage]\nurl = s3+http://127.0.0.1:{port}/bucket\naccess_key = x\n"
        f"secret_key_file = {sandbox.dir}/s3.secret\nlogin_timeout = 1s\n"
        f"max_retries = 0\n[paths]\nstate_dir = {sandbox.state}\n[kdf]\ntarget_time_ms = 1\nmemory = 8M\n")
    counts = {}
    try:
        for kind in ("password", "either"):
            before = len(conns)
            r = sandbox.run(f"$B/cloudseal-helper --config $C unlock --user $U --secret {kind} >/dev/null",
                            input=frame(PASSWORD.encode()), binary=True, check=False)
            assert r.returncode == 0, r.stderr
            accept_queued()
            counts[kind] = len(conns) - before
    finally:
        srv.close()
        for c in conns:
            c.close()
    assert counts["password"] >= 1, counts       # storage was really asked
    assert counts["either"] == counts["password"], counts
