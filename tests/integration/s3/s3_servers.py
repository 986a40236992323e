# SPDX-License-Identifier: MIT
"""The S3 servers the tests use, as session fixtures of the whole
integration tree (tests/integration/conftest.py imports them), so each is
started at most once per pytest process whichever area's tests use it (under
pytest-xdist once per worker, each on free ports and in its own directory;
two RGWs take ~1 GiB of RSS together):
  s3rver  s3rver@3 from npm (installed idempotently under tests/.cache/npm);
          fast, but it does not verify signatures
  rgw     a single-node Ceph RGW on memstore (ceph-up.sh); verifies SigV4
          signatures and payload hashes.  If it cannot be brought up the
          tests FAIL: scripts/install-deps.sh installs its packages.
  proxy   fault_proxy.py in front of rgw (errors, resets, truncation, latency)
  hostile hostile_s3.py, a fake server with broken listings
  s3_server  s3rver and rgw in turn (parametrised; the rgw case is marked
          ceph), for the tests that take any S3 store
Each yields an Endpoint; Endpoint.run(url, *args) runs s3tool.
"""
import os
import shutil
import subprocess

import pytest

from s3_helpers import (BUILD, HERE, RGW_ACCESS, RGW_SECRET, S3RVER, Endpoint, free_port,
                        install_s3rver, start_fault_proxy, start_helper, stop, wait_port)


@pytest.fixture(scope="session")
def s3tool_bin():
    p = BUILD / "tests" / "s3tool"
    if not p.exists():
        pytest.fail(f"{p} missing: run 'make' first (mk/s3.mk builds it)")
    return p


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
def rgw(s3tool_bin, tmp_path_factory):
    missing = [b for b in ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin") if not shutil.which(b)]
    if missing:
        pytest.fail(f"Ceph is not installed ({', '.join(missing)} missing): run 'scripts/install-deps.sh check'")
    d = tmp_path_factory.mktemp("rgw")
    port = free_port()
    env = dict(os.environ, CEPH_CONF=str(d / "ceph.conf"))
    try:
        r = subprocess.run([str(HERE / "ceph-up.sh"), str(d), str(port)], env=env, capture_output=True,
                           text=True, timeout=240)
        if r.returncode != 0:
            logs = "".join(f"\n--- {p}\n" + p.read_text(errors="replace")[-3000:]
                           for p in sorted((d / "log").glob("*.out")))
            pytest.fail(f"radosgw bring-up failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}{logs}")
        r = subprocess.run(["radosgw-admin", "user", "create", "--uid=cstest", "--display-name=cstest",
                            f"--access-key={RGW_ACCESS}", f"--secret-key={RGW_SECRET}"],
                           env=env, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            pytest.fail(f"radosgw-admin user create failed:\n{r.stderr}")
        yield Endpoint(port, RGW_ACCESS, RGW_SECRET, "rgw")
    finally:
        subprocess.run([str(HERE / "ceph-down.sh"), str(d)], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def proxy(rgw):
    """fault_proxy.py in front of rgw: 5% 500/503, 3% resets, 3% truncated, 200 ms."""
    port, proc = start_fault_proxy(rgw.port, "--seed", "4", "--error", "0.05", "--reset", "0.03",
                                   "--truncate", "0.03", "--latency", "200")
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
def rgw_bucket(rgw):
    """A bucket on rgw shared by the rgw tests (each test uses its own prefix)."""
    url = f"{rgw.base}/cs-test-bucket"
    rgw.ok(url, "mkbucket")
    return url


@pytest.fixture(scope="session")
def s3rver_bucket(s3rver):
    url = f"{s3rver.base}/cs-test-bucket"
    s3rver.ok(url, "mkbucket")
    return url


@pytest.fixture(params=["s3rver", "rgw"])
def s3_server(request):
    """Each S3 server in turn: s3rver, then Ceph RGW, which checks every
    signature and payload hash s3rver lets through."""
    return request.getfixturevalue(request.param)
