# SPDX-License-Identifier: MIT
"""A fake S3 server that accepts only requests whose SigV4 signature the
independent verifier (sigv4.py) accepts; keeps objects in memory, records
every request (srv.log: method, path, why refused; srv.seen: session token
and Authorization header) and answers ExpiredToken for the session tokens
in srv.expired_tokens.  The fixture yields (server, Endpoint)."""
import hashlib
import http.server
import pathlib
import sys
import threading

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import sigv4  # noqa: E402
from s3_helpers import Endpoint  # noqa: E402


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
        token = self.headers.get("x-amz-security-token")
        auth = self.headers.get("Authorization", "")
        self.server.seen.append({"token": token, "auth": auth})
        if not why and token is not None and token in self.server.expired_tokens:
            return self._reply(400, b"<Error><Code>ExpiredToken</Code><Message>The provided token has expired."
                               b"</Message></Error>", [("Content-Type", "application/xml")])
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
    srv.seen, srv.expired_tokens = [], set()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, Endpoint(srv.server_address[1], "SIGV4TESTKEY", srv.secret, "sigv4")
    srv.shutdown()
    srv.server_close()
