# SPDX-License-Identifier: MIT
"""Helpers shared by the archive tests (imported by conftest.py and the tests)."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
PASSWORD = "archive test password"


def run(cmd, *, input=None, env=None, check=True, timeout=300):
    r = subprocess.run(cmd, input=input, env={**os.environ, **(env or {})},
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


class Workstation:
    def __init__(self, tmp, name, base_config):
        self.name = name
        self.maildir = tmp / name / "Maildir"
        self.state = tmp / name / "state"
        self.config = tmp / f"{name}.conf"
        text = base_config.read_text()
        text += f"[archive]\nmaildir = {self.maildir}\nstate_dir = {self.state}\n"
        self.config.write_text(text)
        self.env = {"CLOUDSEAL_CONFIG": str(self.config)}

    def cli(self, *args, check=True, timeout=300):
        return run([str(BUILD / "cloudseal"), *args], input=PASSWORD + "\n", env=self.env,
                   check=check, timeout=timeout)

    def sync(self, *extra, check=True):
        return self.cli("archive", "sync", "--password-stdin", *extra, check=check)

    def popen_sync(self):
        return subprocess.Popen([str(BUILD / "cloudseal"), "archive", "sync", "--password-stdin"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **self.env}, text=True)

    def deliver(self, unique, body, folder="", sub="new", flags=None):
        d = self.maildir / folder if folder else self.maildir
        for s in ("cur", "new", "tmp"):
            (d / s).mkdir(parents=True, exist_ok=True)
        name = unique if flags is None else f"{unique}:2,{flags}"
        (d / "tmp" / name).write_bytes(body)
        os.rename(d / "tmp" / name, d / sub / name)
        return d / sub / name

    def messages(self):
        """{relative path: bytes} of every message file (cur/ and new/ of every folder)."""
        out = {}
        if not self.maildir.exists():
            return out
        folders = [self.maildir] + [p for p in self.maildir.iterdir() if p.name.startswith(".") and p.is_dir()]
        for f in folders:
            for sub in ("cur", "new"):
                if (f / sub).is_dir():
                    for m in (f / sub).iterdir():
                        if not m.name.startswith("."):
                            out[str(m.relative_to(self.maildir))] = m.read_bytes()
        return out


def message(i, size=2000):
    head = (f"From: Sender {i} <s{i}@example.org>\nTo: me@example.org\n"
            f"Subject: message {i}\nMessage-ID: <{i}.test@example.org>\n"
            f"Date: Sat, 28 Nov 2026 02:00:00 +0000\n\n").encode()
    line = f"line of message {i} with some words to compress\n".encode()
    return head + line * max(1, (size - len(head)) // len(line))
