# SPDX-License-Identifier: MIT
"""Per-run uids for the tests that create users.

The kernel keyring is per uid machine-wide: two checkouts running the
real-stack PAM tests at the same time with the same test uid share that
uid's @u, and one run's `keyctl clear @u` or key count disturbs the other.
So every pytest process takes a slot of its own: the first of SLOTS lock
files it can flock(LOCK_EX | LOCK_NB).  The lock is held while the process
lives and the kernel drops it when it exits, even on SIGKILL, so no two live
runs share a slot and a crashed run's slot is free again at once.

A slot is STRIDE consecutive uids in each range:
  local(i): users in the sandbox's /etc/passwd (48000 + ...)
  fleet(i): fleet directory users, inside the fleet tests' id_min..id_max
  container(i): users of the nspawn containers (the container shares the
                host's keyrings per uid)
"""
import fcntl
import os
import pathlib

SLOTS = 64
STRIDE = 16
LOCK_DIR = pathlib.Path(os.environ.get("CS_TEST_UID_LOCKDIR", "/run/lock"))
# clear of the fixed uids older checkouts still use (47101-47401, 1500000-1500001,
# the random 20000-29999 and 1500100-1599999 of the nspawn tests)
BASES = {"local": 48000, "fleet": 1800000, "container": 30000}

_slot = None
_fd = None


def slot():
    """This process's slot, taken on first use and held until exit."""
    global _slot, _fd
    if _slot is not None:
        return _slot
    for n in range(SLOTS):
        fd = os.open(LOCK_DIR / f"cloudseal-test-uids.{n}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _slot, _fd = n, fd
        return n
    raise RuntimeError(f"all {SLOTS} test uid slots under {LOCK_DIR} are taken by running tests")


def _uid(kind, i):
    if not 0 <= i < STRIDE:
        raise ValueError(f"uid index {i} outside the slot's {STRIDE}")
    return BASES[kind] + slot() * STRIDE + i


def local(i=0):
    return _uid("local", i)


def fleet(i=0):
    return _uid("fleet", i)


def container(i=0):
    return _uid("container", i)
