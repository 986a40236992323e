# SPDX-License-Identifier: MIT
"""A hostile store against the backup repository, through the real CLI on a
file:// store: the snapshot list and the index rolled back, objects swapped
between two users' repositories and between two snapshots of one, objects
truncated, their bytes reordered, old objects put back, objects deleted.

What must hold (docs/threat-model.md): `restore` never writes a wrong byte
without saying so.  It exits non-zero with a message naming the damage, and
every file it leaves in the target is byte for byte the backed-up one (a
file whose data failed is removed, never left half written).  Each test also
runs `check` / `check --read-data` to show which of them finds the damage;
what nothing can find (a snapshot deleted or put back) is stated as such.

A fresh XDG cache is used for every restore (a new workstation): the local
copies of index and snapshot objects would otherwise hide a swap (they are
authenticated, so using them is right, but then storage is not tested)."""
import hashlib
import json
import os
import re
import shutil
import sys

import pytest

LOUD = re.compile(r"damaged|missing|tamper|does not authenticate")


def digests(root):
    """{relative path: sha256} of every regular file under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def write_v1(src):
    src.mkdir()
    (src / "docs").mkdir()
    for i in range(12):
        (src / "docs" / f"note{i}.txt").write_text(f"note {i}\n" * (200 + 50 * i))
    (src / "big.bin").write_bytes(os.urandom(3 << 20))  # several data blobs


def write_v2(src):
    with open(src / "big.bin", "r+b") as f:
        f.seek(1 << 20)
        f.write(os.urandom(2 << 20))
    (src / "docs" / "note0.txt").write_text("changed in v2\n" * 300)
    (src / "v2-only.bin").write_bytes(os.urandom(1 << 20))


class Attack:
    """Two snapshots of one source tree, their expected contents, and the
    objects of the repository by kind."""

    def __init__(self, repo, tmp_path):
        self.repo, self.tmp = repo, tmp_path
        self.src = tmp_path / "src"
        write_v1(self.src)
        repo.run("backup", self.src)
        self.v1 = digests(self.src)
        self.objs1 = self.objects()
        write_v2(self.src)
        repo.run("backup", self.src)
        self.v2 = digests(self.src)
        snaps = json.loads(repo.run("snapshots", "--json").stdout)
        assert len(snaps) == 2
        self.s1, self.s2 = snaps[0]["id"], snaps[1]["id"]
        self.rd = repo.repo_dir()
        self.n = 0

    def objects(self, kind=None):
        rd = self.repo.repo_dir()
        out = {}
        for k in ("data", "index", "snapshots", "config"):
            p = rd / k
            files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
            out[k] = files
        return out[kind] if kind else out

    def new_objects(self, kind):
        return [p for p in self.objects(kind) if p not in self.objs1[kind]]

    def restore(self, snap):
        """Restore snap into a new directory from a new workstation's cache;
        returns (exit status, stderr, {relative path: sha256} restored)."""
        self.n += 1
        out = self.tmp / f"restore{self.n}"
        shutil.rmtree(self.repo.cache, ignore_errors=True)
        r = self.repo.run("restore", snap, "--target", out, check=False)
        root = out / str(self.src).lstrip("/")
        return r.returncode, r.stderr, digests(root) if root.exists() else {}

    def assert_exact_or_error(self, snap, expected, must_fail=True):
        """restore: every file present is exact; with damage, a non-zero
        exit that names it.  Returns the restored paths."""
        rc, err, got = self.restore(snap)
        for k, v in got.items():
            assert k in expected and expected[k] == v, f"restore wrote wrong bytes to {k}: {err}"
        if must_fail:
            assert rc != 0 and rc != 7, "restore of damaged data exited 0"
            assert LOUD.search(err), err
        else:
            assert rc == 0, err
            assert got == expected
        return got

    def assert_damage_refused(self, damaged_snapshot=None):
        """Restore both snapshots: each exact or a loud error, at least one
        an error (the damage is in something one of them needs)."""
        if damaged_snapshot is not None:
            expected = self.v1 if damaged_snapshot.name == self.s1 else self.v2
            self.assert_exact_or_error(damaged_snapshot.name, expected)
            return
        failed = 0
        for snap, expected in ((self.s1, self.v1), (self.s2, self.v2)):
            rc, err, got = self.restore(snap)
            for k, v in got.items():
                assert k in expected and expected[k] == v, f"restore wrote wrong bytes to {k}: {err}"
            if rc != 0:
                assert rc == 5 and LOUD.search(err), err
                failed += 1
            else:
                assert got == expected
        assert failed, "damage no restore noticed"

    def check(self, *args):
        r = self.repo.run("check", *args, check=False)
        return r.returncode, r.stderr


def put(path, data):
    """What a bucket writer does: replace an object's bytes in place."""
    if path.exists():
        os.chmod(path, 0o600)
    path.write_bytes(data)


