# SPDX-License-Identifier: MIT
"""Password logins through a real sshd unlock the keys, by both methods
(issue 20): with keyboard-interactive, sshd authenticates in a child process
and opens the session in its parent, so the key is parked in root's keyring
at auth and collected at session open (pam_cloudseal(8) "SSH LOGINS").
The sshd and its sandbox: conftest.py."""
import concurrent.futures
import json
import importlib.util
import pathlib
import subprocess

import pytest

import uids
import waits

_spec = importlib.util.spec_from_file_location("cs_ssh_conftest", pathlib.Path(__file__).with_name("conftest.py"))
_c = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_c)
USER, UID, PASSWORD, parked_keys = _c.USER, _c.UID, _c.PASSWORD, _c.parked_keys


def in_session(account_id):
    """The session's view: bytes of the key readable from @u, then its env."""
    return ("keyctl session - sh -c 'keyctl link @u @s >/dev/null; "
            f"k=$(keyctl search @u user cloudseal:amk:{account_id}) && keyctl pipe $k | wc -c || echo 0'; "
            "echo ---; env")


def key_and_env(out):
    n, _, env = out.partition("---\n")
    return int(n.split()[-1]), env


@pytest.mark.parametrize("method", ["password", "keyboard-interactive"])
def test_password_login_over_ssh_unlocks(sshd_factory, sandbox, method):
    sandbox.enroll()
    sshd = sshd_factory(module_opts="debug")
    out = sshd.ssh(in_session(sandbox._account_id), method=method).stdout
    n, env = key_and_env(out)
    assert n == 32, f"{method}: the key is not in the user's @u\n{out}\n{sshd.syslog()}"
    assert "CLOUDSEAL" not in env, f"the handle reached the session's environment:\n{env}"
    assert parked_keys() == [], "the parked key outlived the session step"
    # both methods take the same path: parked at auth, collected at session open
    assert "parked for the session" in sshd.syslog()
    assert "unlocked into the user keyring" in sshd.syslog()


def test_keyboard_interactive_with_a_second_factor(sshd_factory, sandbox, tmp_path):
    """A module after ours asks again (a second factor): the key still arrives."""
    sandbox.enroll()
    sshd = sshd_factory(second_factor=True)
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\ncase $1 in *code*) echo 123456;; *) echo '{PASSWORD}';; esac\n")
    askpass.chmod(0o755)
    out = sshd.ssh(in_session(sandbox._account_id), method="keyboard-interactive", askpass=askpass).stdout
    n, env = key_and_env(out)
    assert n == 32, f"the key is not in the user's @u\n{out}\n{sshd.syslog()}"
    assert "CLOUDSEAL" not in env


def test_wrong_password_parks_nothing(sshd_factory, sandbox):
    """A refused password parks nothing; the right one on the next
    connection to the same sshd unlocks."""
    sandbox.enroll()
    sshd = sshd_factory()
    r = sshd.ssh("true", method="keyboard-interactive", password="not-the-password", check=False)
    assert r.returncode != 0
    assert parked_keys() == []
    assert sandbox.key_bytes() == 0
    assert "parked" not in sshd.syslog()
    n, _ = key_and_env(sshd.ssh(in_session(sandbox._account_id), method="keyboard-interactive").stdout)
    assert n == 32


def test_abandoned_login_expires(sshd_factory, sandbox, tmp_path):
    """Auth by our module succeeded, then the client went away at the second
    prompt: no session step ever runs; the parked key expires by itself."""
    sandbox.enroll()
    # long enough that a loaded machine still sees the key before it expires
    sshd = sshd_factory(second_factor=True, module_opts="park_timeout=10")
    askpass = tmp_path / "askpass"
    # first prompt: the password; second: kill the client (the connection drops)
    askpass.write_text(f"#!/bin/sh\ncase $1 in *code*) kill -9 $PPID; exit 1;; esac\necho '{PASSWORD}'\n")
    askpass.chmod(0o755)
    r = sshd.ssh("true", method="keyboard-interactive", askpass=askpass, check=False)
    assert r.returncode != 0
    # the client may see the next prompt (and die) before the key is parked;
    # the keyring announces nothing this test could wait on: polled
    parked = waits.wait_until(lambda: parked_keys() or None, 10,
                              lambda: f"one parked key after auth:\n{parked_keys()}\n{sshd.syslog()}")
    assert len(parked) == 1, f"expected one parked key after auth:\n{parked}\n{sshd.syslog()}"
    # a key expiring by itself (park_timeout 10 s) sends no event: polled,
    # 10 s plus a failure bound
    waits.wait_until(lambda: not parked_keys(), 10 + 10, "the abandoned parked key to expire")
    assert sandbox.key_bytes() == 0


