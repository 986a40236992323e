# SPDX-License-Identifier: MIT
"""Fixtures for the backup repository tests: an enrolled account with a cheap
KDF, its repository created, and a helper that runs cloudseal commands with
the password on stdin."""
import os
import pathlib
import signal
import subprocess

import pytest


PASSWORD = "correct horse battery staple"
BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")


class Repo:
    def __init__(self, tmp_path, config):
        self.tmp = tmp_path
        self.config = config
        self.storage = tmp_path / "storage"
        self.cache = tmp_path / "cache"
        self.env = dict(os.environ, CLOUDSEAL_CONFIG=str(config), HOME=str(tmp_path / "home"),
                        XDG_CACHE_HOME=str(self.cache))

    def run(self, *args, check=True, timeout=120, stdout=subprocess.PIPE):
        r = subprocess.run([str(BUILD / "cloudseal"), *map(str, args)], input=PASSWORD + "\n",
                           env=self.env, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout,
                           errors="surrogateescape")
        if check and r.returncode != 0:
            raise AssertionError(f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def popen(self, *args):
        p = subprocess.Popen([str(BUILD / "cloudseal"), *map(str, args)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        try:
            p.stdin.write((PASSWORD + "\n").encode())
            p.stdin.close()
        except BrokenPipeError:
            # it exited before reading the password (e.g. a prune refusing
            # another's lock): its exit status and stderr tell the test
            pass
        return p

    def run_in_small_fs(self, mountpoint, size, *args, prefill=None):
        """Run cloudseal ARGS with a tmpfs of size mounted at mountpoint (its
        former contents, prefill, copied in first) in a private mount
        namespace: a full disk that touches nothing on the host."""
        script = f'mount -t tmpfs -o size={size} tmpfs "$1" && '
        if prefill:
            script += 'cp -a "$2"/. "$1"/ && '
        script += 'shift 2 && exec "$@"'
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(mountpoint),
               str(prefill or ""), str(BUILD / "cloudseal"), *map(str, args)]
        return subprocess.run(cmd, input=PASSWORD + "\n", env=self.env, capture_output=True, text=True,
                              timeout=120)

    def run_crashing(self, *args, kill_at=None, call=None, path=None):
        """Run cloudseal ARGS under crashat.so, SIGKILLed before its
        kill_at-th write-side step (None: never); call and path count only
        that system call / calls on paths containing that text.  Returns the
        run's length in steps when it ended by itself, None when the kill
        landed."""
        shim, count = BUILD / "tests" / "crashat.so", self.tmp / "crashat-steps"
        assert shim.exists(), f"{shim} missing: run 'make integration-tools'"
        env = dict(self.env, LD_PRELOAD=str(shim), CS_CRASHAT_COUNT=str(count))
        if kill_at:
            env["CS_CRASHAT_OP"] = str(kill_at)
        if call:
            env["CS_CRASHAT_CALL"] = call
        if path:
            env["CS_CRASHAT_PATH"] = path
        count.unlink(missing_ok=True)
        r = subprocess.run([str(BUILD / "cloudseal"), *map(str, args)], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True, timeout=300, errors="surrogateescape")
        if r.returncode == -signal.SIGKILL:
            return None
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stderr}"
        return int(count.read_text())

    def repo_dir(self):
        return next((self.storage / "users").iterdir()) / "backup"


@pytest.fixture
def repo(tmp_path, cs_config, build_dir):
    path, write = cs_config
    write(backup={"exclude": ""})
    (tmp_path / "home").mkdir()
    r = Repo(tmp_path, path)
    r.run("enroll", "--password-stdin")
    r.run("init")
    yield r
    # the commands above put the account's key in the caller's keyring (as
    # a login would); revoke it as a logout would, or every test run as
    # root leaves one more key in root's keyring
    r.run("lock", check=False)
