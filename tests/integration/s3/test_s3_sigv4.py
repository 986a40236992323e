# SPDX-License-Identifier: MIT
"""SigV4 signatures checked by an independent verifier (sigv4.py): first the
verifier against AWS's published examples, then every request the client
sends to a server that accepts only what verifies, with keys and prefixes
whose encoding is where signatures go wrong (spaces, '+', '~', '=', '&',
UTF-8, percent signs)."""
import hashlib
import http.server
import pathlib
import sys
import threading

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sigv4  # noqa: E402
from s3_helpers import Endpoint  # noqa: E402

EMPTY = hashlib.sha256(b"").hexdigest()


def test_verifier_reproduces_aws_published_signatures():
    # S3 API reference, "Signature Calculations for the Authorization Header", GET Object
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    headers = {"host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
               "x-amz-content-sha256": EMPTY, "x-amz-date": "20130524T000000Z"}
    assert sigv4.signature(secret, "GET", "/test.txt", "", headers, sorted(headers), EMPTY,
                           "20130524T000000Z", "20130524/us-east-1/s3/aws4_request") == \
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    # the Signature Version 4 test suite, get-vanilla
    headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    assert sigv4.signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "GET", "/", "", headers,
                           sorted(headers), EMPTY, "20150830T123600Z",
                           "20150830/us-east-1/service/aws4_request") == \
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def test_canonical_forms():
    assert sigv4.canonical_uri("/b/a%20b/c~d") == "/b/a%20b/c~d"
    assert sigv4.canonical_uri("/b/a+b") == "/b/a%2Bb"          # '+' is not a space in a path
    assert sigv4.canonical_query("prefix=a%2Fb&list-type=2") == "list-type=2&prefix=a%2Fb"
    assert sigv4.canonical_query("a=%7e") == "a=~"


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        why = sigv4.verify(self.server.secret, self.command, self.path, dict(self.headers.items()), body)
        self.server.log.append((self.command, self.path, why))
        if why:
            return self._reply(403, b"<Error><Code>SignatureDoesNotMatch</Code><Message>" +
                               why.encode()[:200] + b"</Message></Error>", [("Content-Type", "application/xml")])
        path, _, query = self.path.partition("?")
        parts = path.split("/", 2)  # "", bucket, key
        key = sigv4.urllib.parse.unquote(parts[2]) if len(parts) > 2 else ""
        objs = self.server.objects
        etag = lambda d: '"%s"' % hashlib.md5(d).hexdigest()  # noqa: E731
        if self.command == "PUT":
            if key:
                objs[key] = body
            return self._reply(200, headers=[("ETag", etag(body))] if key else [])
        if self.command == "DELETE":
            objs.pop(key, None)
            return self._reply(204)
        if key:
            if key not in objs:
                return self._reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return self._reply(200, objs[key], [("ETag", etag(objs[key])),
                                                ("Last-Modified", "Sat, 28 Nov 2026 02:00:00 GMT")])
        q = dict(sigv4.urllib.parse.parse_qsl(query, keep_blank_values=True))
        prefix = q.get("prefix", "")
        keys = sorted(k for k in objs if k.startswith(prefix))
        from xml.sax.saxutils import escape
        xml = "".join(f"<Contents><Key>{escape(k)}</Key><Size>{len(objs[k])}</Size><ETag>{escape(etag(objs[k]))}"
                      "</ETag><LastModified>2026-11-28T02:00:00.000Z</LastModified></Contents>" for k in keys)
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Prefix>{escape(prefix)}'
               f"</Prefix><KeyCount>{len(keys)}</KeyCount><IsTruncated>false</IsTruncated>{xml}</ListBucketResult>")
        return self._reply(200, xml.encode(), [("Content-Type", "application/xml")])

    do_GET = do_PUT = do_HEAD = do_DELETE = _handle


@pytest.fixture
def checking_server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.secret, srv.log, srv.objects = "sigv4-test-secret/with+odd=chars", [], {}
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, Endpoint(srv.server_address[1], "SIGV4TESTKEY", srv.secret, "sigv4")
    srv.shutdown()
    srv.server_close()


KEYS = ["plain", "with space", "plus+sign", "tilde~x", "eq=and&amp", "percent%41", "utf8-\u00e9\u4e2d",
        "dir/sub dir/f (1).txt", "star*quote'bang!"]


def test_every_request_the_client_signs_verifies(checking_server, s3tool_bin):
    srv, ep = checking_server
    url = f"{ep.base}/sigv4-bucket/pre-fix"
    for k in KEYS:
        ep.ok(url, "put", k, input=k.encode())
    for k in KEYS:
        assert ep.ok(url, "get", k).stdout == k.encode()
        assert ep.ok(url, "get", k, "1", "3").stdout in (k.encode()[1:4], k.encode())
        ep.ok(url, "stat", k)
    listed = ep.ok(url, "list").stdout.decode().splitlines()
    assert len(listed) == len(KEYS), listed
    assert ep.ok(url, "list", "dir/sub dir/").stdout.decode().count("\n") == 1
    for k in KEYS:
        ep.ok(url, "del", k)
    bad = [entry for entry in srv.log if entry[2]]
    assert not bad, bad
    assert len(srv.log) >= 5 * len(KEYS), srv.log


def test_a_wrong_secret_is_refused_by_the_verifier(checking_server, s3tool_bin):
    srv, ep = checking_server
    r = ep.run(f"{ep.base}/sigv4-bucket/x", "put", "k", input=b"v", env=ep.env(AWS_SECRET_ACCESS_KEY="not-the-secret"))
    assert r.returncode == 1 and "SignatureDoesNotMatch" in r.stderr, r.stderr
    assert srv.log and srv.log[-1][2].startswith("signature ")
