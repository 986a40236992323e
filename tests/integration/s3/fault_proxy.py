#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fault-injecting HTTP proxy for S3 tests, on loopback only.

    fault_proxy.py LISTEN_PORT UPSTREAM_PORT [--seed N] [--error P] [--reset P]
                   [--truncate P] [--latency MS] [--tls CERT KEY]
                   [--lose-reply P] [--lose-reply-methods PUT,DELETE,...]
                   [--lose-reply-match REGEX] [--lose-reply-once]
                   [--stall-every N] [--stall-ms MS] [--refuse METHOD:REGEX]

LISTEN_PORT 0: a port the kernel picks; the ready line ("proxy ready PORT")
says which.

Sits between the client and an S3 server (both on 127.0.0.1) and, per
request, with the given probabilities: answers 500/503 itself (an S3 <Error>),
resets the connection without answering, or forwards the request and then
sends a truncated body (full Content-Length, half the bytes, close), or
(--lose-reply) forwards the request, lets the server act on it, and resets
the connection instead of relaying the reply: "stored, but the reply was
lost", for the methods in --lose-reply-methods and the paths matching
--lose-reply-match only; with --lose-reply-once, the first request for each
(method, path) only, so that the client's retry gets through.  --stall-every
N: every Nth GET of a pack (a path with /data/) gets no answer for --stall-ms
and then a reset (a server that hangs: the client's request timeout ends
it); counted by request order, so the number of stalls does not depend on
the threads' timing.  --refuse METHOD:REGEX answers every such request whose
path matches with 403 AccessDenied, without forwarding it (a key that may
not delete: locks left behind).  Every request is
delayed by LATENCY ms.  Headers, Host included, are forwarded
verbatim so SigV4 signatures stay valid.  GET /__proxy_stats returns counts
as JSON (requests, faults injected, request and reply body bytes, the most
requests in flight at once overall and per method: max_in_flight,
max_in_flight_GET, ...); GET /__proxy_log the requests themselves, each
{method, path, start, sent, end} (monotonic seconds: the request's first
byte read, its reply's first byte written, its reply written), for tests
that count round trips.  With all
probabilities and the latency at 0 it is a counting proxy (bench/s3.sh).
"""
import argparse
import http.client
import http.server
import json
import random
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time

STATS = {"requests": 0, "errors": 0, "resets": 0, "truncated": 0, "forwarded": 0,
         "lost_replies": 0, "bytes_up": 0, "bytes_down": 0, "max_in_flight": 0, "stalls": 0,
         "pack_gets": 0}
IN_FLIGHT = {}  # method (and "all") -> requests being handled now
LOST = set()  # (method, path) whose reply was lost (--lose-reply-once)
LOG = []  # one dict per request: method, path, start, sent, end (/__proxy_log)
LOCK = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


def count(k, n=1):
    with LOCK:
        STATS[k] = STATS.get(k, 0) + n


def in_flight(method, delta):
    """Concurrency, counted by the proxy itself: a test asserts "requests
    overlapped" from these, not from how long the client took."""
    with LOCK:
        for k, stat in (("all", "max_in_flight"), (method, f"max_in_flight_{method}")):
            IN_FLIGHT[k] = IN_FLIGHT.get(k, 0) + delta
            STATS[stat] = max(STATS.get(stat, 0), IN_FLIGHT[k])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def end_headers(self):
        # "sent": the reply starts to go out.  A request the client makes
        # because of this reply starts after it; it may start before "end",
        # stamped only once this thread runs again after its last write.
        self.sent = time.monotonic()
        super().end_headers()

    def _reset(self):
        count("resets")
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _error(self, code, s3code):
        err = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{s3code}</Code>'
               f'<Message>injected by fault_proxy</Message></Error>').encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(err)))
        self.end_headers()
        self.wfile.write(err)

    def _handle(self):
        if self.path in ("/__proxy_stats", "/__proxy_log"):
            with LOCK:
                body = json.dumps(STATS if self.path == "/__proxy_stats" else LOG).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        in_flight(self.command, 1)
        start = time.monotonic()
        self.sent = None
        try:
            self._handle_counted()
        finally:
            in_flight(self.command, -1)
            end = time.monotonic()
            with LOCK:
                LOG.append({"method": self.command, "path": self.path, "start": start,
                            "sent": self.sent or end, "end": end})

    def _handle_counted(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        count("requests")
        count("bytes_up", len(body))
        cfg = self.server.cfg
        if cfg.latency:
            time.sleep(cfg.latency / 1000.0)  # the fault itself: injected latency (not a wait)
        if self.command == "GET" and "/data/" in self.path:
            with LOCK:
                STATS["pack_gets"] += 1
                stall = cfg.stall_every and STATS["pack_gets"] % cfg.stall_every == 0
            if stall:
                count("stalls")
                # the fault: no answer until the client gives up and closes
                # (its EOF is the event), --stall-ms at the most
                ready, _, _ = select.select([self.connection], [], [], cfg.stall_ms / 1000.0)
                if ready and not self.connection.recv(1, socket.MSG_PEEK):
                    self.close_connection = True
                    return
                try:
                    return self._reset()
                except OSError:  # the client gave up and closed first
                    self.close_connection = True
                    return
        if any(m == self.command and rx.search(self.path) for m, rx in cfg.refuse):
            count("refused")
            return self._error(403, "AccessDenied")
        with LOCK:
            roll = cfg.rng.random()
        if roll < cfg.error:
            count("errors")
            return self._error(*((500, "InternalError") if roll < cfg.error / 2 else (503, "SlowDown")))
        if roll < cfg.error + cfg.reset:
            return self._reset()
        truncate = roll < cfg.error + cfg.reset + cfg.truncate and self.command != "HEAD"
        # a separate roll: lose-reply applies to its methods whatever the others do
        with LOCK:
            lose = (cfg.lose_reply > 0 and self.command in cfg.lose_methods and cfg.lose_match.search(self.path)
                    and not (cfg.lose_reply_once and (self.command, self.path) in LOST)
                    and cfg.rng.random() < cfg.lose_reply)
            if lose:
                LOST.add((self.command, self.path))
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
        if lose:
            up.close()
            count("lost_replies")
            count(f"lost_replies_{self.command}")
            return self._reset()  # the server acted on it; the client never hears
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
    ap.add_argument("--lose-reply", type=float, default=0.0,
                    help="probability of forwarding, then resetting instead of relaying the reply")
    ap.add_argument("--lose-reply-methods", default="PUT,DELETE",
                    help="comma-separated methods --lose-reply applies to")
    ap.add_argument("--lose-reply-match", default="", help="regular expression the path must match")
    ap.add_argument("--lose-reply-once", action="store_true",
                    help="lose the reply to the first request for each (method, path) only")
    ap.add_argument("--stall-every", type=int, default=0, help="every Nth GET of a pack: no answer, then reset")
    ap.add_argument("--stall-ms", type=int, default=5000, help="how long a stalled request hangs")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    ap.add_argument("--refuse", action="append", default=[], metavar="METHOD:REGEX",
                    help="answer 403 AccessDenied to these requests (repeatable)")
    cfg = ap.parse_args()
    cfg.refuse = [(m.upper(), re.compile(rx)) for m, rx in (x.split(":", 1) for x in cfg.refuse)]
    cfg.rng = random.Random(cfg.seed)
    cfg.lose_methods = set(cfg.lose_reply_methods.upper().split(","))
    cfg.lose_match = re.compile(cfg.lose_reply_match)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", cfg.port), Handler)
    srv.daemon_threads = True
    srv.cfg = cfg
    if cfg.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cfg.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"proxy ready {srv.server_address[1]}", flush=True)  # port 0: the one it got
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
