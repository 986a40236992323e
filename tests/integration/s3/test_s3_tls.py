# SPDX-License-Identifier: MIT
"""s3:// is HTTPS with certificate verification: against a TLS front for
RGW (fault_proxy.py --tls, no faults) with a throw-away CA, the backend works
with [storage] ca_file and refuses the server without it."""
import subprocess
import time

import pytest

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import start_plain_proxy, stop  # noqa: E402


@pytest.fixture(scope="module")
def tls_front(rgw, rgw_bucket, tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    port, proc = start_plain_proxy(rgw.port, 0, "--tls", d / "cert.pem", d / "key.pem")
    try:
        yield port, d / "cert.pem"
    finally:
        stop(proc)


def test_https_with_ca_file(rgw, tls_front, tmp_path):
    port, ca = tls_front
    conf = tmp_path / "c.conf"
    conf.write_text(f"[storage]\nca_file = {ca}\n")
    url = f"s3://127.0.0.1:{port}/cs-test-bucket/tls"
    rgw.ok(url, "put", "over/tls", input=b"secret bytes", config=conf)
    assert rgw.ok(url, "get", "over/tls", config=conf).stdout == b"secret bytes"


def test_https_refuses_unknown_ca(rgw, tls_front):
    port, _ = tls_front
    t = time.monotonic()
    r = rgw.run(f"s3://127.0.0.1:{port}/cs-test-bucket/tls", "list")
    assert r.returncode == 1 and "EPROTO" in r.stderr and "certificate" in r.stderr.lower()
    assert time.monotonic() - t < 5
