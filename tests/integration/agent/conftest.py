# SPDX-License-Identifier: MIT
"""Fixtures for cloudseal-agent tests: the agent run directly (not under
systemd) with NOTIFY_SOCKET pointed at a datagram socket we read, a private
XDG_RUNTIME_DIR and state directory, a test configuration, and a real key in
the kernel keyring under a fresh (random) account id, so that parallel test
runs never share a key."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import waits

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
AGENT = BUILD / "cloudseal-agent"
CLI = BUILD / "cloudseal"
KEYTOOL = BUILD / "tests" / "agent-keytool"
PASSWORD = "correct horse battery staple\n"


def keyring_has(account_id):
    r = subprocess.run(["keyctl", "search", "@u", "user", f"cloudseal:amk:{account_id}"],
                       capture_output=True, text=True)
    return r.returncode == 0


def keyring_revoke(account_id):
    r = subprocess.run(["keyctl", "search", "@u", "user", f"cloudseal:amk:{account_id}"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        subprocess.run(["keyctl", "revoke", r.stdout.strip()], capture_output=True)
        subprocess.run(["keyctl", "unlink", r.stdout.strip(), "@u"], capture_output=True)


class NotifyListener:
    """Collects sd_notify datagrams (READY=1, STATUS=..., WATCHDOG=1)."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic time, {field: value})
        self.lock = threading.Condition()  # notified at every datagram: wait() sleeps until one
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = {}
            for line in data.decode().split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.lock:
                self.messages.append((time.monotonic(), fields))
                self.lock.notify_all()
            # a file change too, so Agent.wait_for() wakes up on a datagram
            with open(self.path + ".log", "ab") as f:
                f.write(data + b"\n")

    def all(self, key):
        with self.lock:
            return [(t, f[key]) for t, f in self.messages if key in f]

    def wait(self, key, pred=lambda v: True, timeout=30, since=0.0):
        """The first value of key matching pred, sent after `since`."""
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                for t, f in self.messages:
                    if key in f and t > since and pred(f[key]):
                        return f[key]
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.lock.wait(left)
        raise AssertionError(f"no {key} matching within {timeout}s; got {self.all(key)}")

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


