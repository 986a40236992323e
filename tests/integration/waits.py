# SPDX-License-Identifier: MIT
"""Waiting for events, not for time.

A test waits for the thing it needs: a file's change (inotify on its
directory), a process's exit (a pidfd), a line in a log.  The timeout is
only a failure bound.  wait_until() is for the few conditions no event
announces (a kernel key expiring by itself, a v1 cgroup freezer's state, a
TCP port starting to listen): exponential backoff, and its caller says why
no event exists.

Also a command line for shell scripts (they run python3 anyway):
  python3 waits.py text FILE TEXT [TIMEOUT]   until FILE contains TEXT
  python3 waits.py exists PATH [TIMEOUT]      until PATH exists
  python3 waits.py blocked-read PID [TIMEOUT] until PID sits in read(0, ...)
  python3 waits.py exit PID [TIMEOUT]         until process PID has exited (pidfd)
  python3 waits.py poll TIMEOUT WHAT CMD...   until CMD exits 0: wait_until(), for
                                              what no event announces (the caller
                                              says why); CMD's output is passed on
With WAITS_PID=pid in the environment, text and exists fail at once if that
process exits meanwhile.
"""
import ctypes
import errno
import os
import pathlib
import select
import socket
import struct
import sys
import time

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_OPEN, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x20, 0x80, 0x100, 0x200
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
CHANGES = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE

_libc = ctypes.CDLL(None, use_errno=True)


class Watch:
    """inotify on files and directories: readable when something changed.
    A path that does not exist yet is watched from when add() is called
    after it appeared (wait_for_change calls it every round, and watches
    the parent too, whose change announces it)."""

    def __init__(self, dirs):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.dirs = list(dirs)
        self.add()

    def add(self):
        for d in self.dirs:
            # a missing path: its nearest existing ancestor announces it
            for p in (d, *pathlib.Path(d).parents):
                if _libc.inotify_add_watch(self.fd, os.fsencode(str(p)), CHANGES) >= 0:
                    break
                e = ctypes.get_errno()
                if e != errno.ENOENT:
                    raise OSError(e, f"inotify_add_watch {p}")

    def drain(self):
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _remaining(end, what):
    """what: text, or a function giving it (a log's tail as it is then)."""
    left = end - time.monotonic()
    if left <= 0:
        raise AssertionError(f"timed out waiting for {_what(what)}")
    return left


def _what(what):
    return what() if callable(what) else what


def wait_for_change(paths, pred, timeout, what, pid=None):
    """pred() re-evaluated each time a file in the directories of `paths`
    changes, until it returns something true (returned).  pid: a process
    that must stay alive meanwhile (its exit ends the wait with a failure)."""
    # each path and its directory: a directory's entries, a file's writes
    dirs = {q for p in map(pathlib.Path, paths) for q in (p, p.parent)}
    end = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid) if pid else None
    except ProcessLookupError:  # gone (and reaped) already: one last look
        v = pred()
        if v:
            return v
        raise AssertionError(f"process {pid} had exited before {_what(what)}") from None
    try:
        with Watch(dirs) as w:
            while True:
                v = pred()          # after the watch is set up: no change is missed
                if v:
                    return v
                fds = [w.fd] + ([pidfd] if pidfd is not None else [])
                ready, _, _ = select.select(fds, [], [], _remaining(end, what))
                if pidfd is not None and pidfd in ready:
                    v = pred()
                    if v:
                        return v
                    raise AssertionError(f"process {pid} exited while waiting for {_what(what)}")
                w.drain()
                w.add()
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _read(path):
    try:
        return pathlib.Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_text(path, text, timeout=60, pid=None):
    """Until the file at path contains text (a log line followed as written)."""
    return wait_for_change([path], lambda: text in _read(path), timeout,
                           lambda: f"'{text}' in {path}:\n{_read(path)[-2000:]}", pid)


def wait_exists(path, timeout=60, pid=None):
    return wait_for_change([path], lambda: os.path.exists(path), timeout, f"{path} to exist", pid)


