# SPDX-License-Identifier: MIT
"""Backups over a long link (issue 23 item 4): a no-change backup's
requests beyond the snapshot upload fit in at most 3 round trips; one that
writes packs pays no conditional-put probe and no HEAD for them; other
processes' locks are read at once, not one round trip each; the lock's
DELETE overlaps the file cache's save.

Every request is held LATENCY_MS by fault_proxy.py, which logs when each
one started and ended.  The critical path is the longest chain of requests
each of which started after the one before it had ended: requests issued at
once overlap in the proxy (each is held LATENCY_MS) and count once, however
busy the machine.  Against s3rver and Ceph RGW (the s3_server fixture)."""
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD, proxy_log, start_plain_proxy, stop  # noqa: E402

LATENCY_MS = 300


@pytest.fixture
def slow_s3(s3_server, request):
    """fault_proxy.py (latency only) in front of each S3 server in turn."""
    request.getfixturevalue(f"{s3_server.name}_bucket")  # cs-test-bucket
    port, proc = start_plain_proxy(s3_server.port, LATENCY_MS)
    try:
        yield port, s3_server
    finally:
        stop(proc)


def critical_path(reqs):
    """The longest chain of requests, each started after the previous ended."""
    reqs = sorted(reqs, key=lambda q: q["end"])
    chain = []
    for i, q in enumerate(reqs):
        before = [chain[k][0] for k in range(i) if reqs[k]["end"] <= q["start"]]
        best = max(before, default=0)
        chain.append((best + 1, q))
    return max((c for c, _ in chain), default=0)


def describe(reqs):
    t0 = min(q["start"] for q in reqs)
    return "\n".join(f"{q['start'] - t0:7.3f} {q['end'] - t0:7.3f} {q['method']:6} {q['path']}"
                     for q in sorted(reqs, key=lambda q: q["start"]))


def test_nochange_backup_takes_at_most_3_round_trips(slow_s3, cs_config, tmp_path, lock_at_end):
    port, s3 = slow_s3
    path, write = cs_config
    write(storage={"url": f"s3+http://127.0.0.1:{port}/cs-test-bucket/wan-{os.getpid()}-{s3.name}"},
          backup={"exclude": ""})
    env = s3.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    cs = str(BUILD / "cloudseal")
    lock_at_end(env)

    src = tmp_path / "src"

    def run(*args):
        # a relative path: the tree holds no ancestor (/tmp changes all the time)
        r = subprocess.run([cs, *map(str, args)], input="pw\n", env=env, capture_output=True, text=True,
                           timeout=300, cwd=src)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    (src / "d").mkdir(parents=True)
    for i in range(20):
        (src / "d" / f"f{i}").write_bytes(os.urandom(1000 + i))
    run("enroll", "--password-stdin")
    run("init")
    run("backup", "d")
    run("backup", "d")  # the machine has now seen everything a third run needs
    seen = len(proxy_log(port))
    run("backup", "d")
    reqs = [q for q in proxy_log(port)[seen:] if not q["path"].startswith("/__proxy")]
    snap_puts = [q for q in reqs if q["method"] == "PUT" and "/snapshots/" in q["path"]]
    assert len(snap_puts) == 1, describe(reqs)
    # the snapshot upload is the one round trip the target does not count
    rest = [q for q in reqs if q is not snap_puts[0]]
    assert critical_path(rest) <= 3, describe(reqs)
    # the order that makes two writers see each other: our lock was stored
    # before the listing of the others' began ("sent", not "end": the proxy
    # stamps "end" after its last write, by when the client may have listed)
    lock_put = [q for q in reqs if q["method"] == "PUT" and "/locks/" in q["path"]]
    lock_list = [q for q in reqs if q["method"] == "GET" and "locks%2F" in q["path"]]
    assert lock_put and lock_list, describe(reqs)
    assert lock_put[0]["sent"] <= min(q["start"] for q in lock_list), describe(reqs)