class Agent:
    def __init__(self, tmp_path, config):
        self.tmp = tmp_path
        self.config = config
        self.run_dir = tmp_path / "run"
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        self.state_home = tmp_path / "xdg-state"
        self.proc = None
        self.notify = None
        self.log = tmp_path / "agent.log"
        self.wrap = []  # argv the agent is started through (it must exec it)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(self.run_dir),
                        XDG_STATE_HOME=str(self.state_home), CLOUDSEAL_CONFIG=str(config))
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                  "JOURNAL_STREAM", "STATE_DIRECTORY"):
            self.env.pop(k, None)

    @property
    def socket_path(self):
        return self.run_dir / "cloudseal" / "agent.sock"

    def start(self, watchdog_usec=None, wait_ready=True, listen_sock=None):
        """listen_sock: a listening socket handed over as systemd's socket
        activation does (fd 3, LISTEN_FDS=1, LISTEN_PID of the agent)."""
        n = 0
        while (self.tmp / f"notify{n}.sock").exists():
            n += 1
        if self.notify:
            self.notify.close()
        self.notify = NotifyListener(self.tmp / f"notify{n}.sock")
        env = dict(self.env, NOTIFY_SOCKET=self.notify.path)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.logf = open(self.log, "a")
        cmd, fds = [*self.wrap, str(AGENT), "--debug"], ()
        if listen_sock is not None:
            n = listen_sock.fileno()
            # fd 3, and LISTEN_PID must be the agent's pid: set them, then exec
            cmd = [sys.executable, "-c", "import os, sys\n"
                   "n = int(sys.argv[1])\n"
                   "if n != 3: os.dup2(n, 3); os.close(n)\n"
                   "os.set_inheritable(3, True)\n"
                   "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
                   "os.execv(sys.argv[2], sys.argv[2:])\n", str(n), *cmd]
            fds = (n,)
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf, pass_fds=fds)
        if wait_ready:
            # 60 s: a failure bound (setup runs the CLI twice); an agent that
            # exits before READY fails the wait at once, with its log
            try:
                self.wait_for(lambda: self.notify.all("READY"), 60, "READY=1")
            except AssertionError as e:
                raise AssertionError(f"{e}\nagent exit status: {self.proc.poll()}; its log:\n"
                                     f"{self.log_text()[-4000:]}") from None
        return self

    def status(self, timeout=10):
        return self.notify.wait("STATUS", timeout=timeout)

    def wait_status(self, pred, timeout=60, since=0.0):
        if isinstance(pred, str):
            s = pred
            pred = lambda v: s in v  # noqa: E731
        return self.notify.wait("STATUS", pred, timeout, since)

    def request(self, cmd, raw=None):
        return self.request_via(self.socket_path, cmd, raw)

    def request_via(self, path, cmd, raw=None):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(10)
        c.connect(str(path))
        c.sendall(raw if raw is not None else (json.dumps({"cmd": cmd}) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        return json.loads(data) if data else None

    def cli(self, *args, check=True, input_text=None):
        r = subprocess.run([str(CLI), *args], env=self.env, capture_output=True, text=True, timeout=120,
                           input=input_text)
        if check and r.returncode != 0:
            raise AssertionError(f"cloudseal {args} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ""

    def wait_for(self, pred, timeout=60, what="the agent"):
        """pred() re-checked whenever the agent logs a line or sends a
        notify datagram (both land in files of self.tmp); fails at once if
        the agent exits meanwhile.  Returns pred's true value."""
        return waits.wait_for_change([self.tmp], pred, timeout,
                                     lambda: f"{what}; the agent's log:\n{self.log_text()[-3000:]}",
                                     pid=self.proc.pid)

    def wait_log(self, text, timeout=60, count=1):
        return self.wait_for(lambda: self.log_text().count(text) >= count, timeout,
                             f"{count}x '{text}' in the agent's log")

    def terminate(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("agent did not stop on SIGTERM in time")
        return self.proc.returncode if self.proc else None

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.notify:
            self.notify.close()


@pytest.fixture
def agent_env(tmp_path, cs_config):
    """(write_config, account) where account enrolls the current user in the
    test storage and can put its key in the keyring."""
    if not AGENT.exists() or not KEYTOOL.exists():
        pytest.fail(f"{AGENT} or {KEYTOOL} missing: run 'make all build/tests/agent-keytool'")
    path, write = cs_config
    base_agent = {"randomized_delay": "0", "keyring_poll": "1s", "cloudseal": str(CLI), "archive_sync": "no",
                  "retry_min": "2s", "retry_max": "4s", "stop_timeout": "20s"}

    def write_config(**sections):
        sections.setdefault("agent", {})
        sections["agent"] = {**base_agent, **sections["agent"]}
        return write(**sections)

    write_config()
    ids = []

    class Account:
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        id = None

        def enroll(self):
            r = subprocess.run([str(KEYTOOL), "enroll", str(path), self.user], input=PASSWORD,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            self.id = r.stdout.strip()
            ids.append(self.id)
            return self.id

        def unlock(self):
            r = subprocess.run([str(KEYTOOL), "unlock", str(path), self.user], input=PASSWORD,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            assert keyring_has(self.id)

        def revoke(self):
            keyring_revoke(self.id)

        def in_keyring(self):
            return keyring_has(self.id)

    yield write_config, Account()
    for i in ids:
        keyring_revoke(i)


class Freezer:
    """Holds processes frozen in a cgroup of their own.  Unlike SIGSTOP, no
    SIGCONT wakes them (systemd sends one after SIGTERM, an agent may too):
    a signal sent meanwhile stays pending until thaw().  Both the unified
    hierarchy (cgroup.freeze) and the v1 freezer controller are handled."""

    KINDS = (("/sys/fs/cgroup", "cgroup.controllers", "cgroup.freeze", "1", "0"),
             ("/sys/fs/cgroup/freezer", "tasks", "freezer.state", "FROZEN", "THAWED"),
             ("/sys/fs/cgroup/unified", "cgroup.controllers", "cgroup.freeze", "1", "0"))

    def __init__(self):
        self.dirs = []

    def freeze(self, pid, timeout=30):
        for base, probe, knob, on, off in self.KINDS:
            if os.path.exists(os.path.join(base, probe)):
                break
        else:
            pytest.fail("no cgroup freezer (cgroup2 cgroup.freeze or the v1 freezer controller) "
                        "under /sys/fs/cgroup: the test cannot hold a process whatever signals it gets")
        d = pathlib.Path(base) / f"cloudseal-test-{os.getpid()}-{len(self.dirs)}"
        d.mkdir()
        self.dirs.append((d, knob, off))
        (d / "cgroup.procs").write_text(f"{pid}\n")
        (d / knob).write_text(on + "\n")
        if knob == "freezer.state":
            # the v1 freezer announces nothing (no event on freezer.state): polled
            waits.wait_until(lambda: self._frozen(d, knob, on), timeout, f"{d} to freeze")
        else:  # cgroup2: cgroup.events changes (inotify) when the group is frozen
            waits.wait_for_change([d / "cgroup.events"], lambda: self._frozen(d, knob, on), timeout,
                                  f"{d} to freeze")
        return d

    @staticmethod
    def _frozen(d, knob, on):
        if knob == "freezer.state":
            return (d / knob).read_text().strip() == on
        return "frozen 1" in (d / "cgroup.events").read_text().splitlines()

    def thaw(self, d=None):
        for cg, knob, off in self.dirs:
            if d is None or cg == d:
                (cg / knob).write_text(off + "\n")

    def close(self):
        self.thaw()
        for cg, _, _ in self.dirs:
            # the processes leave when they exit; a v1 cgroup announces nothing
            # (notify_on_release runs a program, not an event here): polled
            waits.wait_until(lambda: self._rmdir(cg), 30, f"{cg} to lose its processes")

    @staticmethod
    def _rmdir(cg):
        try:
            cg.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True


@pytest.fixture
def freezer():
    f = Freezer()
    yield f
    f.close()


@pytest.fixture
def agent(tmp_path, cs_config, agent_env):
    path, _ = cs_config
    a = Agent(tmp_path, path)
    yield a
    a.close()
