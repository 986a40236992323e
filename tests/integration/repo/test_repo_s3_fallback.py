# SPDX-License-Identifier: MIT
"""The pack-header fallback on high-latency storage (issue 17): every index
object deleted from an S3 bucket behind a 150 ms proxy, restore is still
exact and the extra cost is printed: one listing of data/ and one ranged
GET per pack, fetched by 8 threads at once (a round trip each, not one
after the other).  Uses the S3 part's s3rver fixture and fault_proxy.py."""
import hashlib
import os
import shutil
import subprocess
import time

import pytest

import s3_helpers as _s3  # noqa: E402  (the servers are fixtures of tests/integration/conftest.py)
from s3_helpers import stop  # noqa: E402  (path set by tests/integration/conftest.py)

LATENCY_MS = 150


@pytest.fixture
def slow_s3(s3rver, s3rver_bucket):
    port, proc = _s3.start_plain_proxy(s3rver.port, LATENCY_MS)
    try:
        yield port, s3rver
    finally:
        stop(proc)


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_restore_with_the_index_gone_on_slow_s3(slow_s3, s3tool_bin, cs_config, tmp_path, capsys, lock_at_end):
    port, s3 = slow_s3
    path, write = cs_config
    url = f"s3+http://127.0.0.1:{port}/cs-test-bucket/fallback-{os.getpid()}"
    write(storage={"url": url}, backup={"exclude": ""})
    env = s3.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    lock_at_end(env)
    cs = str(_s3.BUILD / "cloudseal")

    def run(*args, tool=False):
        cmd = [str(s3tool_bin), "--config", str(path), url, *args] if tool else [cs, *map(str, args)]
        r = subprocess.run(cmd, input="pw\n", env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{cmd} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"f{i}.bin").write_bytes(os.urandom(2 << 20))
    run("enroll", "--password-stdin")
    run("init")
    run("backup", src)
    keys = [line.split()[0] for line in run("list", tool=True).stdout.splitlines()]
    packs = sum("/backup/data/" in k for k in keys)

    def timed_restore(n):
        out = tmp_path / f"out{n}"
        t0 = time.monotonic()
        run("restore", "latest", "--target", out)
        took = time.monotonic() - t0
        got = out / str(src).lstrip("/")
        for i in range(12):
            assert digest(got / f"f{i}.bin") == digest(src / f"f{i}.bin")
        return took

    indexed = timed_restore(1)
    for k in keys:
        if "/backup/index/" in k:
            run("del", k, tool=True)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)  # a new workstation
    fallback = timed_restore(2)
    with capsys.disabled():
        print(f"\nS3 at {LATENCY_MS} ms, {packs} packs: restore {indexed:.2f} s with the index, "
              f"{fallback:.2f} s from pack headers")
    # the headers in parallel: far less than one round trip per pack in a row
    assert fallback - indexed < packs * LATENCY_MS / 1000 / 2 + 1.0, (indexed, fallback)
