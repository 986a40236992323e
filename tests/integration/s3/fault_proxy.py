#!/usr/bin/python3
"""Fault-injecting HTTP proxy for S3 tests, on loopback only.

    fault_proxy.py LISTEN_PORT UPSTREAM_PORT [--seed N] [--error P] [--reset P]
                   [--truncate P] [--latency MS] [--tls CERT KEY]

Sits between the client and an S3 server (both on 127.0.0.1) and, per
request, with the given probabilities: answers 500/503 itself (an S3 <Error>),
resets the connection without answering, or forwards the request and then
sends a truncated body (full Content-Length, half the bytes, close).  Every
request is delayed by LATENCY ms.  Headers, Host included, are forwarded
verbatim so SigV4 signatures stay valid.  GET /__proxy_stats returns counts
as JSON (requests, faults injected, request and reply body bytes).  With all
probabilities and the latency at 0 it is a counting proxy (bench/s3.sh).
"""
import argparse
import http.client
import http.server
import json
import random
import socket
import ssl
import struct
import sys
import threading
import time

STATS = {"requests": 0, "errors": 0, "resets": 0, "truncated": 0, "forwarded": 0,
         "bytes_up": 0, "bytes_down": 0}
LOCK = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


def count(k, n=1):
    with LOCK:
        STATS[k] += n


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reset(self):
        count("resets")
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _handle(self):
        if self.path == "/__proxy_stats":
            body = json.dumps(STATS).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        count("requests")
        count("bytes_up", len(body))
        cfg = self.server.cfg
        if cfg.latency:
            time.sleep(cfg.latency / 1000.0)
        with LOCK:
            roll = cfg.rng.random()
        if roll < cfg.error:
            count("errors")
            code, s3code = (500, "InternalError") if roll < cfg.error / 2 else (503, "SlowDown")
            err = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{s3code}</Code>'
                   f'<Message>injected by fault_proxy</Message></Error>').encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(err)))
            self.end_headers()
            self.wfile.write(err)
            return
        if roll < cfg.error + cfg.reset:
            return self._reset()
        truncate = roll < cfg.error + cfg.reset + cfg.truncate and self.command != "HEAD"
        up = http.client.HTTPConnection("127.0.0.1", cfg.upstream, timeout=60)
        up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in HOP and k.lower() != "expect":
                up.putheader(k, v)
        up.endheaders(body)
        resp = up.getresponse()
        data = resp.read()
        count("forwarded")
        count("bytes_down", len(data))
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        clen = resp.getheader("Content-Length")
        if self.command == "HEAD":
            self.send_header("Content-Length", clen or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        up.close()
        if truncate and len(data) > 1:
            count("truncated")
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            return self._reset()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self._handle()

    do_PUT = do_HEAD = do_DELETE = do_POST = do_GET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("upstream", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--error", type=float, default=0.05)
    ap.add_argument("--reset", type=float, default=0.03)
    ap.add_argument("--truncate", type=float, default=0.03)
    ap.add_argument("--latency", type=int, default=200)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    cfg = ap.parse_args()
    cfg.rng = random.Random(cfg.seed)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", cfg.port), Handler)
    srv.daemon_threads = True
    srv.cfg = cfg
    if cfg.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cfg.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("proxy ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
