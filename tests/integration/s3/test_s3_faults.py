# SPDX-License-Identifier: MIT
"""Faults: a proxy that injects errors, resets, truncation and latency;
unreachable and hanging servers; hostile listings.  Every case ends with the
right bytes or a clear error, in bounded time, without a crash."""
import time

import pytest

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import proxy_stats  # noqa: E402

import ports


def test_roundtrips_through_fault_proxy(proxy, rgw, rgw_bucket):
    """300 objects put (immutable), listed and read back byte-identically
    through 5% 500/503, 3% resets, 3% truncated bodies and 200 ms latency."""
    url = f"{proxy.base}/cs-test-bucket/faults"
    before = proxy_stats(proxy)
    r = proxy.ok(url, "stress", "300", "3000", "16", timeout=600)
    out = r.stdout.decode()
    assert "stress ok: 300 objects" in out, out
    after = proxy_stats(proxy)
    injected = {k: after[k] - before[k] for k in ("errors", "resets", "truncated")}
    assert all(v > 0 for v in injected.values()), injected
    retries = int(out.split(" retries")[0].rsplit(" ", 1)[1])
    assert retries >= sum(injected.values()) * 0.5, (retries, injected)
    # what went through the proxy is what RGW holds, byte for byte
    data = rgw.ok(f"{rgw_bucket}/faults", "list", "stress/").stdout.decode().splitlines()
    assert len(data) == 300 and all(line.endswith(" 3000") for line in data)


def test_big_object_through_fault_proxy(proxy, tmp_path):
    import os
    url = f"{proxy.base}/cs-test-bucket/faults-big"
    blob = os.urandom(3 * 1024 * 1024 + 7)  # over 1 MiB: the Expect: 100-continue path
    for i in range(4):
        proxy.ok(url, "put", f"big{i}", input=blob)
    for i in range(4):
        assert proxy.ok(url, "get", f"big{i}").stdout == blob


def test_unreachable_host_fails_fast(rgw):
    with ports.closed_port() as port:  # nothing listens there
        t = time.monotonic()
        r = rgw.run(f"s3+http://127.0.0.1:{port}/some-bucket", "list")
    assert r.returncode == 1 and "EHOSTUNREACH" in r.stderr and "Couldn't connect" in r.stderr
    assert time.monotonic() - t < 15


def test_hanging_server_times_out(hostile, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[storage]\nrequest_timeout = 1s\nmax_retries = 1\nretry_time = 3s\n")
    t = time.monotonic()
    r = hostile.run(f"{hostile.base}/hang", "list", config=conf)
    assert r.returncode == 1 and "ETIMEDOUT" in r.stderr
    assert time.monotonic() - t < 10


HOSTILE = {
    "huge-listing": "EBADMSG",
    "malformed": "EBADMSG",
    "truncated-xml": "EBADMSG",
    "loop-same": "EBADMSG",
    "loop-empty": "EBADMSG",
    "no-token": "EBADMSG",
    "outside": "EBADMSG",
    "entities": "EBADMSG",
    "deep": "EBADMSG",
    "long-key": "EBADMSG",
    "bad-size": "EBADMSG",
    "garbage-http": "E",
}


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_hostile_listing(hostile, mode, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[storage]\nmax_retries = 2\nretry_time = 5s\n")
    t = time.monotonic()
    r = hostile.run(f"{hostile.base}/{mode}", "list", "dir/", config=conf, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)  # an error, not a crash (a signal is < 0)
    assert "list failed: " + HOSTILE[mode] in r.stderr, r.stderr
    assert time.monotonic() - t < 20


def test_endless_truncated_listing_is_bounded(hostile, tmp_path):
    """Valid pages forever: stopped by [storage] list_max_keys."""
    conf = tmp_path / "c.conf"
    conf.write_text("[storage]\nlist_max_keys = 5000\n")
    t = time.monotonic()
    r = hostile.run(f"{hostile.base}/many-keys", "list", config=conf, timeout=60)
    assert r.returncode == 1 and "E2BIG" in r.stderr and "list_max_keys" in r.stderr
    assert r.stdout.count(b"\n") == 5000
    assert time.monotonic() - t < 20
