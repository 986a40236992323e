# SPDX-License-Identifier: MIT
"""`cloudseal backup --limit-upload RATE` against s3rver: the option
overrides [storage] upload_limit for this run (here a much lower one in the
file, which would make the backup last minutes), and the backup takes at
least what the bytes that went up (counted by a fault-free proxy) take at
RATE, less 15 %."""
import os
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD, Endpoint, proxy_stats, start_plain_proxy, stop  # noqa: E402

MIB = 1 << 20


def test_backup_limit_upload_overrides_the_config(s3rver, s3rver_bucket, cs_config, tmp_path):
    port, proc = start_plain_proxy(s3rver.port)
    ep = Endpoint(port, s3rver.access, s3rver.secret, "counting")
    path, write = cs_config
    write(storage={"url": f"{ep.base}/cs-test-bucket/limit-{os.getpid()}", "upload_limit": "64K"})
    env = ep.env(CLOUDSEAL_CONFIG=str(path))

    def cs(*args, input=None, timeout=120):
        return subprocess.run([str(BUILD / "cloudseal"), *args], input=input, env=env, capture_output=True,
                              text=True, timeout=timeout)

    src = tmp_path / "home"
    src.mkdir()
    (src / "random.bin").write_bytes(os.urandom(6 * MIB))
    try:
        for args, inp in ((("enroll", "--password-stdin"), "limit password\n"), (("init",), None)):
            r = cs(*args, input=inp)
            assert r.returncode == 0, r.stderr
        r = cs("backup", "--limit-upload", "fast", str(src))
        assert r.returncode == 2 and "--limit-upload wants" in r.stderr, r.stderr
        before = proxy_stats(ep)["bytes_up"]
        start = time.monotonic()
        r = cs("backup", "--limit-upload", "1M", "--no-cache", str(src), timeout=90)
        took = time.monotonic() - start
        assert r.returncode == 0, r.stderr
        sent = proxy_stats(ep)["bytes_up"] - before
    finally:
        cs("lock")
        stop(proc)
    print(f"--limit-upload 1M: {sent} bytes up in {took:.2f} s")
    assert sent >= 6 * MIB  # random data: nothing compressed away
    assert took >= sent / MIB * 0.85, f"{sent} bytes in {took:.2f} s: faster than 1 MiB/s"
