# SPDX-License-Identifier: MIT
"""Fixtures for the S3 backend tests: real servers on 127.0.0.1.

Session-scoped, started once per pytest run and stopped at its end:
  s3rver  s3rver@3 from npm (installed idempotently under tests/.cache/npm);
          fast, but it does not verify signatures
  rgw     a single-node Ceph RGW on memstore (ceph-up.sh); verifies SigV4
          signatures and payload hashes.  If it cannot be brought up the
          tests FAIL: scripts/install-deps.sh installs its packages.  It and
          rgw_bucket are in tests/integration/conftest.py: the fleet tests
          use them too, and one pytest run starts one RGW (fixed mon ports).
  proxy   fault_proxy.py in front of rgw (errors, resets, truncation, latency)
  hostile hostile_s3.py, a fake server with broken listings
Each fixture yields an Endpoint; Endpoint.run(url, *args) runs s3tool.
"""
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import (HERE, S3RVER, Endpoint, free_port, install_s3rver, start_helper,  # noqa: E402
                        stop, wait_port)


@pytest.fixture(scope="session")
def s3rver(s3tool_bin, tmp_path_factory):
    install_s3rver()
    d = tmp_path_factory.mktemp("s3rver")
    port = free_port()
    log = open(d / "log", "w")
    proc = subprocess.Popen([str(S3RVER), "-d", str(d / "data"), "-a", "127.0.0.1", "-p", str(port),
                             "--no-vhost-buckets", "--silent"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True,
                            # s3rver makes continuation tokens with DES, legacy in OpenSSL 3
                            env=dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider"))
    try:
        if not wait_port(port, proc):
            pytest.fail(f"s3rver did not start; see {d}/log")
        yield Endpoint(port, "S3RVER", "S3RVER", "s3rver")
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="session")
def proxy(rgw):
    """fault_proxy.py in front of rgw: 5% 500/503, 3% resets, 3% truncated, 200 ms."""
    port = free_port()
    proc = start_helper([str(HERE / "fault_proxy.py"), str(port), str(rgw.port), "--seed", "4",
                         "--error", "0.05", "--reset", "0.03", "--truncate", "0.03", "--latency", "200"],
                        "proxy ready")
    try:
        yield Endpoint(port, rgw.access, rgw.secret, "proxy")
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def hostile():
    port = free_port()
    proc = start_helper([str(HERE / "hostile_s3.py"), str(port)], "hostile ready")
    try:
        yield Endpoint(port, "HOSTILEKEY", "hostile-secret", "hostile")
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def s3rver_bucket(s3rver):
    url = f"{s3rver.base}/cs-test-bucket"
    s3rver.ok(url, "mkbucket")
    return url
