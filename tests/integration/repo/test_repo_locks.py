# SPDX-License-Identifier: MIT
"""cloudseal locks: the listing (text and --json) and the removal of stale,
unreadable and, on request, all locks; with real backups holding them."""
import json
import os
import signal
import socket
import time

import waits


def locks(repo):
    return json.loads(repo.run("locks", "--json").stdout)


def start_backup_holding_a_lock(repo, tmp_path):
    data = tmp_path / "home" / "big"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        (data / f"f{i}").write_bytes(os.urandom(64 << 20))
    lockdir = repo.repo_dir() / "locks"

    def taken():  # a final name: 64 hex digits, not the temporary file before its rename
        return lockdir.exists() and any(len(f.name) == 64 and "." not in f.name for f in lockdir.iterdir())

    p = repo.popen("backup", str(data))
    waits.wait_for_change([lockdir], taken, 30, "the backup to take its lock")
    return p


def test_no_locks(repo):
    assert "no locks" in repo.run("locks").stdout
    assert locks(repo) == []


def test_lock_of_a_killed_backup_is_stale_and_removed(repo, tmp_path):
    p = start_backup_holding_a_lock(repo, tmp_path)
    p.send_signal(signal.SIGKILL)
    p.wait()
    v = locks(repo)
    assert len(v) == 1, v
    assert v[0]["state"] == "stale" and v[0]["pid"] == p.pid and v[0]["exclusive"] is False
    assert v[0]["host"] == socket.gethostname() and abs(v[0]["time"] - time.time()) < 60
    out = repo.run("locks").stdout
    assert "stale" in out and "shared" in out and str(p.pid) in out and v[0]["id"][:8] in out
    r = repo.run("locks", "--remove-stale")
    assert "removed 1 lock" in r.stdout, r.stdout
    assert locks(repo) == []


def test_held_lock_stays_unless_remove_all(repo, tmp_path):
    p = start_backup_holding_a_lock(repo, tmp_path)
    p.send_signal(signal.SIGSTOP)
    try:
        v = locks(repo)
        assert [(x["state"], x["pid"]) for x in v] == [("held", p.pid)], v
        assert "removed 0 locks" in repo.run("locks", "--remove-stale").stdout
        assert len(locks(repo)) == 1
        assert "removed 1 lock" in repo.run("locks", "--remove-all").stdout
        assert locks(repo) == []
    finally:
        p.send_signal(signal.SIGKILL)
        p.send_signal(signal.SIGCONT)
        p.wait()


def test_unreadable_lock_is_listed_and_removed_as_stale(repo):
    lockdir = repo.repo_dir() / "locks"
    lockdir.mkdir(exist_ok=True)
    (lockdir / ("ab" * 32)).write_bytes(os.urandom(200))
    v = locks(repo)
    assert v == [{"id": "ab" * 32, "state": "unreadable"}], v
    assert "unreadable" in repo.run("locks").stdout
    # a backup is not stopped by it
    repo.run("backup", repo.tmp / "home")
    assert "removed 1 lock" in repo.run("locks", "--remove-stale").stdout
    assert locks(repo) == []


def test_usage(repo):
    assert repo.run("locks", "--remove-stale", "--remove-all", check=False).returncode == 2
    assert repo.run("locks", "extra", check=False).returncode == 2
    r = repo.run("locks", "--help")
    assert r.returncode == 0 and "--remove-all" in r.stdout
