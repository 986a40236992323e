# SPDX-License-Identifier: MIT
"""Multipart uploads against Ceph RGW (which checks every signature and
every part): a 70 MiB object in 5 MiB parts through the fault proxy (5xx,
resets, truncated replies) arrives byte-identical; a lost completion reply
is recognised; an upload whose parts keep failing is aborted; `storage
cleanup` aborts the unfinished uploads under its prefix older than asked,
and only those.  Unfinished uploads are listed by this file's own SigV4
client (sigv4.py), not by the parser under test."""
import datetime
import hashlib
import http.client
import os
import pathlib
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sigv4  # noqa: E402
from s3_helpers import BUILD, Endpoint, proxy_stats, start_plain_proxy, stop  # noqa: E402

BUCKET = "cs-test-bucket"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def signed(ep, method, path, query="", body=b""):
    """One request to ep signed with sigv4.py; returns (status, body)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    h = {"host": f"127.0.0.1:{ep.port}", "x-amz-date": amz_date,
         "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    scope = f"{day}/us-east-1/s3/aws4_request"
    sig = sigv4.signature(ep.secret, method, path, query, h, sorted(h), h["x-amz-content-sha256"], amz_date, scope)
    h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ep.access}/{scope}, "
                          f"SignedHeaders={';'.join(sorted(h))}, Signature={sig}")
    c = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=60)
    c.request(method, path + ("?" + query if query else ""), body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def uploads(rgw, prefix):
    """[(key, upload id)] of unfinished uploads under prefix."""
    q = "prefix=" + urllib.parse.quote(prefix, safe="") + "&uploads="
    status, data = signed(rgw, "GET", f"/{BUCKET}", q)
    assert status == 200, data
    root = ET.fromstring(data)
    return [(u.find(NS + "Key").text, u.find(NS + "UploadId").text) for u in root.iter(NS + "Upload")]


def orphan(rgw, key):
    status, data = signed(rgw, "POST", f"/{BUCKET}/{urllib.parse.quote(key)}", "uploads=")
    assert status == 200, data
    return ET.fromstring(data).find(NS + "UploadId").text


def mp_config(tmp_path, **extra):
    cfg = tmp_path / "mp.conf"
    lines = ["[storage]", "multipart_threshold = 5M", "multipart_part_size = 5M", "multipart_parallel = 4"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def test_large_object_through_the_fault_proxy(rgw, rgw_bucket, proxy, tmp_path):
    prefix = f"mp-{os.getpid()}"
    body = os.urandom(70 << 20)
    cfg = mp_config(tmp_path)
    r = proxy.ok(f"{proxy.base}/{BUCKET}/{prefix}", "put", "big", input=body, config=cfg, timeout=600)
    assert "requests=" in r.stderr, repr(r.stderr)
    requests = int(r.stderr.split("requests=")[1].split()[0])
    assert requests >= 16, r.stderr  # create, 14 parts, complete: not one PUT
    assert rgw.ok(f"{rgw_bucket}/{prefix}", "stat", "big").stdout.split()[0] == str(len(body)).encode()
    got = rgw.ok(f"{rgw_bucket}/{prefix}", "get", "big", timeout=300).stdout
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    assert ".cloudseal" not in rgw.ok(f"{rgw_bucket}/{prefix}", "list").stdout.decode()
    # a create whose reply the proxy reset is retried, and the client aborts
    # the upload it left (test_a_lost_create_reply_leaves_no_upload_behind);
    # that abort can itself be reset by this proxy, and then the leftover is
    # what `storage cleanup` is for
    left = uploads(rgw, prefix + "/")
    assert all(k == f"{prefix}/big" for k, _ in left), left
    rgw.ok(f"{rgw_bucket}/{prefix}", "cleanup", "0")
    assert uploads(rgw, prefix + "/") == []
    # below the threshold: one PUT
    r = rgw.ok(f"{rgw_bucket}/{prefix}", "put", "small", input=body[:1 << 20], config=cfg)
    assert "requests=1 " in r.stderr, r.stderr
    # an immutable large object is not written twice
    r = rgw.run(f"{rgw_bucket}/{prefix}", "put", "big", "--immutable", input=body[:6 << 20], config=cfg)
    assert r.returncode == 1 and "EEXIST" in r.stderr, r.stderr
    for k in ("big", "small"):
        rgw.ok(f"{rgw_bucket}/{prefix}", "del", k)


def lossy_proxy(rgw, methods, match, once):
    port, proc = start_plain_proxy(rgw.port, 0, "--lose-reply", "1", "--lose-reply-methods", methods,
                                   "--lose-reply-match", match, *(["--lose-reply-once"] if once else []))
    return proc, Endpoint(port, rgw.access, rgw.secret, "lossy")


def test_a_lost_completion_reply_is_not_a_failure(rgw, rgw_bucket, tmp_path):
    proc, ep = lossy_proxy(rgw, "POST", r"uploadId=", once=True)
    prefix = f"mp-lost-{os.getpid()}"
    body = os.urandom(11 << 20)
    try:
        ep.ok(f"{ep.base}/{BUCKET}/{prefix}", "put", "obj", input=body, config=mp_config(tmp_path))
        assert proxy_stats(ep)["lost_replies"] == 1  # the completion's
    finally:
        stop(proc)
    assert rgw.ok(f"{rgw_bucket}/{prefix}", "get", "obj").stdout == body
    rgw.ok(f"{rgw_bucket}/{prefix}", "del", "obj")


def test_an_upload_whose_parts_fail_is_aborted(rgw, rgw_bucket, tmp_path):
    proc, ep = lossy_proxy(rgw, "PUT", r"partNumber=", once=False)
    prefix = f"mp-fail-{os.getpid()}"
    try:
        r = ep.run(f"{ep.base}/{BUCKET}/{prefix}", "put", "obj", input=os.urandom(11 << 20),
                   config=mp_config(tmp_path, max_retries=1))
    finally:
        stop(proc)
    assert r.returncode == 1 and "ECONNRESET" in r.stderr, r.stderr
    assert uploads(rgw, prefix + "/") == []
    r = rgw.run(f"{rgw_bucket}/{prefix}", "stat", "obj")
    assert r.returncode == 1 and "ENOENT" in r.stderr


def test_cleanup_aborts_stale_uploads_under_its_prefix(rgw, rgw_bucket, cs_config, tmp_path):
    prefix, other = f"mp-clean-{os.getpid()}", f"mp-other-{os.getpid()}"
    orphan(rgw, f"{prefix}/a")
    orphan(rgw, f"{prefix}/dir/b")
    kept = orphan(rgw, f"{other}/c")
    url = f"{rgw_bucket}/{prefix}"
    assert rgw.ok(url, "cleanup", "3600").stdout == b"aborted 0\n"  # a running upload is left alone
    assert len(uploads(rgw, prefix + "/")) == 2
    path, write = cs_config
    write(storage={"url": url})
    r = subprocess.run([str(BUILD / "cloudseal"), "storage", "cleanup", "--older-than", "0"],
                       env=rgw.env(CLOUDSEAL_CONFIG=str(path)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "2 unfinished uploads aborted\n", (r.stdout, r.stderr)
    assert uploads(rgw, prefix + "/") == []
    assert uploads(rgw, other + "/") == [(f"{other}/c", kept)]
    status, _ = signed(rgw, "DELETE", f"/{BUCKET}/{other}/c", "uploadId=" + urllib.parse.quote(kept, safe=""))
    assert status == 204


def test_a_lost_create_reply_leaves_no_upload_behind(rgw, rgw_bucket, tmp_path):
    """RGW made the upload but its id never came back: the retried create
    makes a second one, and the first must not be left for `storage
    cleanup` (the session proxy's resets hit this now and then)."""
    proc, ep = lossy_proxy(rgw, "POST", r"\?uploads=", once=True)
    prefix = f"mp-create-{os.getpid()}"
    body = os.urandom(11 << 20)
    try:
        ep.ok(f"{ep.base}/{BUCKET}/{prefix}", "put", "obj", input=body, config=mp_config(tmp_path))
        assert proxy_stats(ep)["lost_replies"] == 1  # the first create's
    finally:
        stop(proc)
    assert uploads(rgw, prefix + "/") == []
    assert rgw.ok(f"{rgw_bucket}/{prefix}", "get", "obj").stdout == body
    rgw.ok(f"{rgw_bucket}/{prefix}", "del", "obj")