@pytest.fixture
def attack(repo, tmp_path):
    return Attack(repo, tmp_path)


@pytest.fixture
def other_user_repo(repo, tmp_path, build_dir, lock_at_end):
    """A second, independently enrolled account (another AMK) with its own
    repository and a backup of the same kind of tree."""
    base = tmp_path / "other"
    (base / "home").mkdir(parents=True)
    cfg = base / "cloudseal.conf"
    cfg.write_text(f"[storage]\nurl = file://{base}/storage\n[paths]\nstate_dir = {base}/state\n"
                   f"helper = {build_dir}/cloudseal-helper\n[kdf]\ntarget_time_ms = 1\nmemory = 8M\n"
                   "[backup]\nexclude =\n")
    r = type(repo)(base, cfg)
    lock_at_end(r.env)
    r.run("enroll", "--password-stdin")
    r.run("init")
    src = base / "src"
    write_v1(src)
    r.run("backup", src)
    return r


def test_snapshot_list_rolled_back_is_not_detected_but_restores_exactly(attack):
    """Storage deletes the newest snapshot (or puts the list back to an
    older state): `latest` is then the older snapshot.  Nothing can tell (no
    client state pins the snapshot list): not defended.  What holds: the
    older snapshot restores exactly, never a mix of the two."""
    snap2 = attack.rd / "snapshots" / attack.s2
    saved = snap2.read_bytes()
    snap2.unlink()
    attack.assert_exact_or_error("latest", attack.v1, must_fail=False)
    rc, err = attack.check()
    assert rc == 0, "check cannot see a deleted snapshot: " + err
    # a forgotten snapshot put back (replayed) reappears, and restores exactly
    put(snap2, saved)
    snaps = [s["id"] for s in json.loads(attack.repo.run("snapshots", "--json").stdout)]
    assert snaps == [attack.s1, attack.s2]
    attack.assert_exact_or_error("latest", attack.v2, must_fail=False)


def test_index_rolled_back_restores_from_pack_headers_and_check_finds_it(attack):
    """The index objects of the second backup deleted (the index set of an
    earlier state): the second snapshot names blobs no index has.  restore
    finds them in the packs' own headers and is exact; check exits 5 and
    names the snapshot; repair index makes check clean again."""
    new_idx = attack.new_objects("index")
    assert new_idx
    for p in new_idx:
        p.unlink()
    attack.assert_exact_or_error(attack.s2, attack.v2, must_fail=False)
    attack.assert_exact_or_error(attack.s1, attack.v1, must_fail=False)
    rc, err = attack.check()
    assert rc == 5 and attack.s2[:8] in err and "repair index" in err, err
    attack.repo.run("repair", "index")
    assert attack.check("--read-data")[0] == 0
    attack.repo.run("backup", attack.src)
    attack.assert_exact_or_error("latest", attack.v2, must_fail=False)


def test_objects_swapped_between_two_users_repositories(attack, other_user_repo):
    """Another user's pack, index, snapshot or config put under this user's
    names: every one fails authentication (another AMK), restore writes no
    wrong byte, check names the object."""
    theirs = {k: sorted(x for x in (other_user_repo.repo_dir() / k).rglob("*") if x.is_file())
              for k in ("data", "index", "snapshots")}
    theirs["config"] = [other_user_repo.repo_dir() / "config"]
    cases = [("data", max), ("data", min), ("index", max), ("snapshots", max), ("config", max)]
    for kind, pick in cases:
        mine = pick(attack.objects(kind), key=lambda p: p.stat().st_size)
        keep = mine.read_bytes()
        put(mine, pick(theirs[kind], key=lambda p: p.stat().st_size).read_bytes())
        # index: its packs are located from their own headers; config: restore
        # needs nothing from it (the repository's other objects prove it ours)
        if kind in ("index", "config"):
            attack.assert_exact_or_error(attack.s1, attack.v1, must_fail=False)
            attack.assert_exact_or_error(attack.s2, attack.v2, must_fail=False)
        else:
            attack.assert_damage_refused(mine if kind == "snapshots" else None)
        rc, err = attack.check("--read-data") if kind == "data" else attack.check()
        assert rc == 5, (kind, err)
        assert mine.name in err, (kind, err)
        put(mine, keep)
    assert attack.check("--read-data")[0] == 0


