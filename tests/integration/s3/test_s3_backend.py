# SPDX-License-Identifier: MIT
"""The s3 backend against real servers: s3rver (fast, no signature checks)
and Ceph RGW (checks SigV4 signatures, payload hashes, canonical queries)."""
import json
import os
import subprocess
import time

import pytest

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD  # noqa: E402

SERVERS = ["s3rver", "rgw"]


@pytest.fixture(params=SERVERS)
def srv(request):
    """(endpoint, bucket URL) for each real server."""
    ep = request.getfixturevalue(request.param)
    return ep, request.getfixturevalue(f"{request.param}_bucket")


def test_put_get_stat_list_delete(srv, tmp_path):
    ep, bucket = srv
    url = f"{bucket}/basic"
    data = os.urandom(70000)
    ep.ok(url, "put", "dir/obj.bin", input=data)
    assert ep.ok(url, "get", "dir/obj.bin").stdout == data
    size, etag, mtime = ep.ok(url, "stat", "dir/obj.bin").stdout.decode().split()
    assert int(size) == len(data) and etag.startswith('"') and abs(int(mtime) - time.time()) < 3600
    assert ep.ok(url, "get", "dir/obj.bin", "100", "50").stdout == data[100:150]
    assert ep.ok(url, "get", "dir/obj.bin", "69990", "0").stdout == data[69990:]
    ep.ok(url, "put", "dir/other", input=b"x")
    listed = ep.ok(url, "list", "dir/").stdout.decode().splitlines()
    assert listed == [f"dir/obj.bin {len(data)}", "dir/other 1"]
    ep.ok(url, "del", "dir/obj.bin")
    r = ep.run(url, "get", "dir/obj.bin")
    assert r.returncode == 1 and "ENOENT" in r.stderr
    assert ep.ok(url, "list", "dir/").stdout.decode().splitlines() == ["dir/other 1"]


def test_key_and_query_canonicalisation(srv):
    """Keys and list prefixes with bytes that must be percent-encoded: RGW
    refuses the signature unless path and query are canonical."""
    ep, bucket = srv
    url = f"{bucket}/canon"
    keys = ["dir ä/a b+c=d&e?f", "dir ä/~tilde(1)!*'", "dir ä/%41literal-percent", "dir ä/日本語"]
    for i, k in enumerate(keys):
        ep.ok(url, "put", k, input=f"v{i}".encode())
    for i, k in enumerate(keys):
        assert ep.ok(url, "get", k).stdout == f"v{i}".encode()
    listed = [line.rsplit(" ", 1)[0] for line in ep.ok(url, "list", "dir ä/").stdout.decode().splitlines()]
    assert sorted(listed) == sorted(keys)


def test_listing_pages_with_continuation_tokens(rgw, rgw_bucket):
    """More than one 1000-key page: the continuation token round trip (on
    RGW only: 1100 HEAD+PUT pairs take 14 s on s3rver)."""
    ep, url = rgw, f"{rgw_bucket}/pages"
    r = ep.ok(url, "stress", "1100", "1", "8", timeout=300)
    assert b"stress ok: 1100 objects" in r.stdout


def test_conditional_get(srv):
    ep, bucket = srv
    url = f"{bucket}/cond"
    ep.ok(url, "put", "keybag", input=b"one")
    etag = ep.ok(url, "stat", "keybag").stdout.decode().split()[1]
    assert ep.ok(url, "getif", "keybag", etag).stdout == b"unchanged\n"
    ep.ok(url, "put", "keybag", input=b"two!")
    out = ep.ok(url, "getif", "keybag", etag).stdout.decode().split()
    assert out[0] == "changed" and out[1] != etag and out[2] == "4"


def test_immutable_put_never_overwrites(srv):
    ep, bucket = srv
    url = f"{bucket}/immutable"
    r = ep.ok(url, "put", "data/ab/abcdef", "--immutable", input=b"first")
    mode = "conditional" if ep.name == "rgw" else "head-then-put"
    assert f"immutable={mode}" in r.stderr
    r = ep.run(url, "put", "data/ab/abcdef", "--immutable", input=b"second")
    assert r.returncode == 1 and "EEXIST" in r.stderr
    assert ep.ok(url, "get", "data/ab/abcdef").stdout == b"first"
    # the probe object is gone again
    assert ep.ok(url, "list", "data/").stdout.decode().splitlines() == ["data/ab/abcdef 5"]


def test_size_limit(srv):
    ep, bucket = srv
    url = f"{bucket}/limit"
    ep.ok(url, "put", "big", input=b"z" * 5000)
    r = ep.run(url, "get", "big", "0", "0", "4999")
    assert r.returncode == 1 and "EMSGSIZE" in r.stderr
    assert len(ep.ok(url, "get", "big", "0", "0", "5000").stdout) == 5000


def test_missing_bucket(srv):
    ep, _ = srv
    t = time.monotonic()
    r = ep.run(f"{ep.base}/no-such-bucket-here", "list")
    assert r.returncode == 1 and "ENXIO" in r.stderr and "NoSuchBucket" in r.stderr
    assert time.monotonic() - t < 5


