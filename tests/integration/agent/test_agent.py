# SPDX-License-Identifier: MIT
"""cloudseal-agent run directly: sd_notify protocol, keyring, control socket,
locking.  Backup-dependent tests are in test_agent_jobs.py."""
import ctypes
import errno
import json
import os
import pathlib
import select
import socket
import stat
import time

import pytest

import waits

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
AGENT = BUILD / "cloudseal-agent"
CLI = BUILD / "cloudseal"


def test_ready_status_and_watchdog_while_locked(agent, agent_env):
    _, account = agent_env
    account.enroll()  # enrolled, but no key in the keyring
    agent.start(watchdog_usec=1_000_000)
    assert agent.wait_status(lambda s: s.startswith("locked:"))
    # READY comes after the first STATUS (config, storage and account checked)
    t_ready = agent.notify.all("READY")[0][0]
    # the pings go on while locked: wait for four more (sd-event sends one
    # about every half interval; the bound only fails a stuck agent, and the
    # gaps are not timed: a loaded machine may stretch them, systemd's own
    # check is what judges them)
    agent.wait_for(lambda: len([t for t, _ in agent.notify.all("WATCHDOG") if t > t_ready]) >= 4, 60,
                   f"four WATCHDOG=1 after READY: {agent.notify.all('WATCHDOG')}")
    st = agent.request("status")
    assert st["ok"] and st["state"] == "locked" and st["unlocked"] is False
    assert st["account_id"] == account.id
    assert agent.terminate() == 0


def test_not_enrolled_is_ready_and_says_what_to_do(agent):
    agent.start()
    assert "cloudseal enroll" in agent.wait_status("not enrolled")
    assert agent.request("status")["state"] == "not-enrolled"
    assert agent.terminate() == 0


def test_invalid_config_fails_before_ready(agent, agent_env, tmp_path):
    write, _ = agent_env
    write(agent={"interval": "forever"})
    agent.start(wait_ready=False)
    assert agent.proc.wait(15) == 1
    assert not agent.notify.all("READY")
    assert "configuration" in agent.log_text()


def test_unlock_is_picked_up_by_poll_and_by_notify(agent, agent_env):
    write, account = agent_env
    write(agent={"keyring_poll": "300s", "backup": "no"})
    account.enroll()
    agent.start()
    agent.wait_status(lambda s: s.startswith("locked:"))
    account.unlock()
    # keyring_poll is 300 s: only the unlock-notify request can unlock this fast
    r = agent.request("unlock-notify")
    assert r == {"ok": True, "message": "unlocked"}
    assert agent.request("status")["unlocked"] is True
    agent.wait_status(lambda s: not s.startswith("locked"))  # raises when it stays locked
    agent.terminate()

    # and by polling, without being told
    write(agent={"keyring_poll": "1s", "backup": "no"})
    agent.proc = None
    account.unlock()
    agent.start()
    # keyring_poll is 1 s: 60 s is a failure bound only; the agent's STATUS
    # datagram or log line at the change wakes the wait
    agent.wait_for(lambda: agent.request("status")["unlocked"], 60, "the keyring poll to pick up the key")


def test_lock_request_revokes_the_key(agent, agent_env):
    write, account = agent_env
    write(agent={"backup": "no"})
    account.enroll()
    account.unlock()
    agent.start()
    assert agent.request("status")["unlocked"] is True
    assert agent.request("lock")["ok"] is True
    assert not account.in_keyring()
    st = agent.request("status")
    assert st["unlocked"] is False and st["state"] == "locked"
    agent.wait_status(lambda s: s.startswith("locked:"))
    assert agent.request("backup-now")["ok"] is False  # locked (or no backup command yet)


def test_key_removed_elsewhere_locks_the_agent(agent, agent_env):
    """`cloudseal lock` from another process revokes the keyring key: the
    agent notices on its next poll and wipes its copy."""
    write, account = agent_env
    write(agent={"backup": "no"})
    account.enroll()
    account.unlock()
    agent.start()
    assert agent.request("status")["unlocked"] is True
    account.revoke()
    agent.wait_status(lambda s: s.startswith("locked:"), timeout=10)
    assert "no longer in the keyring" in agent.log_text()


