# SPDX-License-Identifier: MIT
"""Fixtures for the fleet directory tests.

A fleet lives entirely under tmp_path: a file:// storage, the admin's keys and
directory source, the workstation's fleet.pub, cache, state and "local"
passwd/group files.  NSS lookups go through nss_wrapper loading the test
build of the module (which reads $CLOUDSEAL_NSS_CACHE), or through real glibc
in a private mount namespace (see test_real_glibc_*).
"""
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")


def run(cmd, *, input=None, env=None, check=True, timeout=120, **kw):
    """subprocess.run with text I/O, captured output, a timeout, extra env."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    r = subprocess.run(cmd, input=input, env=full_env, capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r

TEST_NSS = BUILD / "tests" / "fleet" / "libnss_cloudseal.so.2"
FLEET_TOOL = BUILD / "tests" / "fleet" / "fleet-tool"
NSS_WRAPPER = "libnss_wrapper.so"


class Fleet:
    build = BUILD
    run = staticmethod(run)

    def __init__(self, tmp_path, cfg_path):
        self.tmp = tmp_path
        self.cfg = cfg_path
        self.cache = tmp_path / "directory.cache"
        self.source = tmp_path / "directory.json"
        self.store = tmp_path / "storage"
        self.passwd = tmp_path / "passwd"
        self.group = tmp_path / "group"

    # --- admin side -------------------------------------------------------
    def cli(self, *args, check=True):
        return run([str(BUILD / "cloudseal"), "--config", str(self.cfg), "admin",
                    "--source", str(self.source), *args], check=check,
                   cwd=str(self.tmp))

    def publish(self):
        return self.cli("publish", "--secret-key", str(self.tmp / "fleet.key"))

    def sign(self, out, serial, expires_in=3600, source=None):
        """Sign anything (no validation): how hostile directories are made."""
        run([str(FLEET_TOOL), "sign", str(source or self.source), str(self.tmp / "fleet.key"),
             str(out), str(serial), str(expires_in)])

    def plant(self, signed_file):
        """Put a signed directory in storage as if someone wrote the bucket."""
        dest = self.store / "fleet" / "directory"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(signed_file, dest)

    # --- workstation side ---------------------------------------------------
    def sync(self, *args, check=True):
        return run([str(BUILD / "cloudseal-helper"), "--config", str(self.cfg),
                    "directory-sync", *args], check=check)

    def nss_env(self):
        return {
            "LD_PRELOAD": NSS_WRAPPER,
            "NSS_WRAPPER_PASSWD": str(self.passwd),
            "NSS_WRAPPER_GROUP": str(self.group),
            "NSS_WRAPPER_MODULE_SO_PATH": str(TEST_NSS),
            "NSS_WRAPPER_MODULE_FN_PREFIX": "cloudseal",
            "CLOUDSEAL_NSS_CACHE": str(self.cache),
        }

    def getent(self, *args, check=False):
        return run(["getent", *args], env=self.nss_env(), check=check)


@pytest.fixture
def fleet(tmp_path, cs_config, build_dir):
    for p in (BUILD / "cloudseal-helper", TEST_NSS, FLEET_TOOL):
        if not p.exists():
            pytest.fail(f"{p} missing: run 'make all fleet-test-tools'")
    path, write = cs_config
    f = Fleet(tmp_path, path)
    f.store.mkdir()
    f.passwd.write_text("root:x:0:0:root:/root:/bin/sh\n"
                        "localuser:x:1000777:1000777::/home/localuser:/bin/sh\n")
    f.group.write_text("root:x:0:\nlocalgrp:x:1000778:\n")
    write(fleet={
        "public_key_file": str(tmp_path / "fleet.pub"),
        "cache": str(f.cache),
        "state": str(tmp_path / "directory.state"),
        "local_passwd": str(f.passwd),
        "local_group": str(f.group),
        "id_min": "1000000",
        "id_max": "1999999",
    })
    f.cli("keygen")
    f.cli("init", "--fleet", "test")
    return f


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


def point_at_s3(fleet, port, access, secret_key, bucket, prefix, make_bucket=True):
    """The fleet's config pointed at bucket/prefix of the S3 server on port:
    (url, s3tool argv)."""
    secret = fleet.tmp / "s3.secret"
    secret.write_text(secret_key + "\n")
    secret.chmod(0o600)
    url = f"s3+http://127.0.0.1:{port}/{bucket}/{prefix}"
    cfg = fleet.cfg.read_text().replace(f"url = file://{fleet.tmp}/storage",
                                        f"url = {url}\naccess_key = {access}\n"
                                        f"secret_key_file = {secret}")
    assert cfg != fleet.cfg.read_text()
    fleet.cfg.write_text(cfg)
    s3tool = [str(BUILD / "tests" / "s3tool"), "--config", str(fleet.cfg)]
    if make_bucket:
        subprocess.run(s3tool + [f"s3+http://127.0.0.1:{port}/{bucket}", "mkbucket"], check=True,
                       capture_output=True, timeout=60)
    return url, s3tool


@pytest.fixture
def fleet_s3(fleet, s3rver):
    """The fleet's config pointed at a new bucket of s3rver: (url, s3tool argv)."""
    return point_at_s3(fleet, s3rver, "S3RVER", "S3RVER", "fleet-bucket", "acme")


@pytest.fixture(params=["s3rver", "rgw"])
def fleet_any_s3(request, fleet):
    """fleet_s3 on s3rver, then on the suite's Ceph RGW (which verifies every
    signature), in a prefix of its shared bucket of this test's own."""
    if request.param == "s3rver":
        return request.getfixturevalue("fleet_s3")
    rgw = request.getfixturevalue("rgw")
    request.getfixturevalue("rgw_bucket")
    prefix = f"fleet-{os.getpid()}-{fleet.tmp.name}"
    return point_at_s3(fleet, rgw.port, rgw.access, rgw.secret, "cs-test-bucket", prefix, make_bucket=False)
