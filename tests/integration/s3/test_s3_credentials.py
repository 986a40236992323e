# SPDX-License-Identifier: MIT
"""Per-user storage credentials (`cloudseal storage credentials`) against
Ceph RGW, which checks every signature: once a user's own key pair is in
their keybag, their backups work even when the machine's credentials are
wrong, and stop working when the pair is cleared again."""
import json
import os
import subprocess

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD  # noqa: E402

PW = "credential test password"


def test_own_credentials_replace_the_machines(rgw, rgw_bucket, cs_config, tmp_path):
    path, write = cs_config
    write(storage={"url": f"{rgw.base}/cs-test-bucket/creds-{os.getpid()}", "max_retries": "1"})
    good = rgw.env(CLOUDSEAL_CONFIG=str(path))
    wrong = rgw.env(CLOUDSEAL_CONFIG=str(path), AWS_SECRET_ACCESS_KEY="not-the-secret")
    cs = str(BUILD / "cloudseal")

    def run(env, *args, input=PW + "\n", ok=True):
        r = subprocess.run([cs, *args], input=input, env=env, capture_output=True, text=True, timeout=300)
        if ok:
            assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    src = tmp_path / "home"
    src.mkdir()
    (src / "a.txt").write_text("hello\n")
    (src / "b.bin").write_bytes(os.urandom(300000))
    try:
        run(good, "enroll", "--password-stdin")
        # the machine's credentials are what is in use so far
        shown = json.loads(run(good, "--json", "storage", "credentials", "show", "--password-stdin").stdout)
        assert shown["source"] == "machine" and shown["from"] == "AWS_ACCESS_KEY_ID (environment)", shown
        assert shown["access_key"] == rgw.access, shown
        # a wrong pair is refused before anything is stored
        secret_file = tmp_path / "secret"
        secret_file.write_text("wrong-secret\n")
        secret_file.chmod(0o644)
        r = run(good, "storage", "credentials", "set", "--access-key", rgw.access, "--password-stdin",
                "--secret-key-file", str(secret_file), ok=False)
        assert r.returncode == 2 and "chmod 600" in r.stderr, r.stderr  # others could read it
        secret_file.chmod(0o600)
        r = run(good, "storage", "credentials", "set", "--access-key", rgw.access, "--password-stdin",
                "--secret-key-file", str(secret_file), ok=False)
        assert r.returncode == 1 and "does not accept these credentials" in r.stderr, r.stderr
        assert json.loads(run(good, "--json", "storage", "credentials", "show",
                              "--password-stdin").stdout)["source"] == "machine"
        # the right pair
        secret_file.write_text(rgw.secret + "\n")
        r = run(good, "storage", "credentials", "set", "--access-key", rgw.access, "--password-stdin",
                "--secret-key-file", str(secret_file))
        assert rgw.access in r.stdout
        shown = json.loads(run(good, "--json", "storage", "credentials", "show", "--password-stdin").stdout)
        assert shown == {"source": "keybag", "access_key": rgw.access, "from": "your keybag"}, shown
        assert rgw.secret not in run(good, "keybag", "dump").stdout

        # with the machine's secret wrong, the user's own pair carries the backup
        run(wrong, "init", "--password-stdin")
        run(wrong, "backup", "--password-stdin", str(src))
        run(wrong, "restore", "--password-stdin", "latest", "--target", str(tmp_path / "out"))
        restored = tmp_path / "out" / str(src).lstrip("/")
        assert (restored / "a.txt").read_text() == "hello\n"
        assert (restored / "b.bin").read_bytes() == (src / "b.bin").read_bytes()

        # temporary credentials: a session token (RGW without STS does not
        # check it, but it is signed and sent) with its expiry
        token_file = tmp_path / "token"
        token_file.write_text("FwoGZXIvYXdzE" + "Ab+/cd=" * 150 + "\n")
        token_file.chmod(0o600)
        run(good, "storage", "credentials", "set", "--access-key", rgw.access, "--password-stdin",
            "--secret-key-file", str(secret_file), "--session-token-file", str(token_file),
            "--expires", "2099-01-01T00:00:00Z")
        shown = json.loads(run(good, "--json", "storage", "credentials", "show", "--password-stdin").stdout)
        assert shown == {"source": "keybag", "access_key": rgw.access, "from": "your keybag (with a session token)",
                         "expires": "2099-01-01T00:00:00Z"}, shown
        assert "Ab+/cd=" not in run(good, "keybag", "dump").stdout
        run(wrong, "backup", "--password-stdin", str(src))
        # expired: refused before any request, naming where it came from
        run(good, "storage", "credentials", "set", "--access-key", rgw.access, "--password-stdin", "--no-check",
            "--secret-key-file", str(secret_file), "--session-token-file", str(token_file),
            "--expires", "2021-06-01T12:00:00Z")
        r = run(wrong, "backup", "--password-stdin", str(src), ok=False)
        assert r.returncode != 0 and "session token from your keybag (cloudseal storage credentials) expired at " \
            "2021-06-01T12:00:00Z" in r.stderr, r.stderr
        r = run(good, "storage", "credentials", "set", "--access-key", rgw.access, "--password-stdin",
                "--secret-key-file", str(secret_file), "--expires", "2021-06-01T12:00:00Z", ok=False)
        assert r.returncode == 2 and "--expires goes with --session-token-file" in r.stderr, r.stderr

        # cleared: back to the machine's, which are wrong here
        run(good, "storage", "credentials", "clear", "--password-stdin")
        r = run(wrong, "backup", "--password-stdin", str(src), ok=False)
        assert r.returncode != 0, r.stdout
        assert json.loads(run(good, "--json", "storage", "credentials", "show",
                              "--password-stdin").stdout)["source"] == "machine"
    finally:
        subprocess.run([cs, "lock"], env=good, capture_output=True, timeout=60)


def test_usage_errors(cs_config):
    path, _ = cs_config
    env = dict(os.environ, CLOUDSEAL_CONFIG=str(path))
    cs = str(BUILD / "cloudseal")
    for args in (["storage", "credentials"], ["storage", "credentials", "nope"],
                 ["storage", "credentials", "set"], ["storage", "credentials", "set", "--access-key", "a/b"],
                 ["storage", "credentials", "show", "extra"]):
        r = subprocess.run([cs, *args], env=env, capture_output=True, text=True, timeout=60, input="")
        assert r.returncode == 2, (args, r.returncode, r.stderr)
    r = subprocess.run([cs, "storage", "credentials", "--help"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "set --access-key" in r.stdout