@pytest.mark.parametrize("lock,revoked", [("logout", True), ("reboot", False)])
def test_sigterm_locks_per_lock_mode(agent, agent_env, lock, revoked):
    """No logind here: a stop counts as the end of the last session."""
    write, account = agent_env
    write(session={"lock": lock}, agent={"backup": "no"})
    account.enroll()
    account.unlock()
    agent.start()
    assert agent.request("status")["unlocked"] is True
    assert agent.terminate() == 0
    assert agent.notify.wait("STOPPING") == "1"
    assert account.in_keyring() is (not revoked)
    assert not agent.socket_path.exists(), "the agent removes its own socket"


def test_control_socket_modes(agent, agent_env):
    agent_env[1].enroll()
    agent.start()
    d = agent.socket_path.parent
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(agent.socket_path.stat().st_mode) == 0o600


def test_control_socket_refuses_directory_owned_by_someone_else(agent, agent_env):
    d = agent.run_dir / "cloudseal"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    agent.start(wait_ready=False)
    assert agent.proc.wait(15) == 1
    assert "not a directory owned by" in agent.log_text()


def _connect_as_nobody(path, keep_fs_root):
    """Fork a child that becomes uid 65534 (effective) and connects.  With
    keep_fs_root it keeps fsuid 0, so path permissions let it through and
    only the agent's SO_PEERCRED check (which sees euid 65534) stands in the
    way.  Returns what the child saw: 'refused-by-fs', 'closed', or the reply."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            os.setgroups([])
            os.setresgid(65534, 65534, 0 if keep_fs_root else 65534)
            os.setresuid(0 if keep_fs_root else 65534, 65534, 0 if keep_fs_root else 65534)
            if keep_fs_root:
                libc.setfsuid(0)
                libc.setfsgid(0)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(str(path))
            except PermissionError:
                os.write(w, b"refused-by-fs")
                os._exit(0)
            try:
                s.sendall(b'{"cmd":"status"}\n')
                data = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):  # closed before reading what we sent
                data = b""
            os.write(w, data if data else b"closed")
        except BaseException as e:  # report, never fall back into pytest
            os.write(w, f"child-error {e!r}".encode())
        os._exit(0)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return out.decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another uid")
def test_peer_of_another_uid_is_refused(agent, agent_env):
    agent_env[1].enroll()
    agent.start()
    # the plain case: directory 0700 and socket 0600 keep nobody out
    assert _connect_as_nobody(agent.socket_path, keep_fs_root=False) == "refused-by-fs"
    # past the file modes: SO_PEERCRED still refuses (connection closed, no reply)
    assert _connect_as_nobody(agent.socket_path, keep_fs_root=True) == "closed"
    assert "refused a connection from uid 65534" in agent.log_text()
    # and our own uid still gets answers
    assert agent.request("status")["ok"] is True


def test_hostile_requests_get_errors_not_crashes(agent, agent_env):
    agent_env[1].enroll()
    agent.start()
    assert agent.request(None, raw=b"not json\n") == {"ok": False, "error": "malformed request"}
    assert agent.request(None, raw=b'{"cmd":"rm -rf"}\n') == {"ok": False, "error": "unknown command"}
    assert agent.request(None, raw=b'{"cmd":1}\n')["ok"] is False
    assert agent.request(None, raw=b'[1,2]\n')["ok"] is False
    assert agent.request(None, raw=b'{"cmd":"status"} {"cmd":"lock"}\n')["ok"] is False
    assert agent.request(None, raw=b"\0\n")["ok"] is False
    assert agent.request(None, raw=b"[" * 5000 + b"\n") == {"ok": False, "error": "request too long"}
    # a client that connects and says nothing is dropped, and does not block others
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(str(agent.socket_path))
    assert agent.request("status")["ok"] is True
    idle.settimeout(10)
    assert idle.recv(10) == b""  # closed by the agent after its 5 s limit
    idle.close()
    assert agent.proc.poll() is None


def test_corrupt_state_file_is_ignored_with_a_warning(agent, agent_env):
    agent_env[1].enroll()
    d = agent.state_home / "cloudseal"
    d.mkdir(parents=True)
    (d / "agent-state.json").write_text('{"jobs":{"backup":{"last_run":-5}}}')
    agent.start()
    assert "ignoring" in agent.log_text()
    assert agent.request("status")["ok"] is True


def test_cloudseal_status_shows_the_agent(agent, agent_env):
    agent_env[1].enroll()
    r = agent.cli("status", check=False)
    assert "Agent:        not running" in r.stdout
    agent.start()
    agent.wait_status("locked")
    r = agent.cli("status")
    assert "Agent:        running" in r.stdout and "locked" in r.stdout
    j = json.loads(agent.cli("--json", "status").stdout)
    assert j["agent"]["running"] is True and j["agent"]["state"] == "locked"
    r = agent.cli("agent", "backup-now", check=False)
    assert r.returncode != 0 and ("unlock" in r.stderr or "not available" in r.stderr)


def test_socket_activation(agent, agent_env, tmp_path):
    """Started by cloudseal-agent.socket: the agent serves the socket it is
    given (LISTEN_FDS), and does not create one of its own."""
    import shutil
    import subprocess
    if not shutil.which("systemd-socket-activate"):
        pytest.fail("systemd-socket-activate missing (package systemd): run make deps")
    agent_env[1].enroll()
    sock = tmp_path / "activated.sock"
    p = subprocess.Popen(["systemd-socket-activate", "-l", str(sock), "-E", "XDG_RUNTIME_DIR",
                          "-E", "XDG_STATE_HOME", "-E", "CLOUDSEAL_CONFIG", str(AGENT)],
                         env=agent.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # it says "Listening on PATH" after listen(2); the file appears at bind(2)
        ready, _, _ = select.select([p.stderr], [], [], 30)
        assert ready and "Listening on" in p.stderr.readline(), "systemd-socket-activate did not listen"
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(15)
        c.connect(str(sock))  # the first connection starts the agent
        c.sendall(b'{"cmd":"status"}\n')
        reply = json.loads(c.makefile().readline())
        assert reply["ok"] is True and reply["state"] == "locked"
        assert not agent.socket_path.exists()
    finally:
        p.terminate()
        p.wait(30)


def test_second_agent_refuses_to_start(agent, agent_env, tmp_path):
    import subprocess
    agent_env[1].enroll()
    agent.start()
    r = subprocess.run([str(AGENT)], env=agent.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "already serves" in r.stderr, r.stderr
    assert agent.request("status")["ok"] is True  # the first one still has its socket


def test_cloudseal_lock_tells_the_agent(agent, agent_env):
    """`cloudseal lock` revokes the key and tells the agent at once (it does
    not wait for the next keyring poll)."""
    write, account = agent_env
    write(agent={"backup": "no", "keyring_poll": "300s"})
    account.enroll()
    account.unlock()
    agent.start()
    assert agent.request("status")["unlocked"] is True
    t = time.monotonic()
    r = agent.cli("lock", check=False)
    assert r.returncode == 0, r.stderr
    agent.wait_status(lambda s: s.startswith("locked:"), timeout=60, since=t)  # the poll would take 300 s
    assert agent.request("status")["unlocked"] is False
    assert not account.in_keyring()


def _send_and_hang_up(path, cmd):
    """A client that sends its request and goes away without the reply (a
    `cloudseal lock` that timed out, or was killed)."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(str(path))
    c.sendall((json.dumps({"cmd": cmd}) + "\n").encode())
    c.close()


