# SPDX-License-Identifier: MIT
"""Issue 18: mistakes must be safe.  A backup of a path that does not exist
saves nothing, forget keeps each group's snapshots apart, restore never
overwrites a file that differs unless told to, and a restore pattern that
matches nothing is an error."""
import json
import os


def snapshots(repo):
    return json.loads(repo.run("snapshots", "--json").stdout)


def test_backup_of_missing_path_saves_no_snapshot(repo):
    src = repo.tmp / "home" / "docs"
    src.mkdir()
    (src / "a.txt").write_text("a")
    repo.run("backup", src)
    before = snapshots(repo)
    r = repo.run("backup", "/nonexistent/path", check=False)
    assert r.returncode == 4, r.stderr
    assert ("/nonexistent/path does not exist: no snapshot was saved; check the path, "
            "or mount the disk it is on") in r.stderr
    assert snapshots(repo) == before
    # one of several missing: left out with a warning, the snapshot is incomplete
    r = repo.run("backup", src, "/nonexistent/path", check=False)
    assert r.returncode == 7, r.stderr
    assert "/nonexistent/path does not exist: left out of this snapshot" in r.stderr
    assert snapshots(repo)[-1]["paths"] == [str(src)]


def test_forget_keeps_each_group_apart(repo):
    home = repo.tmp / "home"
    other = repo.tmp / "other"
    other.mkdir()
    for i in range(3):
        (home / "f").write_text(str(i))
        repo.run("backup", home)
    repo.run("backup", other)
    ids = [s["id"][:8] for s in snapshots(repo)]
    r = repo.run("forget", "--keep-last", "1", "--dry-run")
    assert f"snapshots of host {os.uname().nodename}, paths [{home}]:" in r.stdout
    assert f"  keep   {ids[2]}" in r.stdout and f"  keep   {ids[3]}" in r.stdout
    assert f"  would remove {ids[0]}" in r.stdout and f"  would remove {ids[1]}" in r.stdout
    # one group for all: only the newest of everything stays
    r = repo.run("forget", "--keep-last", "1", "--group-by", "", "--dry-run")
    assert f"  would remove {ids[2]}" in r.stdout and f"  keep   {ids[3]}" in r.stdout
    r = repo.run("forget", "--keep-last", "1", "--group-by", "hosts", check=False)
    assert r.returncode == 2
    assert "--group-by takes a comma-separated list of host, paths and tags (or ''), not 'hosts'" in r.stderr
    repo.run("forget", "--keep-last", "1")
    assert [s["id"][:8] for s in snapshots(repo)] == ids[2:]
