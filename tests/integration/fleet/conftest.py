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
import subprocess
import uuid

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


@pytest.fixture
def fleet_s3(fleet, s3_server):
    """The fleet's config pointed at a new bucket of each S3 server in turn
    (s3rver, then Ceph RGW, which checks signatures; the tree's session
    fixtures): (url, s3tool argv).  A bucket of the test's own, as the
    servers live for the whole run."""
    bucket, prefix = f"fleet-{uuid.uuid4().hex[:16]}", "acme"
    secret = fleet.tmp / "s3.secret"
    secret.write_text(s3_server.secret + "\n")
    secret.chmod(0o600)
    url = f"{s3_server.base}/{bucket}/{prefix}"
    cfg = fleet.cfg.read_text().replace(f"url = file://{fleet.tmp}/storage",
                                        f"url = {url}\naccess_key = {s3_server.access}\n"
                                        f"secret_key_file = {secret}")
    assert cfg != fleet.cfg.read_text()
    fleet.cfg.write_text(cfg)
    s3tool = [str(BUILD / "tests" / "s3tool"), "--config", str(fleet.cfg)]
    subprocess.run(s3tool + [f"{s3_server.base}/{bucket}", "mkbucket"], check=True,
                   capture_output=True, timeout=60)
    return url, s3tool
