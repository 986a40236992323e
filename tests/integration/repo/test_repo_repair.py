# SPDX-License-Identifier: MIT
"""Repair and self-healing of the backup repository (issue 17), through the
real CLI on a file:// store: a damaged or lost index never strands intact
data (`repair index`, the pack-header fallback of restore and check), and
check tells the truth about packs the index does not name."""
import hashlib
import json
import os
import shutil
import time

import pytest

import waits


def digests(root):
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def listing(rd):
    """{relative path: sha256} of every object of the repository but locks."""
    return {k: v for k, v in digests(rd).items() if not k.startswith("locks/")}


def flip(path, where=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if where is None else where
    data[i] ^= 0x40
    path.write_bytes(bytes(data))


class History:
    """Three snapshots of a changing tree and what each must restore to."""

    def __init__(self, repo, tmp_path):
        self.repo, self.tmp, self.n = repo, tmp_path, 0
        self.src = tmp_path / "src"
        self.src.mkdir()
        (self.src / "docs").mkdir()
        self.expected, self.packs = [], []
        for gen in range(3):
            for i in range(6):
                (self.src / "docs" / f"n{gen}-{i}.txt").write_text(f"gen {gen} note {i}\n" * (300 + 40 * i))
            (self.src / f"big{gen}.bin").write_bytes(os.urandom((1 + gen) << 20))
            repo.run("backup", self.src)
            self.expected.append(digests(self.src))
            self.packs.append({p for p in (repo.repo_dir() / "data").rglob("*") if p.is_file()})
        self.snaps = [s["id"] for s in json.loads(repo.run("snapshots", "--json").stdout)]
        assert len(self.snaps) == 3
        self.rd = repo.repo_dir()

    def restore(self, snap):
        """Restore from a new workstation (no cache): (rc, stderr, digests)."""
        self.n += 1
        out = self.tmp / f"restore{self.n}"
        shutil.rmtree(self.repo.cache, ignore_errors=True)
        r = self.repo.run("restore", snap, "--target", out, check=False)
        root = out / str(self.src).lstrip("/")
        return r.returncode, r.stderr, digests(root) if root.exists() else {}

    def assert_all_restore(self):
        for snap, exp in zip(self.snaps, self.expected):
            rc, err, got = self.restore(snap)
            assert rc == 0, err
            assert got == exp

    def check(self, *args):
        shutil.rmtree(self.repo.cache, ignore_errors=True)
        r = self.repo.run("check", *args, check=False)
        return r.returncode, r.stdout + r.stderr


@pytest.fixture
def history(repo, tmp_path):
    return History(repo, tmp_path)


def test_repair_index_after_a_flipped_byte_in_each_index_object(history):
    """One flipped byte in each index object in turn: check names the
    damage and says the packs are not indexed (not 'left by an interrupted
    backup'), restore of every snapshot is exact through the packs' own
    headers, `repair index` writes a new index before removing the damaged
    object, and then check --read-data is clean."""
    idx = sorted((history.rd / "index").iterdir())
    assert len(idx) >= 3
    saved = {p: p.read_bytes() for p in idx}
    for victim in idx:
        for p in (history.rd / "index").iterdir():
            if p not in saved:
                p.unlink()
        for p, b in saved.items():
            p.write_bytes(b)
        flip(victim)
        rc, out = history.check()
        assert rc == 5, out
        assert "interrupted" not in out, out
        assert "not indexed hold data snapshots need" in out and "repair index" in out, out
        history.assert_all_restore()
        r = history.repo.run("repair", "index", "--json")
        res = json.loads(r.stdout)
        assert res["ok"] and res["damaged_packs"] == 0 and res["damaged_blobs"] == 0, r.stdout
        assert res["index_removed"] == len(idx) and res["index_written"] >= 1
        assert not victim.exists()
        rc, out = history.check("--read-data")
        assert rc == 0, out
        assert "not indexed" not in out, out
        history.assert_all_restore()


def test_restore_with_the_index_gone_uses_pack_headers(history, capsys):
    """Every index object deleted: restore still restores every snapshot
    byte for byte by reading the packs' own headers; its cost is printed.
    check exits 5 and says what to run; repair index brings it back."""
    history.assert_all_restore()  # warm the page cache: compare like with like
    t0 = time.monotonic()
    history.assert_all_restore()
    indexed = time.monotonic() - t0
    for p in (history.rd / "index").iterdir():
        p.unlink()
    t0 = time.monotonic()
    history.assert_all_restore()
    fallback = time.monotonic() - t0
    packs = sum(1 for p in (history.rd / "data").rglob("*") if p.is_file())
    with capsys.disabled():
        print(f"\nrestore of 3 snapshots ({packs} packs): {indexed:.2f} s with the index, "
              f"{fallback:.2f} s from pack headers only")
    rc, out = history.check()
    assert rc == 5 and "repair index" in out and "interrupted" not in out, out
    ls = history.repo.run("ls", history.snaps[0])
    assert "big0.bin" in ls.stdout
    history.repo.run("repair", "index")
    rc, out = history.check("--read-data")
    assert rc == 0, out


def test_repair_index_leaves_out_a_damaged_blob_and_names_it(history):
    """A flipped byte inside a pack's blob: repair index indexes the rest
    of the pack, names the blob and exits 5; check then names the files."""
    packs = sorted((p for p in (history.rd / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    flip(packs[-1], 100)
    r = history.repo.run("repair", "index", check=False)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "is damaged: not indexed" in r.stderr
    rc, out = history.check()
    assert rc == 5 and "is missing from the index" in out, out


def test_check_says_unneeded_unindexed_packs_are_prunable(history):
    """A pack no index names and no snapshot needs (an interrupted backup's
    pack, made here by deleting the index object of a forgotten snapshot's
    new data): check calls it prunable, without error."""
    src = history.tmp / "extra"
    src.mkdir()
    (src / "x.bin").write_bytes(os.urandom(1 << 20))
    before = set((history.rd / "index").iterdir())
    history.repo.run("backup", src)
    new = [p for p in (history.rd / "index").iterdir() if p not in before]
    snaps = [s["id"] for s in json.loads(history.repo.run("snapshots", "--json").stdout)]
    (history.rd / "snapshots" / snaps[-1]).unlink()
    for p in new:
        p.unlink()
    rc, out = history.check()
    assert rc == 0, out
    assert "not indexed hold nothing a snapshot needs" in out, out


def test_repair_snapshots_after_a_pack_is_deleted(history):
    """The largest pack of the second backup deleted: repair snapshots
    refuses until repair index has dropped it from the index, then writes
    snapshots that keep everything else (tag 'repaired', the lost files
    named), removes the originals, and every snapshot restores what is
    left exactly; check --read-data is clean again."""
    new = history.packs[1] - history.packs[0]
    victim = max(new, key=lambda p: p.stat().st_size)
    victim.unlink()
    rc, out = history.check()
    assert rc == 5, out
    r = history.repo.run("repair", "snapshots", check=False)
    assert r.returncode == 5 and "run 'cloudseal repair index' first" in r.stderr, r.stderr
    history.repo.run("repair", "index")
    dry = history.repo.run("repair", "snapshots", "--dry-run", "--json")
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and len(plan["repaired"]) == 2, dry.stdout
    assert json.loads(history.repo.run("snapshots", "--json").stdout)[1]["id"] == history.snaps[1]
    r = history.repo.run("repair", "snapshots")
    assert "big1.bin: file data lost: left out" in r.stderr, r.stderr
    assert "2 of 3 snapshot(s) repaired" in r.stdout, r.stdout
    snaps = json.loads(history.repo.run("snapshots", "--json").stdout)
    assert [s["id"] for s in snaps][0] == history.snaps[0]
    assert all("repaired" in s["tags"] and s["summary"]["lost"] >= 1 for s in snaps[1:])
    lost = {k for k in history.expected[1] if k not in history.expected[0]} | {"big1.bin"}
    for snap, exp in zip(snaps, history.expected):
        rc, err, got = history.restore(snap["id"])
        assert rc == 0, err
        for k, v in got.items():
            assert exp[k] == v
        if snap["id"] == history.snaps[0]:
            assert got == exp
        else:
            assert "big1.bin" not in got and set(exp) - set(got) <= lost, (set(exp) - set(got))
    rc, out = history.check("--read-data")
    assert rc == 0, out


def test_check_names_a_damaged_lock_and_repair_drops_an_unreadable_snapshot(history):
    """A flipped byte in a lock object and in a snapshot object: check
    names both (exit 5); 'locks --remove-stale' removes the lock, repair
    snapshots removes the unreadable snapshot, and check is clean."""
    import signal
    big = history.tmp / "big"
    big.mkdir()
    (big / "x.bin").write_bytes(os.urandom(32 << 20))
    p = history.repo.popen("backup", big)
    locks = history.rd / "locks"

    def lock_written():
        return locks.exists() and any(x.is_file() and ".tmp-" not in x.name for x in locks.iterdir())
    waits.wait_for_change([locks], lock_written, 120, "the backup's lock object", pid=p.pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    lock = [x for x in locks.iterdir() if ".tmp-" not in x.name]
    assert p.returncode == -signal.SIGKILL and lock, "the backup ended before its lock was seen"
    flip(lock[0])
    snap = history.rd / "snapshots" / history.snaps[1]
    flip(snap)
    rc, out = history.check()
    assert rc == 5, out
    assert f"lock object locks/{lock[0].name} is damaged" in out, out
    assert history.snaps[1] in out, out
    history.repo.run("locks", "--remove-stale")
    r = history.repo.run("repair", "snapshots")
    assert f"snapshots/{history.snaps[1]} is damaged" in r.stderr and "removed" in r.stderr, r.stderr
    assert not snap.exists()
    rc, out = history.check()
    assert rc == 0, out


def test_repair_help_and_usage(repo):
    r = repo.run("repair", "--help")
    assert "Usage: cloudseal repair COMMAND" in r.stdout and "\n  snapshots " in r.stdout
    assert "Usage: cloudseal repair index" in repo.run("repair", "index", "--help").stdout
    assert repo.run("repair", check=False).returncode == 2
    assert repo.run("repair", "everything", check=False).returncode == 2
    assert repo.run("repair", "index", "--dry-run", check=False).returncode == 2
    assert "repair" in repo.run("--help").stdout
