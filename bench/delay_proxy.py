#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A TCP delay line for the WAN benchmark (bench/s3.sh --wan): this
kernel has no netem, so the latency of a long link is added here.

    delay_proxy.py LISTEN_ADDR LISTEN_PORT UPSTREAM_PORT DELAY_MS [WINDOW_BYTES]

Every byte is handed on DELAY_MS after it arrived, in each direction, so a
request and its reply take 2 x DELAY_MS more than on loopback; a new
connection waits one round trip (2 x DELAY_MS) before anything flows, as a
TCP handshake would.  The upstream is 127.0.0.1:UPSTREAM_PORT (radosgw).
Bytes in the line are bounded per direction by WINDOW_BYTES (default 6 MiB,
Linux's default tcp_rmem maximum): a connection moves at most one window
per round trip, like TCP over a real long link.  The bandwidth is not
limited here but by tc on the veth the clients reach this proxy through.
Prints "delay proxy ready" once listening.  Byte-stream level: HTTP is
relayed untouched, so SigV4 signatures stay valid.

With DELAY_PROXY_LOG=FILE it appends, as they happen, "c CONN T" when a
request starts (the client sends after the connection was idle or had been
answered) and "s CONN T" for each piece of a reply handed to the client
(T: seconds, CLOCK_MONOTONIC): bench/s3_report.py counts from them the
round trips a phase made one after the other.
"""
import asyncio
import itertools
import os
import sys
import time

CHUNK = 64 * 1024
LOG = open(os.environ["DELAY_PROXY_LOG"], "a", buffering=1) if os.environ.get("DELAY_PROXY_LOG") else None
CONN_IDS = itertools.count(1)


class Exchanges:
    """One connection's requests for DELAY_PROXY_LOG: a request starts with
    the first client bytes after the server has answered (keep-alive HTTP/1.1
    without pipelining, which is what curl and Go's client do)."""

    def __init__(self):
        self.id = next(CONN_IDS)
        self.answered = True

    def client_sent(self):
        if LOG and self.answered:
            self.answered = False
            LOG.write(f"c {self.id} {time.monotonic():.6f}\n")

    def server_sent(self):
        if LOG:
            self.answered = True
            LOG.write(f"s {self.id} {time.monotonic():.6f}\n")


class Line:
    """Bytes in flight one way: (due time, data), at most `window` bytes."""

    def __init__(self, window):
        self.q = asyncio.Queue()
        self.room = window
        self.freed = asyncio.Event()

    async def put(self, due, data):
        while self.room < len(data):
            self.freed.clear()
            await self.freed.wait()
        self.room -= len(data)
        await self.q.put((due, data))

    def give_back(self, n):
        self.room += n
        self.freed.set()


async def carry(reader, writer, delay, window, on_read=None, on_write=None):
    """Read from reader, write each piece to writer `delay` seconds later."""
    line = Line(window)

    async def pump_in():
        try:
            while True:
                data = await reader.read(CHUNK)
                if data and on_read:
                    on_read()
                await line.put(time.monotonic() + delay, data)
                if not data:
                    return
        except (ConnectionError, OSError):
            await line.q.put((0, b""))

    async def pump_out():
        try:
            while True:
                due, data = await line.q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # the simulated propagation delay itself
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
                if on_write:
                    on_write()
                line.give_back(len(data))
        except (ConnectionError, OSError):
            return

    await asyncio.gather(pump_in(), pump_out())


async def handle(creader, cwriter, upstream, delay, window):
    await asyncio.sleep(2 * delay)  # the handshake's round trip
    try:
        ureader, uwriter = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError:
        cwriter.close()
        return
    try:
        ex = Exchanges()
        await asyncio.gather(carry(creader, uwriter, delay, window, on_read=ex.client_sent),
                             carry(ureader, cwriter, delay, window, on_write=ex.server_sent))
    finally:
        for w in (uwriter, cwriter):
            w.close()


async def main():
    addr, port, upstream, delay_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    window = int(sys.argv[5]) if len(sys.argv) > 5 else 6 << 20
    delay = delay_ms / 1000.0
    srv = await asyncio.start_server(lambda r, w: handle(r, w, upstream, delay, window), addr, port)
    print("delay proxy ready", flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