def test_rgw_rejects_wrong_secret(rgw, rgw_bucket):
    t = time.monotonic()
    r = rgw.run(rgw_bucket, "list", env=rgw.env(AWS_SECRET_ACCESS_KEY="wrong-secret"))
    assert r.returncode == 1 and "EACCES" in r.stderr and "SignatureDoesNotMatch" in r.stderr
    assert "wrong-secret" not in r.stderr
    assert time.monotonic() - t < 5


def test_rgw_rejects_unknown_access_key(rgw, rgw_bucket):
    r = rgw.run(rgw_bucket, "put", "x", input=b"x", env=rgw.env(AWS_ACCESS_KEY_ID="NOSUCHKEY"))
    assert r.returncode == 1 and "EACCES" in r.stderr and "InvalidAccessKeyId" in r.stderr


def test_no_credentials(rgw, rgw_bucket):
    env = {k: v for k, v in rgw.env().items() if not k.startswith("AWS_")}
    r = rgw.run(rgw_bucket, "list", env=env)
    assert r.returncode == 1 and "ENOKEY" in r.stderr


def test_credentials_from_config(rgw, rgw_bucket, tmp_path):
    sk = tmp_path / "secret"
    sk.write_text(rgw.secret + "\n")
    sk.chmod(0o600)
    conf = tmp_path / "cloudseal.conf"
    conf.write_text(f"[storage]\nurl = {rgw_bucket}/cfg\naccess_key = {rgw.access}\nsecret_key_file = {sk}\n")
    env = {k: v for k, v in rgw.env().items() if not k.startswith("AWS_")}
    rgw.ok(f"{rgw_bucket}/cfg", "put", "k", input=b"v", config=conf, env=env)
    sk.chmod(0o644)
    r = rgw.run(f"{rgw_bucket}/cfg", "list", config=conf, env=env)
    assert r.returncode == 1 and "chmod 600" in r.stderr


def test_cli_storage_commands(rgw, rgw_bucket, tmp_path):
    sk = tmp_path / "secret"
    sk.write_text(rgw.secret)
    sk.chmod(0o600)
    conf = tmp_path / "cloudseal.conf"
    conf.write_text(f"[storage]\nurl = {rgw_bucket}/cli\naccess_key = {rgw.access}\nsecret_key_file = {sk}\n")
    env = {k: v for k, v in rgw.env().items() if not k.startswith("AWS_")}
    cs = [str(BUILD / "cloudseal"), "--config", str(conf)]

    def run(*a):
        return subprocess.run(cs + list(a), env=env, capture_output=True, text=True, timeout=60)

    r = run("storage", "test", "--write")
    assert r.returncode == 0 and "OK" in r.stdout and "write/read/delete works" in r.stdout, r.stderr
    rgw.ok(f"{rgw_bucket}/cli", "put", "users/alice/keybag", input=b"kb")
    r = run("storage", "ls", "--json", "users/")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert [e["key"] for e in entries] == ["users/alice/keybag"] and entries[0]["size"] == 2
    r = run("storage", "ls", "--long")
    assert "users/alice/keybag" in r.stdout
    r = run("--json", "storage", "test", f"{rgw.base}/missing-bucket-x")
    assert r.returncode == 4 and json.loads(r.stdout)["ok"] is False
    r = run("storage", "test", f"{rgw.base}/missing-bucket-x")
    assert r.returncode == 4 and "bucket does not exist" in r.stderr
    sk.write_text("not-the-secret")
    r = run("storage", "test")
    assert r.returncode == 1 and "refused the credentials" in r.stderr
    r = run("storage", "--help")
    assert r.returncode == 0 and "storage test" in r.stdout


def test_unreadable_admin_secret_falls_back_to_user_credentials(rgw, rgw_bucket, tmp_path):
    """A user who may not read the admin's secret_key_file (root, 0600) uses
    their own credentials from the environment; with none: ENOKEY."""
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    import pathlib
    import shutil
    import tempfile
    d = pathlib.Path(tempfile.mkdtemp(prefix="cs-s3-perm-"))  # tmp_path's parents are 0700
    request_cleanup = shutil.rmtree
    d.chmod(0o755)
    # a copy uid 65534 can run wherever the build directory is (a clone under /root is not)
    tool = str(d / "s3tool")
    shutil.copy(BUILD / "tests" / "s3tool", tool)
    assert subprocess.run(drop + [tool], capture_output=True, timeout=30).returncode == 2
    sk = d / "admin.secret"
    sk.write_text("admin-secret-not-for-users\n")
    sk.chmod(0o600)
    conf = d / "c.conf"
    conf.write_text(f"[storage]\naccess_key = ADMINKEY\nsecret_key_file = {sk}\n")
    conf.chmod(0o644)
    url = f"{rgw_bucket}/fallback"
    env = rgw.env()
    r = subprocess.run(drop + [tool, "--config", str(conf), url, "put", "k"], input=b"v", env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    r = subprocess.run(drop + [tool, "--config", str(conf), url, "list"], env=env, capture_output=True,
                       timeout=60)
    request_cleanup(d)
    assert r.returncode == 1 and b"ENOKEY" in r.stderr
