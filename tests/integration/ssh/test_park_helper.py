# SPDX-License-Identifier: MIT
"""cloudseal-helper park and collect on their own (the module's half is in
test_ssh_login.py): root only, the handle is checked before use, a parked
key is bound to its uid and to the process that opens the session, and it
is gone after one try, whatever the outcome."""
import importlib.util
import os
import pathlib
import struct
import subprocess

_spec = importlib.util.spec_from_file_location("cs_ssh_conftest_park", pathlib.Path(__file__).with_name("conftest.py"))
_c = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_c)
USER, UID, PASSWORD, parked_keys = _c.USER, _c.UID, _c.PASSWORD, _c.parked_keys


def frame(b):
    return struct.pack(">I", len(b)) + b


def helper(sb, *args, data=b"", as_uid=None):
    """The helper in the sandbox's namespace (where the test user exists),
    exec'd by the namespace's shell: its parent is this test process."""
    import shlex
    drop = f"setpriv --reuid={as_uid} --regid={as_uid} --clear-groups " if as_uid is not None else ""
    r = sb.run(f"exec {drop}$B/cloudseal-helper --config $C " + " ".join(map(shlex.quote, args)),
               input=data, check=False, binary=True)
    return r


def park(sb, bind=None):
    r = helper(sb, "park", "--user", USER, "--secret", "password", "--bind", bind or f"{os.getpid()},1",
               "--timeout-park", "30", data=frame(PASSWORD.encode()))
    assert r.returncode == 0, r.stderr
    n = struct.unpack(">I", r.stdout[:4])[0]
    assert n == 32 and len(r.stdout) == 36
    return r.stdout[4:]


def collect(sb, handle, user=USER):
    return helper(sb, "collect", "--user", user, data=frame(handle))


def test_collect_moves_the_key_once(sandbox):
    sandbox.enroll()
    h = park(sandbox)
    assert len(parked_keys()) == 1
    r = collect(sandbox, h)
    assert r.returncode == 0, r.stderr
    assert sandbox.key_bytes() == 32
    assert parked_keys() == []
    assert collect(sandbox, h).returncode == 17  # once only


def test_malformed_handles_are_refused(sandbox):
    sandbox.enroll()
    h = park(sandbox)
    for bad in (h[:-1], h + b"0", h.upper(), b"g" * 32, b"", b"x" * 4096):
        r = collect(sandbox, bad)
        assert r.returncode == 2, (bad, r.stderr)
    r = helper(sandbox, "collect", "--user", USER, data=struct.pack(">I", 5000) + b"a" * 64)
    assert r.returncode == 2
    r = helper(sandbox, "collect", "--user", USER, data=struct.pack(">I", 32) + h[:10])  # truncated
    assert r.returncode == 2
    assert len(parked_keys()) == 1  # none of these touched it
    assert collect(sandbox, h).returncode == 0


def test_another_handle_or_user_finds_nothing(sandbox):
    sandbox.enroll()
    h = park(sandbox)
    other = bytes(reversed(h))
    assert collect(sandbox, other if other != h else b"0" * 32).returncode == 17
    assert collect(sandbox, h, user="root").returncode == 17  # the handle is the uid's
    assert sandbox.key_bytes() == 0
    assert collect(sandbox, h).returncode == 0


def test_a_key_bound_to_other_processes_is_refused_and_revoked(sandbox):
    sandbox.enroll()
    h = park(sandbox, bind="1,1")
    r = collect(sandbox, h)
    assert r.returncode == 16 and b"not for this session" in r.stderr, r.stderr
    assert sandbox.key_bytes() == 0
    assert parked_keys() == []  # one try: revoked all the same


def test_park_and_collect_are_root_only(sandbox):
    sandbox.enroll()
    r = helper(sandbox, "park", "--user", USER, "--secret", "password", "--bind", "1,1",
               data=frame(PASSWORD.encode()), as_uid=UID)
    assert r.returncode == 16 and parked_keys() == []
    h = park(sandbox)
    assert helper(sandbox, "collect", "--user", USER, data=frame(h), as_uid=UID).returncode == 16
    assert len(parked_keys()) == 1
    assert collect(sandbox, h).returncode == 0


def test_wrong_password_parks_nothing(sandbox):
    sandbox.enroll()
    r = helper(sandbox, "park", "--user", USER, "--secret", "password", "--bind", "1,1",
               data=frame(b"wrong"))
    assert r.returncode == 10 and r.stdout == b""
    assert parked_keys() == []