def test_new_machine_fetches_index_and_snapshots_8_at_a_time(slow_s3, cs_config, tmp_path, lock_at_end):
    """With an empty cache (another machine, or the cache wiped) the index
    and snapshot objects are fetched several at once, not one round trip
    each: `snapshots` after 4 backups takes 4 round trips (config + index
    listing, the index objects, the snapshots' listing, the snapshots), not
    the 11 of one request after the other."""
    port, s3 = slow_s3
    path, write = cs_config
    write(storage={"url": f"s3+http://127.0.0.1:{port}/cs-test-bucket/wan-new-{os.getpid()}-{s3.name}"},
          backup={"exclude": ""})
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    env = s3.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    cs = str(BUILD / "cloudseal")
    lock_at_end(env)

    def run(*args, cache="cache"):
        r = subprocess.run([cs, *map(str, args)], input="pw\n", env=dict(env, XDG_CACHE_HOME=str(tmp_path / cache)),
                           capture_output=True, text=True, timeout=300, cwd=src)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    run("enroll", "--password-stdin")
    run("init")
    for i in range(4):  # each writes a pack, an index object and a snapshot
        (src / "d" / f"f{i}").write_bytes(os.urandom(1000 + i))
        run("backup", "d")
    seen = len(proxy_log(port))
    out = run("snapshots", "--json", cache="other-machine").stdout
    assert len(json.loads(out)) == 4
    reqs = [q for q in proxy_log(port)[seen:] if not q["path"].startswith("/__proxy")]
    assert sum(q["method"] == "GET" and "/snapshots/" in q["path"] for q in reqs) == 4, describe(reqs)
    assert sum(q["method"] == "GET" and "/index/" in q["path"] for q in reqs) == 4, describe(reqs)
    assert critical_path(reqs) <= 4, describe(reqs)


class Machine:
    """A user with a repository behind the slow proxy: run() is one cloudseal
    command, requests() what the proxy saw since mark()."""

    def __init__(self, port, s3, cs_config, tmp_path, name):
        self.port, self.s3, self.tmp = port, s3, tmp_path
        self.path, self.write = cs_config
        self.url = f"cs-test-bucket/{name}-{os.getpid()}-{s3.name}"
        self.src = tmp_path / "src"
        (self.src / "d").mkdir(parents=True)
        self.use(port)
        self.seen = 0

    def use(self, port):
        self.write(storage={"url": f"s3+http://127.0.0.1:{port}/{self.url}"}, backup={"exclude": ""})

    def run(self, *args, wrap=()):
        env = self.s3.env(CLOUDSEAL_CONFIG=str(self.path), HOME=str(self.tmp),
                          XDG_CACHE_HOME=str(self.tmp / "cache"))
        r = subprocess.run([*wrap, str(BUILD / "cloudseal"), *map(str, args)], input="pw\n", env=env,
                           capture_output=True, text=True, timeout=300, cwd=self.src)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def mark(self):
        self.seen = len(proxy_log(self.port))

    def requests(self):
        return [q for q in proxy_log(self.port)[self.seen:] if not q["path"].startswith("/__proxy")]


@pytest.fixture
def machine(slow_s3, cs_config, tmp_path, request, lock_at_end):
    port, s3 = slow_s3
    m = Machine(port, s3, cs_config, tmp_path, request.node.name[5:25])
    lock_at_end({"CLOUDSEAL_CONFIG": str(m.path)})
    for i in range(20):
        (m.src / "d" / f"f{i}").write_bytes(os.urandom(1000 + i))
    m.run("enroll", "--password-stdin")
    m.run("init")
    m.run("backup", "d")
    m.run("backup", "d")
    return m


