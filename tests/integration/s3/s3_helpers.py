# SPDX-License-Identifier: MIT
"""Helpers shared by the S3 tests and their fixtures (conftest.py): ports,
processes, the s3tool runner.  Imported by path (the tests run with
--import-mode=importlib, where conftest is not importable)."""
import fcntl
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

import ports

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BUILD = ROOT / os.environ.get("O", "build")
NPM_DIR = ROOT / "tests" / ".cache" / "npm"
S3RVER = NPM_DIR / "node_modules" / ".bin" / "s3rver"
RGW_ACCESS, RGW_SECRET = "CSTESTACCESSKEY", "csTestSecretKey0123456789"


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Endpoint:
    """A server: base URL (s3+http://127.0.0.1:PORT) and credentials."""

    def __init__(self, port, access, secret, name):
        self.port, self.access, self.secret, self.name = port, access, secret, name
        self.base = f"s3+http://127.0.0.1:{port}"

    def env(self, **extra):
        e = dict(os.environ, AWS_ACCESS_KEY_ID=self.access, AWS_SECRET_ACCESS_KEY=self.secret)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            e.pop(k, None)
        e.update(extra)
        return e

    def run(self, url, *args, input=None, timeout=120, env=None, config=None):
        """Run s3tool; returns CompletedProcess (bytes stdout, text stderr)."""
        cmd = [str(BUILD / "tests" / "s3tool")]
        if config:
            cmd += ["--config", str(config)]
        cmd += [url, *args]
        r = subprocess.run(cmd, input=input, env=env or self.env(), capture_output=True, timeout=timeout)
        r.stderr = r.stderr.decode(errors="replace")
        return r

    def ok(self, url, *args, **kw):
        r = self.run(url, *args, **kw)
        assert r.returncode == 0, f"s3tool {args} exited {r.returncode}: {r.stderr}"
        return r


def start_helper(args, ready):
    """One of our servers (fault_proxy.py, hostile_s3.py) on port 0: it says
    the port it bound on its ready line (ports.py).  Returns (port, process)."""
    proc = subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    line = proc.stdout.readline()
    if ready not in line:
        stop(proc)
        pytest.fail(f"{args[0]} did not start: {line}")
    return ports.ready_port(line), proc


def install_s3rver():
    """npm install s3rver@3 once into tests/.cache/npm (idempotent).  The
    pytest-xdist workers each start an s3rver: the first to take the lock
    installs, the others wait for it (two npm installs into one prefix
    corrupt it)."""
    if S3RVER.exists():
        return
    if not shutil.which("npm"):
        pytest.fail("npm is missing: install Debian's npm (scripts/install-deps.sh check)")
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    with open(NPM_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not S3RVER.exists():
            _npm_install()


def _npm_install():
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR), "s3rver@3"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not S3RVER.exists():
        pytest.fail(f"npm install s3rver@3 failed:\n{r.stdout}\n{r.stderr}")



def start_fault_proxy(upstream_port, *args):
    """fault_proxy.py in front of upstream_port with its options args (the
    faults, --seed, --latency, ...).  Returns (port, process)."""
    return start_helper([HERE / "fault_proxy.py", 0, upstream_port, *args], "proxy ready")


def start_plain_proxy(upstream_port, latency_ms=0, *more):
    """fault_proxy.py in front of upstream_port with no faults: it holds each
    request latency_ms and logs it (proxy_log); more: further options.
    Returns (port, process)."""
    return start_fault_proxy(upstream_port, "--error", "0", "--reset", "0", "--truncate", "0",
                             "--latency", latency_ms, *more)


def proxy_log(port):
    """Every request a running fault_proxy.py has seen, in order."""
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__proxy_log", timeout=30) as r:
        return json.load(r)


def proxy_stats(proxy):
    """Counters of a running fault_proxy.py."""
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/__proxy_stats", timeout=10) as r:
        return json.load(r)
