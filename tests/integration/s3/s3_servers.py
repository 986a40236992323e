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

import ports
import waits
from s3_helpers import (BUILD, HERE, RGW_ACCESS, RGW_SECRET, S3RVER, Endpoint, install_s3rver,
                        start_fault_proxy, start_helper, stop)


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
    log = open(d / "log", "w")
    # port 0: it binds one the kernel picks and says which ("S3rver listening
    # on 127.0.0.1:PORT", printed with --silent too; ports.py)
    proc = subprocess.Popen([str(S3RVER), "-d", str(d / "data"), "-a", "127.0.0.1", "-p", "0",
                             "--no-vhost-buckets", "--silent"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True,
                            # s3rver makes continuation tokens with DES, legacy in OpenSSL 3
                            env=dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider"))
    try:
        try:
            waits.wait_text(d / "log", "S3rver listening on", 30, pid=proc.pid)
        except AssertionError:
            pytest.fail(f"s3rver did not start; see {d}/log")
        line = next(x for x in (d / "log").read_text().splitlines() if "S3rver listening on" in x)
        yield Endpoint(ports.ready_port(line), "S3RVER", "S3RVER", "s3rver")
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="session")
def rgw(s3tool_bin, tmp_path_factory):
    missing = [b for b in ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin") if not shutil.which(b)]
    if missing:
        pytest.fail(f"Ceph is not installed ({', '.join(missing)} missing): run 'scripts/install-deps.sh check'")
    d = tmp_path_factory.mktemp("rgw")
    env = dict(os.environ, CEPH_CONF=str(d / "ceph.conf"))

    def up(port):
        """radosgw (and the mon) take their ports from ceph.conf only: a port
        taken meanwhile is a new attempt (ports.py), the rest a failure."""
        r = subprocess.run([str(HERE / "ceph-up.sh"), str(d), str(port)], env=env, capture_output=True,
                           text=True, timeout=240)
        if r.returncode != 0:
            logs = "".join(f"\n--- {p}\n" + p.read_text(errors="replace")[-3000:]
                           for p in sorted((d / "log").glob("*")) if p.is_file())
            subprocess.run([str(HERE / "ceph-down.sh"), str(d)], env=env, capture_output=True, timeout=120)
            if ports.in_use(logs):  # the next attempt from scratch
                shutil.rmtree(d)
                d.mkdir()
                raise ports.PortTaken()
            pytest.fail(f"radosgw bring-up failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}{logs}")
        return port

    try:
        port = ports.start_on_free_port(up)
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
    port, proc = start_helper([HERE / "hostile_s3.py", 0], "hostile ready")
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
