#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A tiny fake S3 server that misbehaves on purpose, on loopback only.

    hostile_s3.py PORT      (0: the kernel picks; "hostile ready PORT" says which)

It speaks just enough HTTP for ListObjectsV2 (GET /BUCKET?list-type=2...) and
HEAD/GET of an object; the bucket name picks the misbehaviour:

  huge-listing   a listing body that never ends (streamed, chunked)
  many-keys      valid pages of 1000 increasing keys, always "truncated"
  malformed      not XML at all
  truncated-xml  a page cut in the middle of an element
  loop-same      truncated, the same token and the same keys every time
  loop-empty     truncated, empty pages with the same token
  no-token       truncated but no NextContinuationToken
  outside        keys outside the prefix that was asked for
  entities       a DOCTYPE with nested entities ("billion laughs")
  deep           elements nested thousands deep
  long-key       a 100 kB key
  bad-size       <Size>-1</Size>
  hang           accepts, reads the request, never answers
  garbage-http   answers with bytes that are not HTTP
"""
import http.server
import sys
import time
import urllib.parse

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'


def contents(key, size=1):
    return (f"<Contents><Key>{key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
            f"<ETag>&quot;x&quot;</ETag><Size>{size}</Size></Contents>")


def page(prefix, keys, truncated, token=None):
    t = f"<NextContinuationToken>{token}</NextContinuationToken>" if token else ""
    return (HEAD + f"<Name>b</Name><Prefix>{prefix}</Prefix><KeyCount>{len(keys)}</KeyCount>"
            f"<MaxKeys>1000</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{t}"
            + "".join(contents(k) for k in keys) + "</ListBucketResult>")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_xml(self, body, status=200):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self):
        # /forbidden/...: what S3 answers credentials that may not read there
        self.send_response(403 if self.path.startswith("/forbidden") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        mode = u.path.strip("/").split("/")[0]
        q = urllib.parse.parse_qs(u.query)
        prefix = q.get("prefix", [""])[0]
        token = q.get("continuation-token", [None])[0]
        if mode == "huge-listing":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = ("".join(contents(f"{prefix}k{i:09d}") for i in range(200))).encode()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(HEAD), HEAD.encode()))
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                return
        if mode == "many-keys":
            n = int(token or "0")
            keys = [f"{prefix}k{n + i:012d}" for i in range(1000)]
            return self.send_xml(page(prefix, keys, True, str(n + 1000)))
        if mode == "malformed":
            return self.send_xml("this is { not xml at all")
        if mode == "truncated-xml":
            return self.send_xml(page(prefix, [prefix + "a"], False)[:-40])
        if mode == "loop-same":
            return self.send_xml(page(prefix, [prefix + "a", prefix + "b"], True, "AAAA"))
        if mode == "loop-empty":
            return self.send_xml(page(prefix, [], True, "AAAA"))
        if mode == "no-token":
            return self.send_xml(page(prefix, [prefix + "a"], True))
        if mode == "outside":
            return self.send_xml(page(prefix, ["../../etc/passwd", "zzz/other"], False))
        if mode == "entities":
            lol = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                   + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i else "")) * 10}">' for i in range(1, 10))
                   + ']><ListBucketResult><Contents><Key>&lol9;</Key><Size>1</Size></Contents></ListBucketResult>')
            return self.send_xml(lol)
        if mode == "deep":
            return self.send_xml(HEAD + "<a>" * 5000 + "</a>" * 5000 + "</ListBucketResult>")
        if mode == "long-key":
            return self.send_xml(page(prefix, [prefix + "k" * 100000], False))
        if mode == "bad-size":
            return self.send_xml(page(prefix, [prefix + "a"], False).replace("<Size>1</Size>", "<Size>-1</Size>"))
        if mode == "hang":
            time.sleep(3600)  # the fault itself: a server that never answers (not a wait)
            return
        if mode == "garbage-http":
            self.wfile.write(b"\x00\x01garbage\r\n\r\n")
            self.close_connection = True
            return
        self.send_xml("<Error><Code>NoSuchBucket</Code><Message>no</Message></Error>", 404)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.daemon_threads = True
    print(f"hostile ready {srv.server_address[1]}", flush=True)  # port 0: the one it got
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
