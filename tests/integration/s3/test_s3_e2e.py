# SPDX-License-Identifier: MIT
"""End to end: `cloudseal backup` and `cloudseal restore` against Ceph RGW
through the fault-injecting proxy; the restore is byte-identical."""
import filecmp
import os
import subprocess

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD, proxy_stats  # noqa: E402


def make_tree(root, seed=7):
    """A small home directory: many small files, a few over 1 MiB, a link."""
    import random
    rng = random.Random(seed)
    for i in range(60):
        d = root / f"dir{i % 6}" / f"sub{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        size = rng.choice([0, 10, 3000, 70000]) if i % 20 else 1_500_000 + i
        (d / f"file{i}.bin").write_bytes(rng.randbytes(size))
    (root / "notes ä b+c.txt").write_text("unicode name\n")
    os.symlink("dir0/sub0/file0.bin", root / "link")


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_backup_restore_through_fault_proxy(proxy, rgw, rgw_bucket, cs_config, tmp_path):
    path, write = cs_config
    write(storage={"url": f"{proxy.base}/cs-test-bucket/e2e-{os.getpid()}", "max_retries": "8"})
    env = proxy.env(CLOUDSEAL_CONFIG=str(path))
    cs = str(BUILD / "cloudseal")

    def run(*args, input=None):
        r = subprocess.run([cs, *args], input=input, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    src = tmp_path / "home"
    make_tree(src)
    before = proxy_stats(proxy)
    try:
        run("enroll", "--password-stdin", input="e2e password\n")
        run("init")
        run("backup", str(src))
        run("restore", "latest", "--target", str(tmp_path / "out"))
        after = proxy_stats(proxy)
        restored = tmp_path / "out" / str(src).lstrip("/")
        if not restored.exists():
            restored = tmp_path / "out" / src.name
        assert same_tree(src, restored)
        assert os.readlink(restored / "link") == "dir0/sub0/file0.bin"
        faults = sum(after[k] - before[k] for k in ("errors", "resets", "truncated"))
        assert faults > 0, (before, after)
    finally:
        subprocess.run([cs, "lock"], env=env, capture_output=True, timeout=60)