def test_objects_swapped_between_two_snapshots(attack):
    """The data pack, index object and snapshot of the second backup
    exchanged with those of the first (contents under each other's names):
    bound by the AEAD to their names, every one is refused."""
    for kind in ("data", "index", "snapshots"):
        old = max(attack.objs1[kind], key=lambda p: p.stat().st_size)
        new = max(attack.new_objects(kind), key=lambda p: p.stat().st_size)
        a, b = old.read_bytes(), new.read_bytes()
        put(old, b)
        put(new, a)
        if kind == "snapshots":
            attack.assert_exact_or_error(old.name, attack.v1)
            attack.assert_exact_or_error(new.name, attack.v2)
        elif kind == "index":  # both refused; the packs' own headers locate the blobs
            attack.assert_exact_or_error(attack.s1, attack.v1, must_fail=False)
            attack.assert_exact_or_error(attack.s2, attack.v2, must_fail=False)
        else:
            attack.assert_damage_refused()
        rc, err = attack.check("--read-data") if kind == "data" else attack.check()
        assert rc == 5 and old.name in err and new.name in err, (kind, err)
        put(old, a)
        put(new, b)
    assert attack.check("--read-data")[0] == 0


@pytest.mark.parametrize("how", ["truncate-end", "truncate-middle", "reorder", "extend"])
def test_pack_truncated_reordered_or_extended(attack, how):
    """A data pack cut short, bytes inside it moved around (same size), or
    bytes appended.  restore: exit 5 and the files needing it left out
    (except an extension, which changes no blob: exact).  A size change is
    found by check; reordered bytes only by check --read-data."""
    pack = max(attack.new_objects("data"), key=lambda p: p.stat().st_size)
    data = pack.read_bytes()
    if how == "truncate-end":
        bad = data[:-1]
    elif how == "truncate-middle":
        bad = data[: len(data) // 2]
    elif how == "reorder":  # swap two 64-byte runs inside the first blob
        bad = data[:64] + data[128:192] + data[64:128] + data[192:]
    else:
        bad = data + b"\0" * 4096
    put(pack, bad)
    if how in ("extend", "truncate-end"):  # no blob changed, only the trailer restore never reads
        attack.assert_exact_or_error(attack.s2, attack.v2, must_fail=False)
    else:
        got = attack.assert_exact_or_error(attack.s2, attack.v2)
        assert "big.bin" not in got or "v2-only.bin" not in got
    rc, err = attack.check()
    if how == "reorder":
        assert rc == 0, "same size: only --read-data reads the blobs"
    else:
        assert rc == 5 and pack.name in err, err
    rc, err = attack.check("--read-data")
    assert rc == 5 and pack.name in err, err


@pytest.mark.parametrize("kind", ["index", "snapshots"])
def test_index_or_snapshot_truncated_or_reordered(attack, kind):
    obj = max(attack.new_objects(kind), key=lambda p: p.stat().st_size)
    data = obj.read_bytes()
    for bad in (data[:-1], data[:40], data[:40] + data[56:72] + data[40:56] + data[72:]):
        put(obj, bad)
        # a damaged index object: its packs are read from their own headers
        attack.assert_exact_or_error(attack.s2, attack.v2, must_fail=kind == "snapshots")
        rc, err = attack.check()
        assert rc == 5 and obj.name in err, err
    put(obj, data)


def test_deleted_pack(attack):
    """A pack deleted: restore exits 5 and leaves out what needs it; check
    (without --read-data) finds it.  A backup made meanwhile trusts the index
    and does not upload the blobs again: only check tells (not defended by
    backup itself)."""
    pack = max(attack.new_objects("data"), key=lambda p: p.stat().st_size)
    pack.unlink()
    got = attack.assert_exact_or_error(attack.s2, attack.v2)
    assert got, "files that do not need the pack still restore"
    rc, err = attack.check()
    assert rc == 5 and pack.name in err, err
    attack.repo.run("backup", attack.src)
    attack.assert_exact_or_error("latest", attack.v2)


def test_old_index_put_back_after_prune(attack):
    """Objects removed by forget + prune put back (replayed): stale index
    objects naming deleted packs and a forgotten snapshot.  Nothing wrong is
    restored and check reports it.  Not defended: the stale index entries
    can shadow the current ones (a blob listed twice keeps the first
    location merged), so even the live snapshot may fail to restore until
    the replayed objects are removed: a denial, like deleting a pack."""
    saved = {p: p.read_bytes() for p in attack.objects("index") + attack.objects("snapshots")}
    attack.repo.run("forget", "--keep-last", "1", "--prune")
    for p, b in saved.items():
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            put(p, b)
    rc, err, got = attack.restore(attack.s2)
    for k, v in got.items():
        assert attack.v2[k] == v, f"restore wrote wrong bytes to {k}: {err}"
    assert rc == 0 or (rc == 5 and "missing" in err), err
    attack.assert_exact_or_error(attack.s1, attack.v1)
    rc, err = attack.check()
    assert rc == 5 and attack.s1[:8] in err, err
    # the replayed objects removed again: the live snapshot is whole
    for p in saved:
        if p.exists() and p.parent.name in ("index", "snapshots") and p.name != attack.s2:
            p.unlink()
    attack.assert_exact_or_error(attack.s2, attack.v2, must_fail=False)


def test_store_holds_no_plaintext_names_contents_or_password(repo, tmp_path):
    """A copy of the bucket (or a network observer of it): no file name,
    no content, no xattr, no password appears in any stored object; all a
    reader learns is object names, sizes, counts and times."""
    src = tmp_path / "src"
    (src / "Secret-Project-Name").mkdir(parents=True)
    f = src / "Secret-Project-Name" / "salaries-2026.ods"
    f.write_bytes(b"UNIQUE-CONTENT-MARKER-4711 " * 1000)
    os.setxattr(f, "user.note", b"XATTR-MARKER-0815")
    repo.run("backup", src)
    password = sys.modules[type(repo).__module__].PASSWORD
    needles = [b"Secret-Project-Name", b"salaries-2026", b"UNIQUE-CONTENT-MARKER", b"XATTR-MARKER",
               password.encode(), os.fsencode(str(src))]
    stored = [p for p in repo.storage.rglob("*") if p.is_file()]
    assert len(stored) > 4
    for p in stored:
        data = p.read_bytes()
        for n in needles:
            assert n not in data, f"{n!r} in {p}"


def test_prune_after_a_replayed_index_deletes_nothing_live(repo, tmp_path):
    """A replayed index object (one an earlier prune deleted) names a pack
    that is gone, for blobs a later backup stored again in a new pack.
    When the index keeps the stale location (the object listed first), prune
    must not take it for the truth and delete the new pack, the only copy:
    it refuses (exit 5, the missing pack named) until the replayed object is
    removed.  The listing order is the store's (file://: directory order,
    by name hash on ext4), so rounds are repeated until it is the bad one."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.txt").write_text("kept in every snapshot\n" * 100)
    idx = repo.repo_dir() / "index"
    for rnd in range(16):
        x = os.urandom(1536 << 10)  # a data pack of its own, larger than a small pack
        (src / "x.bin").write_bytes(x)
        before = {p.name for p in idx.iterdir()} if idx.exists() else set()
        repo.run("backup", src)
        stale = {p.name: p.read_bytes() for p in idx.iterdir() if p.name not in before}
        os.unlink(src / "x.bin")
        repo.run("backup", src)
        repo.run("forget", "--keep-last", "1", "--prune")
        assert not any((idx / n).exists() for n in stale)
        (src / "x.bin").write_bytes(x)  # the same blobs, stored again in a new pack
        (src / f"round{rnd}.txt").write_text("makes the tree differ from the first one\n")
        before = {p.name for p in idx.iterdir()}
        repo.run("backup", src)
        current = [p.name for p in idx.iterdir() if p.name not in before]
        for n, b in stale.items():  # the store puts the stale index back
            put(idx / n, b)
        order = os.listdir(idx)
        if all(order.index(s) < order.index(c) for s in stale for c in current):
            break
        for n in stale:
            (idx / n).unlink()
    else:
        pytest.fail("the replayed index was never listed first")
    expected = digests(src)
    r = repo.run("prune", check=False)
    assert r.returncode == 5 and "missing from storage" in r.stderr and "check" in r.stderr, r.stderr
    for n in stale:
        if (idx / n).exists():
            (idx / n).unlink()
    shutil.rmtree(repo.cache, ignore_errors=True)
    out = tmp_path / "out"
    r = repo.run("restore", "latest", "--target", out, check=False)
    assert r.returncode == 0, "prune destroyed live data: " + r.stderr
    assert digests(out / str(src).lstrip("/")) == expected
    repo.run("prune")
    repo.run("check", "--read-data")
