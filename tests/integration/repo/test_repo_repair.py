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
        self.expected = []
        for gen in range(3):
            for i in range(6):
                (self.src / "docs" / f"n{gen}-{i}.txt").write_text(f"gen {gen} note {i}\n" * (300 + 40 * i))
            (self.src / f"big{gen}.bin").write_bytes(os.urandom((1 + gen) << 20))
            repo.run("backup", self.src)
            self.expected.append(digests(self.src))
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
    assert rc == 5 and "in no index object and no pack header" in out, out


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