def wait_exit(pid, timeout):
    """Until process pid (a child or not) has exited: its pidfd turns readable."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise AssertionError(f"process {pid} still running after {timeout}s")
    finally:
        os.close(fd)


class OpenWatch:
    """inotify IN_OPEN on a directory: wait() returns once a file of that
    name in it has been opened (by anyone).  Set it up before starting the
    process that will open the file, so that no open is missed."""

    def __init__(self, directory, name):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0 or _libc.inotify_add_watch(self.fd, os.fsencode(str(directory)), IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {directory}")
        self.name = os.fsencode(name)

    def _opened(self):
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        off = 0
        while off + 16 <= len(buf):   # struct inotify_event: wd, mask, cookie, len, name
            _, _, _, n = struct.unpack_from("iIII", buf, off)
            if buf[off + 16:off + 16 + n].rstrip(b"\0") == self.name:
                return True
            off += 16 + n
        return False

    def wait(self, timeout, pid=None):
        """Until the file was opened; pid: a process whose exit ends the wait."""
        end = time.monotonic() + timeout
        pidfd = os.pidfd_open(pid) if pid else None
        try:
            while True:
                fds = [self.fd] + ([pidfd] if pidfd is not None else [])
                ready, _, _ = select.select(fds, [], [], _remaining(end, f"{self.name!r} opened"))
                if self.fd in ready and self._opened():
                    return True
                if pidfd is not None and pidfd in ready:
                    raise AssertionError(f"process {pid} exited before {self.name!r} was opened")
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def wait_until(pred, timeout, what, first=0.005, cap=0.5):
    """For conditions no event announces (the caller says why): pred() is
    polled with exponential backoff from `first` to `cap` seconds."""
    end, delay = time.monotonic() + timeout, first
    while True:
        v = pred()
        if v:
            return v
        time.sleep(min(delay, _remaining(end, what)))
        delay = min(delay * 2, cap)


def blocked_read(pid):
    """True when pid sits in read(0, ...): /proc/PID/syscall says "0 0x0"."""
    try:
        return pathlib.Path(f"/proc/{pid}/syscall").read_text().split()[:2] == ["0", "0x0"]
    except (OSError, IndexError):
        return False


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_port(port, timeout=30, proc=None):
    """Until something listens on 127.0.0.1:port.  No event tells another
    process that a socket started listening (the servers we start print
    nothing we could wait for): polled.  proc: fails at once if it exited."""
    def up():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server for port {port} exited ({proc.returncode})")
        return listening(port)
    return wait_until(up, timeout, f"a server listening on port {port}", cap=0.1)


def sleep_past(wallclock):
    """Until time.time() > wallclock.  The event is the clock itself (a file
    time's second must be over, a due time must come): one sleep to it."""
    while time.time() <= wallclock:
        time.sleep(wallclock - time.time() + 0.01)


def _poll_cmd(cmd):
    import subprocess
    return subprocess.run(cmd).returncode == 0


def main(argv):
    if argv[:1] == ["poll"] and len(argv) >= 4:
        try:
            wait_until(lambda: _poll_cmd(argv[3:]), float(argv[1]), argv[2], cap=0.5)
        except AssertionError as e:
            print(e, file=sys.stderr)
            return 1
        return 0
    nargs = {"text": 3, "exists": 2, "blocked-read": 2, "exit": 2}
    if not argv or argv[0] not in nargs or len(argv) not in (nargs[argv[0]], nargs[argv[0]] + 1):
        raise SystemExit("usage: waits.py text FILE TEXT [TIMEOUT] | exists PATH [TIMEOUT] | "
                         "blocked-read PID [TIMEOUT] | exit PID [TIMEOUT] | poll TIMEOUT WHAT CMD...")
    timeout = float(argv[-1]) if len(argv) > nargs[argv[0]] else 60
    pid = int(os.environ["WAITS_PID"]) if os.environ.get("WAITS_PID") else None
    try:
        if argv[0] == "text":
            wait_text(argv[1], argv[2], timeout, pid)
        elif argv[0] == "exists":
            wait_exists(argv[1], timeout, pid)
        elif argv[0] == "exit":
            wait_exit(int(argv[1]), timeout)
        else:
            # no event says a process entered a system call: polled
            wait_until(lambda: blocked_read(argv[1]), timeout, f"{argv[1]} blocked reading fd 0")
    except AssertionError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
