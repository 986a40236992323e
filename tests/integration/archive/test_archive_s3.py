# SPDX-License-Identifier: MIT
"""The convergence property test against the S3 backend (s3rver and Ceph
RGW on 127.0.0.1, the tree's session fixtures): the same seeded 2- and
3-device runs as the unit test, with the repository in a bucket."""
import os
import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BUILD = ROOT / os.environ.get("O", "build")


def test_property_converges_on_s3(s3_server):
    seeds = os.environ.get("ARCHIVE_S3_SEEDS", "15")
    s3_server.ok(f"{s3_server.base}/cs-archive", "mkbucket")
    env = s3_server.env(ARCHIVE_TEST_STORAGE=f"{s3_server.base}/cs-archive",
                        ARCHIVE_SEEDS=seeds, ARCHIVE_SEED_BASE="500")
    r = subprocess.run([str(BUILD / "tests" / "test_archive_converge")], env=env, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"2 devices: {seeds} seeds converged" in r.stdout + r.stderr
    assert f"3 devices: {seeds} seeds converged" in r.stdout + r.stderr
