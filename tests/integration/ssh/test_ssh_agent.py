# SPDX-License-Identifier: MIT
"""The user's agent across an SSH key login (issue 20, item 3): a key login
has no password, so the session starts without the key; the agent waits for
it (ready, "locked: waiting for the key", no job), `cloudseal status` in the
session says to unlock, and `cloudseal unlock` over that session wakes the
agent, which backs up.

The agent runs as in tests/integration/agent (directly, NOTIFY_SOCKET read
by the test), as the sandbox's test user in a mount namespace with the
sandbox's /etc (where that user exists), and with an XDG_RUNTIME_DIR of its
own that the ssh session's commands are given as pam_systemd would."""
import concurrent.futures
import importlib.util
import os
import pathlib
import re
import subprocess
import time

import waits

_here = pathlib.Path(__file__).resolve().parent


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_c = _load("cs_ssh_conftest_for_agent", _here / "conftest.py")
_agent = _load("cs_agent_conftest_for_ssh", _here.parent / "agent" / "conftest.py")
USER, UID, PASSWORD = _c.USER, _c.UID, _c.PASSWORD
LOCKED = "locked: waiting for the key (run 'cloudseal unlock')"


class SandboxAgent:
    """cloudseal-agent as the sandbox's user; its log in $D/agent.log."""

    def __init__(self, sb):
        d = sb.dir
        self.sb = sb
        self.runtime = d / "xdg-run"
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, UID, UID)
        # the agent (the test user) sends to it: a directory it may enter
        (d / "notify").mkdir(mode=0o755)
        self.notify = _agent.NotifyListener(d / "notify" / "sock")
        os.chmod(d / "notify" / "sock", 0o777)
        self.log = d / "agent.log"
        env = (f"env -i HOME={sb.home} XDG_RUNTIME_DIR={self.runtime} NOTIFY_SOCKET={self.notify.path} "
               f"PATH=/usr/bin:/bin")
        script = ("set -eu\n"
                  f"export D={d}\n"
                  "mount -t overlay cs-etc -o lowerdir=/etc,upperdir=$D/etc,workdir=$D/etc-work /etc\n"
                  f"exec {sb.as_user(f'exec {env} {sb.build}/cloudseal-agent --debug --config {sb.config}')}"
                  f" >>{self.log} 2>&1\n")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                     start_new_session=True)
        try:
            self.notify.wait("READY", timeout=60)  # a failure bound
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log_text()}") from None

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_status(self, pred, timeout=60, since=0.0):
        try:
            return self.notify.wait("STATUS", pred, timeout, since)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log_text()}") from None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.notify.close()


def test_key_login_agent_waits_then_unlock_over_ssh_backs_up(sshd_factory, sandbox, tmp_path):
    sandbox.enroll()
    data = sandbox.home / "data"
    data.mkdir()
    (data / "thesis.txt").write_text("precious\n")
    os.chown(data, UID, UID)
    # keyring_poll 300 s: only `cloudseal unlock` telling the agent explains a prompt wake-up
    with open(sandbox.config, "a") as f:
        f.write(f"[agent]\ncloudseal = {sandbox.build}/cloudseal\nrandomized_delay = 0\nkeyring_poll = 300s\n"
                f"archive_sync = no\n[backup]\npaths = {data}\n")
    sshd = sshd_factory()
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    auth = sandbox.dir / "authorized_keys"
    auth.write_text(pathlib.Path(f"{key}.pub").read_text())
    auth.chmod(0o644)
    agent = SandboxAgent(sandbox)
    try:
        assert agent.wait_status(lambda s: s.startswith("locked")) == LOCKED
        cs = f"XDG_RUNTIME_DIR={agent.runtime} {sandbox.build}/cloudseal --config {sandbox.config}"
        status = sshd.ssh(f"{cs} status", identity=key).stdout
        assert "Unlocked:     no (locked: run 'cloudseal unlock'" in status, status
        assert re.search(r"Agent: +running \(pid \d+\), " + re.escape(LOCKED), status), status
        assert "starting backup" not in agent.log_text()

        # the session stays open until the backup is seen: with lock = logout
        # its end would lock again (the user logged out)
        done = sandbox.dir / "done"
        t = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            session = pool.submit(sshd.ssh, f"{cs} unlock --password-stdin && "
                                  f"python3 {waits.__file__} exists {done} 300", identity=key,
                                  stdin=PASSWORD + "\n", timeout=300)
            try:
                agent.wait_status(lambda s: s.startswith("idle, next backup"), timeout=180, since=t)
            finally:
                done.touch()
            r = session.result()
        assert "Unlocked." in r.stdout, r.stdout + r.stderr
        log = agent.log_text()
        assert re.search(r"backup: snapshot [0-9a-f]+ saved", log), log
        assert "control: unlock-notify" in log, log
        assert agent.proc.poll() is None
    finally:
        agent.stop()