def test_two_users_at_once_each_get_their_own_key(sshd_factory, sandbox):
    """Two keyboard-interactive logins in parallel: each session finds its
    own account's key in its own @u, neither the other's."""
    sandbox.enroll()
    uid2, user2, pw2 = uids.local(2), "cssshtwo", "An0ther-pass"
    id2 = _c.add_user(sandbox, user2, uid2, pw2)
    sshd = sshd_factory()
    both = (in_session(sandbox._account_id) + "; " + in_session(id2).split("; echo ---")[0],
            in_session(id2) + "; " + in_session(sandbox._account_id).split("; echo ---")[0])
    # both sessions open at once: each checks only when the other has
    # arrived, and leaves only when the other has checked (files in a
    # directory both users may write)
    bar = sandbox.dir / "barrier"
    bar.mkdir(mode=0o1777)
    bar.chmod(0o1777)
    w = pathlib.Path(waits.__file__).resolve()

    def met(me, other, check):
        return (f"touch {bar}/in-{me}; python3 {w} exists {bar}/in-{other} 60 && {{ {check}; }}; "
                f"touch {bar}/out-{me}; python3 {w} exists {bar}/out-{other} 60")
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            a = ex.submit(sshd.ssh, met("a", "b", both[0]), method="keyboard-interactive")
            b = ex.submit(sshd.ssh, met("b", "a", both[1]), method="keyboard-interactive", user=user2, password=pw2)
            outs = a.result().stdout, b.result().stdout
    finally:
        _c.clear_keys(uid2)
    for out in outs:
        own, rest = key_and_env(out)
        assert own == 32, f"{out}\n{sshd.syslog()}"
        assert int(rest.split()[-1]) == 0, f"the other user's key is readable:\n{out}"
    assert parked_keys() == [] and parked_keys(uid2) == []


def test_key_login_is_locked_with_a_hint_on_interactive_sessions_only(sshd_factory, sandbox, tmp_path):
    """An SSH key login has no password: the keys stay locked, an
    interactive (pty) session is told once how to unlock, a command or
    scp/sftp-like session (no pty) is not; `cloudseal unlock` then works."""
    sandbox.enroll()
    sshd = sshd_factory()
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    auth = sandbox.dir / "authorized_keys"
    auth.write_text(pathlib.Path(f"{key}.pub").read_text())
    auth.chmod(0o644)
    hint = "run 'cloudseal unlock'"
    tty = sshd.ssh(None, identity=key, stdin="exit\n")
    assert tty.stdout.count(hint) == 1, f"no hint on the interactive session:\n{tty.stdout}\n{sshd.syslog()}"
    plain = sshd.ssh(in_session(sandbox._account_id), identity=key)
    assert hint not in plain.stdout + plain.stderr
    assert key_and_env(plain.stdout)[0] == 0, "a key login unlocked the keys"
    status = sshd.ssh(f"{sandbox.build}/cloudseal --config {sandbox.config} status", identity=key).stdout
    assert "Unlocked:     no" in status and hint in status, status
    unlocked = sshd.ssh(f"{sandbox.build}/cloudseal --config {sandbox.config} unlock --password-stdin <<EOF\n{PASSWORD}\nEOF\n"
                        + in_session(sandbox._account_id), identity=key)
    assert key_and_env(unlocked.stdout)[0] == 32, unlocked.stdout + unlocked.stderr


AMK_BYTES = ("keyctl session - sh -c 'keyctl link @u @s >/dev/null; for id in $(keyctl rlist @u); do "
             "case $(keyctl rdescribe $id) in *cloudseal:amk:*) keyctl pipe $id | wc -c;; esac; done; echo 0'")


def test_fleet_one_time_password_must_be_changed_over_ssh(sshd_factory, sandbox, tmp_path):
    """A fleet user's first login over ssh with the administrator's one-time
    password: keyboard-interactive asks for a new password (as login(1)
    does), the session gets the key, the one-time password stops working."""
    fl = _c.fleet_login
    f = fl.new_fleet(sandbox)
    otp = json.loads(f.admin("enroll-user", fl.FUSER))["one_time_password"]
    f.publish()
    prelude = (f"mount -t overlay cs-lib -o lowerdir={fl.LIBDIR},upperdir=$D/lib,workdir=$D/lib-work {fl.LIBDIR}\n"
               "mount -t tmpfs -o mode=755 cs-varlib /var/lib\n"
               "mkdir -p /var/lib/cloudseal && mount --bind $D/nss /var/lib/cloudseal\n")
    sshd = sshd_factory(prelude=prelude)
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\necho \"$1\" >> {tmp_path}/prompts\n"
                       f"case $1 in *[Nn]ew*) echo '{fl.FLEET_PW}';; *) echo '{otp}';; esac\n")
    askpass.chmod(0o755)
    try:
        r = sshd.ssh(AMK_BYTES, method="keyboard-interactive", user=fl.FUSER, askpass=askpass)
        prompts = (tmp_path / "prompts").read_text()
        assert "New password" in prompts and "Retype new password" in prompts, prompts
        assert int(r.stdout.split()[0]) == 32, f"{r.stdout}\n{sshd.syslog()}"
        assert "password of fleet user fleetie changed" in sshd.syslog()
        assert sshd.ssh("true", method="keyboard-interactive", user=fl.FUSER, password=otp,
                        check=False).returncode != 0
        r = sshd.ssh(AMK_BYTES, method="keyboard-interactive", user=fl.FUSER, password=fl.FLEET_PW)
        assert int(r.stdout.split()[0]) == 32
    finally:
        f.clear_keys()
