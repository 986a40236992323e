# SPDX-License-Identifier: MIT
"""The server acted, the reply was lost: fault_proxy.py --lose-reply forwards
the request, lets the server store (or delete) the object, and resets the
connection instead of relaying the answer.  The client retries; the code for
exactly that case must run and get it right: a retried conditional PUT that
meets 412 compares the stored bytes (our own write, not a conflict), a
retried DELETE finds nothing to delete, an archive sync whose segment and
pack writes lose their replies still converges.  Against Ceph RGW, which
honours If-None-Match (s3rver ignores it, so the 412 path never runs there)."""
import os
import pathlib
import subprocess
import sys
import urllib.request
import json

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from s3_helpers import BUILD, Endpoint, start_plain_proxy, stop  # noqa: E402

sys.path.insert(0, str(HERE.parent / "archive"))
from archive_helpers import PASSWORD, Workstation, message, run  # noqa: E402


def stats(ep):
    with urllib.request.urlopen(f"http://127.0.0.1:{ep.port}/__proxy_stats", timeout=30) as r:
        return json.load(r)


@pytest.fixture
def lossy(rgw):
    """Returns start(methods, match): a proxy in front of rgw that loses the
    reply to the first request for each matching (method, path)."""
    procs = []

    def start(methods="PUT,DELETE", match=""):
        port, proc = start_plain_proxy(rgw.port, 0, "--lose-reply", "1", "--lose-reply-once",
                                       "--lose-reply-methods", methods, "--lose-reply-match", match)
        procs.append(proc)
        return Endpoint(port, rgw.access, rgw.secret, "lossy")

    yield start
    for p in procs:
        stop(p)


def test_immutable_put_whose_reply_was_lost_is_not_a_conflict(rgw, rgw_bucket, lossy):
    ep = lossy("PUT", match=r"/lost/obj$")
    url = rgw_bucket.replace(rgw.base, ep.base) + "/lost"
    r = ep.run(url, "put", "obj", "--immutable", input=b"payload one")
    assert r.returncode == 0, r.stderr  # stored by the first attempt; the retry's 412 is our own write
    assert stats(ep)["lost_replies_PUT"] == 1
    assert rgw.ok(f"{rgw_bucket}/lost", "get", "obj").stdout == b"payload one"
    # other bytes under the same key still conflict
    r = ep.run(url, "put", "obj", "--immutable", input=b"payload two")
    assert r.returncode == 1 and "EEXIST" in r.stderr, r.stderr
    assert rgw.ok(f"{rgw_bucket}/lost", "get", "obj").stdout == b"payload one"


def test_delete_whose_reply_was_lost_succeeds(rgw, rgw_bucket, lossy):
    rgw.ok(f"{rgw_bucket}/lostdel", "put", "gone", input=b"x")
    ep = lossy("DELETE")
    r = ep.run(rgw_bucket.replace(rgw.base, ep.base) + "/lostdel", "del", "gone")
    assert r.returncode == 0, r.stderr
    assert stats(ep)["lost_replies_DELETE"] == 1
    r = rgw.run(f"{rgw_bucket}/lostdel", "get", "gone")
    assert r.returncode == 1 and "ENOENT" in r.stderr, r.stderr


def test_archive_sync_whose_segment_and_pack_replies_were_lost(rgw, rgw_bucket, lossy, cs_config, tmp_path,
                                                               lock_at_end):
    ep = lossy("PUT", match=r"/archive/(log|pack)/")
    secret = tmp_path / "rgw-secret"
    secret.write_text(rgw.secret + "\n")
    secret.chmod(0o600)
    path, write = cs_config
    prefix = f"lost-archive-{os.getpid()}-{tmp_path.name}"

    def storage(endpoint):
        return {"url": rgw_bucket.replace(rgw.base, endpoint.base) + "/" + prefix, "access_key": rgw.access,
                "secret_key_file": str(secret)}

    write(storage=storage(rgw))
    env = {"CLOUDSEAL_CONFIG": str(path)}
    lock_at_end(env)
    run([str(BUILD / "cloudseal"), "enroll", "--password-stdin"], input=PASSWORD + "\n", env=env)
    write(storage=storage(ep))  # a syncs through the proxy; b (below) straight to rgw
    a = Workstation(tmp_path, "a", path)
    for i in range(20):
        a.deliver(f"{i}.M1.a", message(i))
    a.sync()
    s = stats(ep)
    assert s.get("lost_replies_PUT", 0) >= 2, s  # at least one pack and one segment
    write(storage=storage(rgw))
    b = Workstation(tmp_path, "b", path)
    b.sync()
    assert sorted(b.messages().values()) == sorted(a.messages().values())
    assert len(b.messages()) == 20
    a.sync()  # and a, on its next sync, has nothing left to repair or to conflict with