def test_request_queued_while_the_agent_was_down_is_dropped(agent, agent_env, tmp_path):
    """The packaging test's failure: `cloudseal lock` sent while the unit
    could not start sat in the socket unit's queue and locked the agent a
    minute later, right after it had unlocked.  A request whose client has
    gone away is dropped; a connected client is still served."""
    write, account = agent_env
    write(agent={"backup": "no", "keyring_poll": "300s"})
    account.enroll()
    account.unlock()
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(str(tmp_path / "activated.sock"))
    lsock.listen(16)
    _send_and_hang_up(tmp_path / "activated.sock", "lock")  # queued before the agent runs
    waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # one that waits for its answer
    waiting.settimeout(15)
    waiting.connect(str(tmp_path / "activated.sock"))
    waiting.sendall(b'{"cmd":"status"}\n')
    agent.start(listen_sock=lsock)
    lsock.close()
    reply = json.loads(waiting.makefile().readline())
    waiting.close()
    assert reply["ok"] is True
    assert agent.request_via(tmp_path / "activated.sock", "status")["unlocked"] is True
    assert account.in_keyring()
    assert "dropped a request from a client that has gone away" in agent.log_text()
    assert "locked: cloudseal lock" not in agent.log_text()


def test_request_from_a_client_that_hung_up_is_not_carried_out(agent, agent_env):
    """The agent was busy (here: stopped) while a client sent `lock` and hung
    up: when the agent gets to it, the client is gone and nothing happens."""
    import signal
    write, account = agent_env
    write(agent={"backup": "no", "keyring_poll": "300s"})
    account.enroll()
    account.unlock()
    agent.start()
    assert agent.request("status")["unlocked"] is True
    agent.proc.send_signal(signal.SIGSTOP)
    try:
        _send_and_hang_up(agent.socket_path, "lock")
        _send_and_hang_up(agent.socket_path, "backup-now")
    finally:
        agent.proc.send_signal(signal.SIGCONT)
    agent.wait_log("dropped a request", 10, count=2)
    assert agent.log_text().count("dropped a request") == 2, agent.log_text()
    st = agent.request("status")
    assert st["unlocked"] is True and st["state"] == "idle", st
    assert account.in_keyring()
    # a client that shut down only its sending side still waits: it is served
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(str(agent.socket_path))
    c.sendall(b'{"cmd":"status"}\n')
    c.shutdown(socket.SHUT_WR)
    assert json.loads(c.makefile().readline())["unlocked"] is True
    c.close()
    # a client that waits for its answer is still served: lock works
    assert agent.request("lock")["ok"] is True
    assert not account.in_keyring()


