# SPDX-License-Identifier: MIT
"""[storage] upload_limit and download_limit against Ceph RGW: the total
rate over all parallel transfers (here a multipart upload, four parts in
flight) stays within 15 % of the limit over 10 s: never faster, and not
slower once what the same transfer takes without a limit (process start,
RGW's own work, completing the upload) is taken off, so that a loaded
machine does not count against the limit."""
import os
import time

MIB = 1 << 20


def timed(ep, *args, **kw):
    start = time.monotonic()
    r = ep.ok(*args, **kw)
    return r, time.monotonic() - start


def config(tmp_path, name, limits):
    cfg = tmp_path / name
    cfg.write_text("[storage]\n" + limits + "multipart_threshold = 5M\nmultipart_part_size = 5M\n"
                   "multipart_parallel = 4\n")
    return cfg


def test_upload_and_download_limits_hold_over_parallel_transfers(rgw, rgw_bucket, tmp_path):
    free = config(tmp_path, "free.conf", "")
    limited = config(tmp_path, "limit.conf", "upload_limit = 2M\ndownload_limit = 2M\n")
    url = f"{rgw_bucket}/bw-{os.getpid()}"
    body = os.urandom(20 * MIB)
    _, up0 = timed(rgw, url, "put", "obj", input=body, config=free, timeout=120)
    _, up = timed(rgw, url, "put", "obj", input=body, config=limited, timeout=120)
    _, down0 = timed(rgw, url, "get", "obj", config=free, timeout=120)
    r, down = timed(rgw, url, "get", "obj", config=limited, timeout=120)
    assert r.stdout == body
    rgw.ok(url, "del", "obj")
    print(f"20 MiB at 2 MiB/s: upload {up:.2f} s ({up0:.2f} s unlimited), "
          f"download {down:.2f} s ({down0:.2f} s unlimited)")
    # 20 MiB at 2 MiB/s: 10 s
    assert up >= 10 / 1.15 and up - up0 <= 10 / 0.85, f"upload took {up:.2f} s, {up0:.2f} s unlimited"
    assert down >= 10 / 1.15 and down - down0 <= 10 / 0.85, f"download took {down:.2f} s, {down0:.2f} s unlimited"
