# SPDX-License-Identifier: MIT
"""The fleet directory through an S3 server (s3rver on 127.0.0.1): publish,
sync, the ETag short-cut (a conditional GET that returns "unchanged"), a
republish, and an object overwritten by someone holding bucket credentials
but not the fleet key."""
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
S3RVER = ROOT / "tests" / ".cache" / "npm" / "node_modules" / ".bin" / "s3rver"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3rver(tmp_path):
    """A private s3rver (installed by the s3 tests' fixture into tests/.cache/npm)."""
    if not S3RVER.exists():
        if not shutil.which("npm"):
            pytest.fail("npm is missing: run scripts/install-deps.sh check")
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                            str(S3RVER.parents[2]), "s3rver@3"], capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            pytest.fail(f"npm install s3rver@3 failed: {r.stderr}")
    port = _free_port()
    env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
    proc = subprocess.Popen([str(S3RVER), "-d", str(tmp_path / "s3data"), "-a", "127.0.0.1", "-p",
                             str(port), "--no-vhost-buckets", "--silent"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("s3rver did not start")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_directory_through_s3(fleet, s3rver, tmp_path):
    secret = tmp_path / "s3.secret"
    secret.write_text("S3RVER\n")
    secret.chmod(0o600)
    url = f"s3+http://127.0.0.1:{s3rver}/fleet-bucket/acme"
    cfg = fleet.cfg.read_text().replace(f"url = file://{tmp_path}/storage",
                                        f"url = {url}\naccess_key = S3RVER\n"
                                        f"secret_key_file = {secret}")
    assert cfg != fleet.cfg.read_text()
    fleet.cfg.write_text(cfg)
    s3tool = [str(BUILD / "tests" / "s3tool"), "--config", str(fleet.cfg)]
    subprocess.run(s3tool + [f"s3+http://127.0.0.1:{s3rver}/fleet-bucket", "mkbucket"], check=True,
                   capture_output=True, timeout=60)

    fleet.cli("add-user", "alice", "--uid", "1400000")
    fleet.publish()
    assert "installed fleet directory serial 1" in fleet.sync().stdout
    assert "unchanged (serial 1)" in fleet.sync().stdout       # If-None-Match answered
    fleet.cli("add-user", "bob", "--uid", "1400001")
    fleet.publish()
    assert "serial 2: 2 users" in fleet.sync().stdout
    assert fleet.getent("passwd", "bob", check=True).stdout.startswith("bob:x:1400001:")

    # someone with bucket credentials but not the fleet key rewrites the object
    before = fleet.cache.read_bytes()
    forged = subprocess.run(s3tool + [url, "get", "fleet/directory"], capture_output=True,
                            timeout=60, check=True).stdout.replace(b'"uid":1400001', b'"uid":1400002')
    subprocess.run(s3tool + [url, "put", "fleet/directory"], input=forged, capture_output=True,
                   timeout=60, check=True)
    r = fleet.sync(check=False)
    assert r.returncode != 0 and "signature does not verify" in r.stderr
    assert fleet.cache.read_bytes() == before
