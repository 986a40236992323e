# SPDX-License-Identifier: MIT
"""Backing up files that live while they are read, and cloudseal's own moving
parts (cache, agent state) never being backed up."""
import json
import os
import threading

import pytest

import waits


def _churn(src, stop, counts):
    """An application at work: rewrites state.json by rename (write a temp
    file, rename over), and creates and deletes short-lived files."""
    n = 0
    while not stop.is_set():
        n += 1
        tmp = src / ".state.json.tmp"
        tmp.write_text(json.dumps({"version": n, "pad": "x" * (n % 5000)}))
        os.rename(tmp, src / "state.json")
        for k in range(20):
            p = src / "spool" / f"job{k}"
            if p.exists():
                p.unlink()
            else:
                p.write_bytes(os.urandom(2048))
    counts["versions"] = n


def test_files_vanishing_and_replaced_while_backed_up(repo, tmp_path):
    src = tmp_path / "src"
    (src / "spool").mkdir(parents=True)
    for i in range(300):  # enough work for the churn to race with the workers
        (src / f"file{i:03d}").write_bytes(os.urandom(64 << 10))
    (src / "state.json").write_text(json.dumps({"version": 0, "pad": ""}))
    stop, counts = threading.Event(), {}
    t = threading.Thread(target=_churn, args=(src, stop, counts))
    t.start()
    vanished = 0
    try:
        for _ in range(5):
            r = repo.run("--json", "backup", "--no-cache", src, check=False)
            # vanished and replaced files are no error; a file still changing
            # after the retries is exit 7 (incomplete), never a failed backup
            assert r.returncode in (0, 7), r.stderr
            s = json.loads(r.stdout.splitlines()[-1])["summary"]  # the last line of the stream
            if r.returncode == 0:
                assert s["errors"] == 0 and s["files_unstable"] == 0
            vanished += s["files_vanished"]
            assert "vanished" not in r.stderr or s["files_vanished"] > 0
    finally:
        stop.set()
        t.join()
    assert counts["versions"] > 5
    # every snapshot restores, and state.json is always one whole version
    snaps = json.loads(repo.run("snapshots", "--json").stdout)
    for i, snap in enumerate(snaps):
        out = tmp_path / f"out{i}"
        repo.run("restore", snap["id"], "--target", out)
        state = json.loads((out / str(src).lstrip("/") / "state.json").read_text())
        assert len(state["pad"]) == state["version"] % 5000
    repo.run("check", "--read-data")


def test_vanished_and_replaced_after_the_walk(repo, tmp_path):
    """Deterministic: the walk has stat'ed every entry before any file of the
    directory is read, and both workers are busy with a 64 MiB file each
    (files are queued in name order).  Then small files are deleted and
    m-state is replaced by rename: the deleted ones are noticed and counted
    (exit 0), m-state is saved as the new version with its own metadata."""
    src = tmp_path / "src"
    src.mkdir()
    for big in ("a-big1", "a-big2"):
        with open(src / big, "wb") as f:
            f.write(os.urandom(64 << 20))
    (src / "m-state").write_text("old version\n")
    for i in range(100):
        (src / f"z{i:03d}").write_text("gone soon\n")
    with waits.OpenWatch(src, "a-big2") as opened:
        p = repo.popen("--json", "backup", "--no-cache", src)
        opened.wait(120, pid=p.pid)  # a worker reads it: the walk is past the z files
    for i in range(100):
        os.unlink(src / f"z{i:03d}")
    (src / "m-state.tmp").write_text("new version, longer\n")
    os.utime(src / "m-state.tmp", ns=(1_500_000_000_000_000_007, 1_500_000_000_000_000_007))
    os.rename(src / "m-state.tmp", src / "m-state")
    p.wait(timeout=120)
    out, err = p.stdout.read(), p.stderr.read()
    assert p.returncode == 0, err
    s = json.loads(out.splitlines()[-1])["summary"]
    assert s["errors"] == 0 and s["files_unstable"] == 0
    assert s["files_vanished"] == 100, s
    assert err.count(b"vanished before it could be read") == 100
    ls = repo.run("ls", "latest", src).stdout
    assert f"{src}/a-big2" in ls and "/z0" not in ls
    repo.run("restore", "latest", "--target", tmp_path / "out")
    restored = tmp_path / "out" / str(src).lstrip("/") / "m-state"
    assert restored.read_text() == "new version, longer\n"
    assert os.stat(restored).st_mtime_ns == 1_500_000_000_000_000_007
    repo.run("check")


def test_own_state_and_cache_never_backed_up(repo, tmp_path):
    """Even with [backup] exclude emptied, the cache in use and the agent's
    state directory are left out."""
    home = tmp_path / "home"
    (home / ".local" / "state" / "cloudseal").mkdir(parents=True)
    (home / ".local" / "state" / "cloudseal" / "agent-state.json").write_text("{}")
    (home / ".local" / "state" / "other-app").mkdir()
    (home / ".local" / "state" / "other-app" / "keep").write_text("k")
    (home / "mycache").mkdir()
    (home / "doc.txt").write_text("d")
    env = dict(repo.env, XDG_CACHE_HOME=str(home / "mycache"))
    old, repo.env = repo.env, env
    try:
        repo.run("backup", home)
        ls = repo.run("ls", "latest", home).stdout
    finally:
        repo.env = old
    assert (home / "mycache" / "cloudseal").is_dir(), "the cache was not in the home"
    assert f"{home}/doc.txt" in ls and "other-app/keep" in ls
    assert "/.local/state/cloudseal" not in ls and "/mycache/cloudseal" not in ls


def test_incomplete_exit_code_documented():
    man = (pytest.importorskip("pathlib").Path(__file__).resolve().parents[3] / "man" / "cloudseal.1").read_text()
    assert ".B 7\n" in man and "vanished" in man
