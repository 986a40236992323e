# SPDX-License-Identifier: MIT
"""Restore from Ceph RGW through fault_proxy.py: 500/503 replies, resets,
truncated bodies and requests that hang past the request timeout.  The
restore still writes every byte of every file, fetches the packs by ranges
(far fewer GETs than blobs: 200 small files and 3 large ones), and keeps
several GETs in flight at once (counted by the proxy itself)."""
import hashlib
import os
import pathlib
import random
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD, proxy_stats, start_fault_proxy, stop  # noqa: E402

SMALL, BIG = 200, 3


def make_tree(root):
    """200 files of 20-60 KiB (each its own blob, neighbours in the packs)
    and 3 files of 6 MiB (~6 blobs each), incompressible."""
    rng = random.Random(23)
    for i in range(SMALL):
        d = root / f"d{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.bin").write_bytes(rng.randbytes(rng.randrange(20 << 10, 60 << 10)))
    for i in range(BIG):
        (root / f"big{i}.bin").write_bytes(rng.randbytes(6 << 20))


def digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_restore_through_faults_and_stalls(rgw, rgw_bucket, cs_config, tmp_path):
    path, write = cs_config
    prefix = f"cs-test-bucket/restore-faults-{os.getpid()}"
    # seed 8: the first 10 rolls (the restore makes more requests than
    # that, in any order) hold an error, a reset and 3 truncations; every
    # 5th pack GET hangs 6 s, past the 3 s request timeout
    port, proxy = start_fault_proxy(rgw.port, "--seed", "8", "--error", "0.1", "--reset", "0.1",
                                    "--truncate", "0.1", "--latency", "50", "--stall-every", "5",
                                    "--stall-ms", "6000")
    env = rgw.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    cs = str(BUILD / "cloudseal")

    def run(*args):
        r = subprocess.run([cs, *map(str, args)], input="pw\n", env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    src = tmp_path / "src"
    make_tree(src)
    try:
        # backup straight to RGW; only the restore meets the faults
        write(storage={"url": f"{rgw.base}/{prefix}"}, backup={"exclude": ""})
        run("enroll", "--password-stdin")
        run("init")
        run("backup", src)
        write(storage={"url": f"s3+http://127.0.0.1:{port}/{prefix}", "max_retries": "10",
                       "request_timeout": "3s"})
        before = proxy_stats(type("P", (), {"port": port}))
        run("restore", "latest", "--target", tmp_path / "out")
        after = proxy_stats(type("P", (), {"port": port}))
    finally:
        subprocess.run([cs, "lock"], env=env, capture_output=True, timeout=60)
        stop(proxy)
    assert digests(tmp_path / "out" / str(src).lstrip("/")) == digests(src)
    d = {k: after[k] - before[k] for k in ("errors", "resets", "truncated", "stalls", "requests")}
    assert d["stalls"] >= 1 and d["errors"] > 0 and d["resets"] > 0 and d["truncated"] > 0, d
    # 218 blobs in ~6 packs: one GET per pack range (plus retries and the
    # metadata: 17 requests without faults), where one per small file and
    # one per blob of the large ones was made before
    assert d["requests"] < 60, d
    assert after["max_in_flight_GET"] >= 3, after