def test_state_lives_in_local_state_not_state_directory(agent, agent_env, tmp_path):
    """Under systemd 252 StateDirectory= of a user unit is ~/.config (inside
    the backed-up home) and sets $STATE_DIRECTORY to it: the agent ignores
    it and uses ~/.local/state/cloudseal (mode 0700), the path the default
    backup exclude names.  A state file an older agent left in
    ~/.config/cloudseal is moved there once, and its content is used."""
    agent_env[1].enroll()
    home = tmp_path / "home"
    old = home / ".config" / "cloudseal" / "agent-state.json"
    old.parent.mkdir(parents=True)
    last = int(time.time()) - 60
    old.write_text(json.dumps({"jobs": {"backup": {"last_run": last, "last_success": last,
                                                   "last_result": "ok", "last_error": "", "failures": 0}}}))
    agent.env.pop("XDG_STATE_HOME")
    agent.env.pop("XDG_CONFIG_HOME", None)
    agent.env.update(HOME=str(home), STATE_DIRECTORY=str(home / ".config" / "cloudseal"))
    agent.start()
    new = home / ".local" / "state" / "cloudseal" / "agent-state.json"
    assert new.exists() and not old.exists()
    assert not old.parent.exists()  # nothing else was in it
    for d in (new.parent, new.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    job = next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")
    assert job["last_success"] == last  # the migrated file was read
    assert "moved the state file" in agent.log_text()
    assert agent.terminate() == 0

    # once: a later start with a (stale) file in the old place keeps the new one
    old.parent.mkdir()
    old.write_text('{"jobs":{}}')
    agent.start()
    assert old.exists()
    job = next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")
    assert job["last_success"] == last
    assert agent.terminate() == 0


def test_state_directory_follows_xdg_state_home(agent, agent_env):
    agent_env[1].enroll()
    agent.env["STATE_DIRECTORY"] = str(agent.tmp / "elsewhere")
    agent.start()
    d = agent.state_home / "cloudseal"
    assert d.is_dir() and stat.S_IMODE(d.stat().st_mode) == 0o700
    assert not (agent.tmp / "elsewhere").exists()
    assert agent.terminate() == 0


def test_state_migration_across_file_systems(agent, agent_env):
    """~/.config on another file system than the state directory: rename()
    fails with EXDEV, the file is copied and the old one removed."""
    import shutil
    import tempfile
    other = next((d for d in ("/dev/shm", "/run", "/var/tmp", "/tmp", str(BUILD))
                  if os.path.isdir(d) and os.stat(d).st_dev != os.stat(agent.tmp).st_dev), None)
    assert other, "no directory on another file system than the test directory"
    agent_env[1].enroll()
    cfg_home = pathlib.Path(tempfile.mkdtemp(dir=other, prefix="cs-agent-test-"))
    try:
        old = cfg_home / "cloudseal" / "agent-state.json"
        old.parent.mkdir()
        old.write_text(json.dumps({"jobs": {"backup": {"last_run": 1234, "last_success": 1234,
                                                       "last_result": "ok", "last_error": "",
                                                       "failures": 0}}}))
        agent.env["XDG_CONFIG_HOME"] = str(cfg_home)
        agent.start()
        new = agent.state_home / "cloudseal" / "agent-state.json"
        assert new.exists() and not old.exists()
        assert stat.S_IMODE(new.stat().st_mode) == 0o600
        job = next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")
        assert job["last_success"] == 1234
        assert agent.terminate() == 0
    finally:
        shutil.rmtree(cfg_home, ignore_errors=True)


def test_agent_files_a_missing_escrow_once(agent, agent_env, tmp_path):
    """In a fleet whose signed directory names an escrow key, an account
    enrolled without an escrow object (before the policy) gets one filed by
    the agent after the first unlock; a restart finds it in place.  The same
    for the keybag seal (an account enrolled before seals existed)."""
    import subprocess
    write, account = agent_env
    (tmp_path / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (tmp_path / "group").write_text("root:x:0:\n")
    fleet = {"public_key_file": tmp_path / "fleet.pub", "secret_key_file": tmp_path / "fleet.key",
             "source": tmp_path / "directory.json", "cache": tmp_path / "directory.cache",
             "state": tmp_path / "directory.state", "local_passwd": tmp_path / "passwd",
             "local_group": tmp_path / "group"}
    cfg = write(agent={"backup": "no"}, fleet={k: str(v) for k, v in fleet.items()})

    def cs(*args, prog=CLI):
        r = subprocess.run([str(prog), "--config", str(cfg), *args], capture_output=True, text=True,
                           timeout=60, cwd=str(tmp_path))
        assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
        return r

    cs("admin", "keygen", "--secret", str(tmp_path / "fleet.key"), "--public", str(tmp_path / "fleet.pub"),
       "--escrow-secret", str(tmp_path / "escrow.key"), "--escrow-public", str(tmp_path / "escrow.pub"))
    epk = [l for l in (tmp_path / "escrow.pub").read_text().splitlines() if l and not l.startswith("#")][0]
    cs("admin", "init", "--fleet", "t", "--escrow-key", epk)
    cs("admin", "publish", "--no-upload", "--output", str(tmp_path / "signed"))
    (tmp_path / "storage" / "fleet").mkdir(parents=True, exist_ok=True)
    (tmp_path / "storage" / "fleet" / "directory").write_bytes((tmp_path / "signed").read_bytes())
    cs("directory-sync", prog=BUILD / "cloudseal-helper")
    account.enroll()  # like an account made before the policy: no escrow object
    account.unlock()
    escrow = tmp_path / "storage" / "users" / account.user / "escrow"
    assert not escrow.exists()
    seal = tmp_path / "storage" / "users" / account.user / "keybag-seal"
    assert json.loads(seal.read_text())["generation"] == 1  # enroll filed one
    seal.unlink()

    agent.start()
    agent.wait_status(lambda s: s.startswith("idle") or s == "unlocked", timeout=30)
    waits.wait_for_change([escrow, seal], lambda: escrow.exists() and seal.exists(), 10,
                          f"{escrow} and {seal}")
    doc = json.loads(escrow.read_text())
    assert doc["user"] == account.user and doc["account_id"] == account.id and doc["escrow_key"] == epk
    assert "filed the escrow of your account key" in agent.log_text()
    doc = json.loads(seal.read_text())
    assert doc["user"] == account.user and doc["generation"] == 1
    assert "filed the seal of your current keybag" in agent.log_text()
    assert agent.terminate() == 0

    account.unlock()  # the stop locked (lock = logout, no logind here)
    before = escrow.read_bytes()
    agent.start()
    # the escrow check runs at the unlock, before that STATUS is sent
    agent.wait_status(lambda s: s.startswith("idle") or s == "unlocked", timeout=30)
    assert escrow.read_bytes() == before
    assert agent.log_text().count("filed the escrow") == 1  # the log spans both runs
    assert agent.log_text().count("filed the seal") == 1
