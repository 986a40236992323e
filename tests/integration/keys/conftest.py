# SPDX-License-Identifier: MIT
"""Fixtures for the key commands: a `cloudseal` runner bound to a temporary
config (cheap KDF, storage and state under tmp_path).

Keys land in the invoking uid's kernel user keyring under
"cloudseal:amk:<account id>"; every enrollment makes a fresh random account,
so parallel runs never share a key, and the fixture locks (revokes) at the
end so nothing is left behind.
"""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
RECOVERY_RE = re.compile(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){13})\b")


def run(cmd, *, input=None, env=None, check=True, timeout=120):
    """subprocess.run with text I/O, captured output and a timeout."""
    r = subprocess.run(cmd, input=input, env={**os.environ, **(env or {})},
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


class Cli:
    build = BUILD
    recovery_re = RECOVERY_RE

    def __init__(self, config, tmp_path):
        self.config = config
        self.tmp = tmp_path
        self.env = {"CLOUDSEAL_CONFIG": str(config)}

    def __call__(self, *args, input=None, check=True, wrap=()):
        return run([*wrap, str(BUILD / "cloudseal"), *args], input=input, env=self.env,
                   check=check)

    def enroll(self, password="first password"):
        r = self("enroll", "--password-stdin", input=password + "\n")
        m = RECOVERY_RE.search(r.stdout)
        assert m, r.stdout
        return m.group(1)

    @property
    def storage_keybag(self):
        user = run(["id", "-un"]).stdout.strip()
        return self.tmp / "storage" / "users" / user / "keybag"

    @property
    def cache_dir(self):
        user = run(["id", "-un"]).stdout.strip()
        return self.tmp / "state" / "keybags" / user


@pytest.fixture
def cli(cs_config, tmp_path, build_dir):
    path, _write = cs_config
    c = Cli(path, tmp_path)
    yield c
    c("lock", check=False)
