# SPDX-License-Identifier: MIT
"""Virtual-hosted-style addressing (bucket.host/key, [storage] path_style =
no) against Ceph RGW, which maps the bucket from the Host header (its
rgw_dns_name is s3.cstest, see ceph-up.sh).  The wildcard name is resolved
by an /etc/hosts bind-mounted in a private mount namespace of the client,
so the machine's own file is never touched."""
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a mount namespace")


def run_in_namespace(ep, hosts, config, url, *args, input=None, env=None):
    script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(hosts),
           str(BUILD / "tests" / "s3tool"), "--config", str(config), url, *args]
    r = subprocess.run(cmd, input=input, env=env or ep.env(), capture_output=True, timeout=120)
    r.stderr = r.stderr.decode(errors="replace")
    return r


def test_virtual_hosted_style_against_rgw(rgw, rgw_bucket, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 s3.cstest cs-test-bucket.s3.cstest\n")
    vhost = tmp_path / "vhost.conf"
    vhost.write_text("[storage]\npath_style = no\n")
    prefix = f"vhost-{os.getpid()}"
    url = f"s3+http://s3.cstest:{rgw.port}/cs-test-bucket/{prefix}"
    body = os.urandom(100000)
    r = run_in_namespace(rgw, hosts, vhost, url, "put", "obj key", input=body)
    assert r.returncode == 0, r.stderr
    r = run_in_namespace(rgw, hosts, vhost, url, "list")
    assert r.returncode == 0 and r.stdout.decode() == f"obj key {len(body)}\n", (r.stdout, r.stderr)
    # the same object, path-style on the loopback address: the bucket came from the Host header
    assert rgw.ok(f"{rgw_bucket}/{prefix}", "get", "obj key").stdout == body
    # and path-style on the same name reaches the same bucket
    path = tmp_path / "path.conf"
    path.write_text("[storage]\npath_style = yes\n")
    r = run_in_namespace(rgw, hosts, path, url, "get", "obj key")
    assert r.returncode == 0 and r.stdout == body, r.stderr
    rgw.ok(f"{rgw_bucket}/{prefix}", "del", "obj key")
