# SPDX-License-Identifier: MIT
"""The fleet directory through an S3 server (s3rver, then Ceph RGW, which
checks signatures: the fleet_s3 fixture): publish,
sync, the ETag short-cut (a conditional GET that returns "unchanged"), a
republish, and an object overwritten by someone holding bucket credentials
but not the fleet key."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")


def test_directory_through_s3(fleet, fleet_s3, tmp_path):
    url, s3tool = fleet_s3

    fleet.cli("add-user", "alice", "--uid", "1400000")
    fleet.publish()
    assert "installed fleet directory serial 1" in fleet.sync().stdout
    assert "unchanged (serial 1)" in fleet.sync().stdout       # If-None-Match answered
    fleet.cli("add-user", "bob", "--uid", "1400001")
    fleet.publish()
    assert "serial 2: 2 users" in fleet.sync().stdout
    assert fleet.getent("passwd", "bob", check=True).stdout.startswith("bob:x:1400001:")

    # someone with bucket credentials but not the fleet key rewrites the object
    before = fleet.cache.read_bytes()
    forged = subprocess.run(s3tool + [url, "get", "fleet/directory"], capture_output=True,
                            timeout=60, check=True).stdout.replace(b'"uid":1400001', b'"uid":1400002')
    subprocess.run(s3tool + [url, "put", "fleet/directory"], input=forged, capture_output=True,
                   timeout=60, check=True)
    r = fleet.sync(check=False)
    assert r.returncode != 0 and "signature does not verify" in r.stderr
    assert fleet.cache.read_bytes() == before
