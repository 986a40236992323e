# SPDX-License-Identifier: MIT
"""The convergence property test against the S3 backend (s3rver on
127.0.0.1, started by the S3 tests' fixtures): the same seeded 2- and
3-device runs as the unit test, with the repository in a bucket."""
import importlib.util
import os
import pathlib
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BUILD = ROOT / os.environ.get("O", "build")

_spec = importlib.util.spec_from_file_location("cs_s3_conftest", HERE.parent / "s3" / "conftest.py")
s3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s3)


@pytest.fixture(scope="module")
def s3rver_endpoint(tmp_path_factory):
    s3.install_s3rver()
    d = tmp_path_factory.mktemp("s3rver-archive")
    port = s3.free_port()
    with open(d / "log", "w") as log:
        proc = subprocess.Popen([str(s3.S3RVER), "-d", str(d / "data"), "-a", "127.0.0.1", "-p", str(port),
                                 "--no-vhost-buckets", "--silent"], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            if not s3.wait_port(port, proc):
                pytest.fail(f"s3rver did not start; see {d}/log")
            ep = s3.Endpoint(port, "S3RVER", "S3RVER", "s3rver")
            ep.ok(f"{ep.base}/cs-archive", "mkbucket")
            yield ep
        finally:
            s3.stop(proc)


def test_property_converges_on_s3(s3rver_endpoint):
    seeds = os.environ.get("ARCHIVE_S3_SEEDS", "15")
    env = s3rver_endpoint.env(ARCHIVE_TEST_STORAGE=f"{s3rver_endpoint.base}/cs-archive",
                              ARCHIVE_SEEDS=seeds, ARCHIVE_SEED_BASE="500")
    r = subprocess.run([str(BUILD / "tests" / "test_archive_converge")], env=env, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"2 devices: {seeds} seeds converged" in r.stdout + r.stderr
    assert f"3 devices: {seeds} seeds converged" in r.stdout + r.stderr
