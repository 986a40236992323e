# SPDX-License-Identifier: MIT
"""Restore from high-latency storage: the blobs of the files are fetched
by pack ranges (one GET for the neighbouring blobs of a pack, not one per
blob) by several workers at once, each blob written at its offset, so a
restore through a 150 ms proxy takes neither a round trip per blob nor
one after the other.
Against s3rver and Ceph RGW (the tree's s3_server fixture), through the S3
fault_proxy.py (latency only)."""
import hashlib
import json
import os
import subprocess
import urllib.request

import pytest

import s3_helpers as _s3  # noqa: E402  (the servers are fixtures of tests/integration/conftest.py)
from s3_helpers import stop  # noqa: E402  (path set by tests/integration/conftest.py)

LATENCY_MS = 150


@pytest.fixture
def slow_s3(s3_server, request):
    """The proxy in front of each S3 server in turn (s3rver, Ceph RGW)."""
    request.getfixturevalue(f"{s3_server.name}_bucket")  # cs-test-bucket, made once per run
    port, proc = _s3.start_plain_proxy(s3_server.port, LATENCY_MS)
    try:
        yield port, s3_server
    finally:
        stop(proc)


def proxy_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__proxy_stats", timeout=30) as r:
        return json.load(r)


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_restore_large_files_in_parallel_segments(slow_s3, cs_config, tmp_path, lock_at_end):
    port, s3 = slow_s3
    path, write = cs_config
    write(storage={"url": f"s3+http://127.0.0.1:{port}/cs-test-bucket/restore-{os.getpid()}"},
          backup={"exclude": ""})
    env = s3.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    lock_at_end(env)
    cs = str(_s3.BUILD / "cloudseal")

    def run(*args):
        r = subprocess.run([cs, *map(str, args)], input="pw\n", env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(24 << 20))          # ~24 blobs
    with open(src / "sparse.img", "wb") as f:                     # holes, data, hole at the end
        f.write(os.urandom(3 << 20))
        f.seek(20 << 20)
        f.write(os.urandom(2 << 20))
        f.truncate(40 << 20)
    (src / "small.txt").write_text("small\n")
    os.utime(src / "big.bin", ns=(1_600_000_000_000_000_001, 1_600_000_000_000_000_001))
    run("enroll", "--password-stdin")
    run("init")
    run("backup", src)
    before = proxy_stats(port)
    run("restore", "latest", "--target", tmp_path / "out")
    after = proxy_stats(port)
    out = tmp_path / "out" / str(src).lstrip("/")
    for name in ("big.bin", "sparse.img", "small.txt"):
        assert digest(out / name) == digest(src / name), name
    assert os.stat(out / "sparse.img").st_size == 40 << 20
    assert os.stat(out / "sparse.img").st_blocks * 512 < (12 << 20), "holes were written out"
    assert os.stat(out / "big.bin").st_mtime_ns == 1_600_000_000_000_000_001
    assert oct(os.stat(out / "big.bin").st_mode & 0o777) == oct(os.stat(src / "big.bin").st_mode & 0o777)
    # the proxy counts the GETs it holds at once (each for 150 ms): one
    # after the other would never exceed 1, however fast or slow the machine
    assert after["max_in_flight_GET"] >= 3, after
    # a GET waits 150 ms, decoding its range takes far less: the workers
    # grow past one per usable core (and one fetching) to keep the cores busy
    assert after["max_in_flight_GET"] > len(os.sched_getaffinity(0)) + 1, after
    # ~29 data blobs in 4 MiB packs: fewer requests than blobs (one GET per
    # pack range), and no byte fetched twice (overlapping read-ahead did)
    assert after["requests"] - before["requests"] < 24, (before, after)
    assert after["bytes_down"] - before["bytes_down"] < 1.1 * (29 << 20), (before, after)
