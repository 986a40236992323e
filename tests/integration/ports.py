# SPDX-License-Identifier: MIT
"""TCP ports for the servers the tests start, shared by every area (on
sys.path like waits.py and uids.py).

Asking the kernel for a free port (bind port 0, read it, close) and handing
the number to a server is a race: between the close and the server's bind
another process (with pytest-xdist, the other worker doing the same) may
take it.  So, per server, the best the server allows:
  - it binds port 0 itself and says which port it got (our fault_proxy.py
    and hostile_s3.py on their ready line, s3rver on stdout): ready_port();
  - it takes a port on its command line or config only (sshd, radosgw):
    start it with start_on_free_port(), which tries another port when the
    chosen one was taken meanwhile (bounded);
  - a port where nothing may answer: closed_port() keeps it bound without
    listening, so no other process can take it while the test runs.
"""
import contextlib
import re
import socket

ATTEMPTS = 5


def free_port():
    """A port free now (it may be taken before a server binds it): only for
    start_on_free_port() and servers that cannot bind port 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready_port(line):
    """The port at the end of a server's ready line ("proxy ready 43121",
    "S3rver listening on 127.0.0.1:43121")."""
    m = re.search(r"(\d+)\s*$", line)
    assert m, f"no port in the server's ready line {line!r}"
    return int(m.group(1))


class PortTaken(Exception):
    """What a start function of start_on_free_port() raises when the server
    said its port was in use: the next attempt takes another."""


def start_on_free_port(start, attempts=ATTEMPTS):
    """start(port) for a server that only takes a port number; again with
    another port (at most attempts times) while it raises PortTaken.
    Returns what start returned."""
    for i in range(attempts):
        try:
            return start(free_port())
        except PortTaken:
            if i == attempts - 1:
                raise AssertionError(f"the server's port was taken {attempts} times in a row")
    raise AssertionError("start_on_free_port: attempts must be at least 1")


def in_use(text):
    """Does a server's log say its port was taken?"""
    return "Address already in use" in text or "EADDRINUSE" in text


@contextlib.contextmanager
def closed_port():
    """A port nothing listens on for the with block: bound, not listening
    (a connection is refused), so no other process can take it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]
