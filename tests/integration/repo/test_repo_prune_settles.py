# SPDX-License-Identifier: MIT
"""Prune converges and nothing leaks (issue 17, items 3 and 4): a second
prune right after a first changes nothing and says so; the temporary
objects of a backup killed with SIGKILL are counted by check and removed by
the next prune, while one still being written (fresh) is left alone."""
import json
import os
import time


def objects(rd):
    """{relative path: (size, mtime_ns)} of every object but locks."""
    out = {}
    for p in rd.rglob("*"):
        if p.is_file() and p.parent.name != "locks":
            st = p.stat()
            out[str(p.relative_to(rd))] = (st.st_size, st.st_mtime_ns)
    return out


def churn(repo, tmp_path):
    """What the fault-injection run saw: a large file that stays, a
    directory that stays, small files that change.  After forget
    --keep-last 1 the large packs keep a few unused blobs (under 20%: not
    worth a rewrite) and the small tree and data packs are merged."""
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / "stable").mkdir()
    (src / "big.bin").write_bytes(os.urandom(6 << 20))
    for i in range(10):
        (src / "stable" / f"s{i}.txt").write_text(f"stable {i}\n" * 500)
    for r in range(3):
        for i in range(10):
            (src / "docs" / f"n{i}.txt").write_text(f"round {r} note {i}\n" * (400 + 30 * i))
        repo.run("backup", src)
    return src


def test_prune_twice_the_second_does_nothing(repo, tmp_path):
    churn(repo, tmp_path)
    repo.run("forget", "--keep-last", "1")
    stats0 = json.loads(repo.run("stats", "--json").stdout)
    first = json.loads(repo.run("prune", "--json").stdout)
    stats1 = json.loads(repo.run("stats", "--json").stdout)
    # the counts are what was done
    assert first["blobs_removed"] > 0
    assert stats1["blobs"] == stats0["blobs"] - first["blobs_removed"], (first, stats0, stats1)
    rd = repo.repo_dir()
    before = objects(rd)
    second = json.loads(repo.run("prune", "--json").stdout)
    assert objects(rd) == before, "the second prune changed the repository"
    assert second["packs_deleted"] == 0 and second["packs_rewritten"] == 0, second
    assert second["blobs_removed"] == 0 and second["bytes_freed"] == 0, second
    out = repo.run("prune").stdout
    assert out.startswith("0 pack(s) deleted, 0 rewritten"), out
    assert objects(rd) == before
    repo.run("check", "--read-data")


def kill_during_pack_write(repo, src, rd):
    """Run a backup SIGKILLed (crashat.so) just before it publishes its
    first pack: the pack's temporary file is left in data/.  Returns the
    leftover paths."""
    (src / "new.bin").write_bytes(os.urandom(24 << 20))
    assert repo.run_crashing("backup", src, kill_at=1, call="renameat", path="/data/") is None, \
        "the backup published no pack"
    left = [x for x in (rd / "data").rglob("*") if ".tmp-" in x.name]
    assert left, "the killed backup left no temporary pack"
    return left


def test_temp_packs_of_killed_backups_are_counted_and_pruned(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    repo.run("backup", src)
    rd = repo.repo_dir()
    left = kill_during_pack_write(repo, src, rd)
    # older than the next prune's lock (a kill long ago, as in the field)
    old = time.time() - 5
    for x in left:
        os.utime(x, (old, old))
    # one that is still being written: its mtime is current
    some = next(p for p in (rd / "data").rglob("*") if p.is_file() and ".tmp-" not in p.name)
    fresh = some.parent / (some.name + ".tmp-00000000deadbeef")
    fresh.write_bytes(b"x" * 4096)
    future = time.time() + 3600
    os.utime(fresh, (future, future))
    check = json.loads(repo.run("check", "--json").stdout)
    assert check["ok"] and check["temp_objects"] == len(left) + 1, check
    out = repo.run("check").stdout
    assert f"{len(left) + 1} temporary object(s)" in out, out
    res = json.loads(repo.run("prune", "--json").stdout)
    assert res["temp_objects_removed"] == len(left), res
    assert not any(x.exists() for x in left)
    assert fresh.exists(), "a write still going on was removed"
    fresh.unlink()
    assert json.loads(repo.run("check", "--json").stdout)["temp_objects"] == 0
    repo.run("backup", src)
    repo.run("check", "--read-data")