def test_backup_that_writes_a_pack_pays_no_probe_and_no_head(machine):
    """Packs have random 256-bit names, like index and snapshot objects: a
    plain PUT.  Before, the first pack of each process cost the
    conditional-put probe (PUT, PUT If-None-Match, DELETE: 3 round trips)
    and, on a server that ignores If-None-Match (s3rver), a HEAD per pack."""
    (machine.src / "d" / "new").write_bytes(os.urandom(5000))
    machine.mark()
    machine.run("backup", "d")
    reqs = machine.requests()
    assert not [q for q in reqs if "cloudseal-probe" in q["path"] or q["method"] == "HEAD"], describe(reqs)
    assert sum(q["method"] == "PUT" and "/data/" in q["path"] for q in reqs) >= 1, describe(reqs)
    snap_put = [q for q in reqs if q["method"] == "PUT" and "/snapshots/" in q["path"]]
    assert len(snap_put) == 1, describe(reqs)
    # open (2), the packs, the index naming them, the lock's DELETE
    assert critical_path([q for q in reqs if q is not snap_put[0]]) <= 5, describe(reqs)


@pytest.fixture
def refusing_proxy(slow_s3):
    """A proxy in front of the same S3 server that refuses to DELETE locks."""
    _, s3 = slow_s3
    port, proc = start_plain_proxy(s3.port, 0, "--refuse", "DELETE:/locks/")
    try:
        yield port
    finally:
        stop(proc)


def test_lock_left_behind_is_reported_and_the_backup_succeeds(machine, refusing_proxy):
    """A lock DELETE that fails does not fail the backup (its snapshot is
    stored) but is reported, with what to do about the lock left behind."""
    machine.use(refusing_proxy)
    r = machine.run("backup", "d")  # exit 0: asserted by run()
    assert "could not remove the repository lock" in r.stderr, r.stderr
    assert "cloudseal locks --remove-stale" in r.stderr, r.stderr
    machine.use(machine.port)
    out = json.loads(machine.run("locks", "--json").stdout)
    assert [x["state"] for x in out] == ["stale"], out


RENAMES = "rename,renameat,renameat2"


def test_lock_delete_overlaps_the_file_cache_save(machine):
    """The lock's DELETE is in flight while the file cache is saved (local
    disk work), not issued after it.  strace holds every rename 2 s, the
    file cache's last step: the DELETE must have reached the proxy before
    that rename was done (the file's ctime), where before it waited for it."""
    # a file gone: its entry ages, so the file cache is written (a file
    # changed within the backup's first second would not be cached)
    (machine.src / "d" / "f19").unlink()
    machine.mark()
    offset = time.time() - time.monotonic()  # the proxy logs CLOCK_MONOTONIC, ctime is the real time
    machine.run("backup", "d", wrap=["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={RENAMES}",
                                     "-e", f"inject={RENAMES}:delay_enter=2000000"])
    reqs = machine.requests()
    delete = [q for q in reqs if q["method"] == "DELETE" and "/locks/" in q["path"]]
    assert len(delete) == 1, describe(reqs)
    (cache,) = (machine.tmp / "cache" / "cloudseal").glob("*/files")
    assert delete[0]["start"] + offset < cache.stat().st_ctime, describe(reqs)


def test_other_locks_are_read_in_one_round_trip(machine, refusing_proxy):
    """3 locks other processes left (stale: their processes are gone) are
    fetched at once: one round trip, not one each."""
    machine.use(refusing_proxy)
    for _ in range(3):
        machine.run("backup", "d")
    machine.use(machine.port)
    machine.mark()
    machine.run("backup", "d")
    reqs = machine.requests()
    lock_gets = [q for q in reqs if q["method"] == "GET" and "/locks/" in q["path"]]
    assert len(lock_gets) == 3, describe(reqs)
    assert critical_path(lock_gets) == 1, describe(reqs)
    snap_put = [q for q in reqs if q["method"] == "PUT" and "/snapshots/" in q["path"]]
    assert len(snap_put) == 1, describe(reqs)
    # open (2), the other locks, the lock's DELETE
    assert critical_path([q for q in reqs if q is not snap_put[0]]) <= 4, describe(reqs)
