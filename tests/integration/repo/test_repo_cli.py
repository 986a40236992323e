# SPDX-License-Identifier: MIT
"""Backup repository end to end through the cloudseal CLI: restore fidelity,
incremental runs, listings, corruption, kill -9 at random instants, and a
backup racing a prune."""
import hashlib
import json
import os
import random
import signal
import stat
import struct
import subprocess
import sys

import pytest

import waits


CRASH_ITERATIONS = int(os.environ.get("CS_REPO_CRASH_ITERATIONS", "20"))


def manifest(root):
    """Everything restore must reproduce, per relative path (bytes)."""
    root = os.fsencode(str(root))
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            e = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid}
            if not stat.S_ISDIR(st.st_mode):
                e["mtime_ns"] = st.st_mtime_ns
            if stat.S_ISDIR(st.st_mode):
                e["mtime_ns"] = st.st_mtime_ns
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                e["sha"] = h.hexdigest()
                e["size"] = st.st_size
                if st.st_nlink > 1:
                    e["link_group"] = inodes.setdefault(st.st_ino, rel)
            elif stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e["rdev"] = st.st_rdev
            if not stat.S_ISLNK(st.st_mode):
                try:
                    e["xattrs"] = {k: os.getxattr(p, k) for k in sorted(os.listxattr(p))}
                except OSError:
                    pass
            out[rel] = e
    return out


def assert_same_tree(a, b):
    ma, mb = manifest(a), manifest(b)
    assert sorted(ma) == sorted(mb), (set(ma) ^ set(mb))
    for k in ma:
        assert ma[k] == mb[k], (k, ma[k], mb[k])


def make_tree(root, seed=1, big=True):
    rnd = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "docs").mkdir()
    (root / "docs" / "empty").mkdir()
    for i in range(30):
        (root / "docs" / f"note{i}.txt").write_text(("line %d of note\n" % i) * rnd.randint(1, 3000))
    (root / "docs" / "empty.txt").write_bytes(b"")
    if big:
        (root / "media").mkdir()
        (root / "media" / "photo.jpg").write_bytes(rnd.randbytes(3 << 20))
        (root / "media" / "copy.jpg").write_bytes((root / "media" / "photo.jpg").read_bytes())
    # odd names: spaces, newline, tab, invalid UTF-8, a long name
    odd = os.fsencode(str(root)) + b"/odd names"
    os.mkdir(odd)
    for n in (b"with space", b"new\nline", b"tab\there", b"bad\xff\xfeutf8", b"caf\xc3\xa9", b"x" * 255):
        with open(odd + b"/" + n, "wb") as f:
            f.write(n * 3)
    # links, special files
    os.symlink("docs/note1.txt", root / "rel-link")
    os.symlink("/nonexistent/target", root / "dangling")
    os.link(root / "docs" / "note2.txt", root / "hardlink")
    os.mkfifo(root / "fifo")
    # sparse file: a hole, then data
    with open(root / "sparse.img", "wb") as f:
        f.seek(30 << 20)
        f.write(b"end")
    # xattrs, modes, owners, ns mtimes
    os.setxattr(root / "docs" / "note3.txt", "user.origin", b"https://example.invalid/\x00bin")
    os.chmod(root / "docs" / "note4.txt", 0o600)
    os.chmod(root / "docs" / "note5.txt", 0o4755)
    if os.geteuid() == 0:
        os.chown(root / "docs" / "note6.txt", 1234, 5678)
        os.lchown(root / "rel-link", 4321, 8765)
        os.mknod(root / "null-dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    for i, p in enumerate(sorted(root.rglob("*"))):
        os.utime(p, ns=(1_600_000_000_123_456_789 + i, 1_600_000_000_987_654_321 + i * 1000),
                 follow_symlinks=False)
    os.utime(root, ns=(1_600_000_000_000_000_001, 1_600_000_000_000_000_001))


def test_restore_fidelity_whole_tree(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    r = repo.run("backup", src)
    assert "8 new" not in r.stderr
    repo.run("restore", "latest", "--target", tmp_path / "out")
    restored = tmp_path / "out" / str(src).lstrip("/")
    assert_same_tree(src, restored)
    st = os.stat(restored / "sparse.img")
    assert st.st_blocks * 512 < (1 << 20), "the hole was written out"
    assert os.stat(restored / "hardlink").st_ino == os.stat(restored / "docs" / "note2.txt").st_ino
    # SNAP:PATH and --include
    repo.run("restore", f"latest:{src}/docs", "--target", tmp_path / "part")
    assert (tmp_path / "part" / "note1.txt").read_text() == (src / "docs" / "note1.txt").read_text()
    assert not (tmp_path / "part" / "docs").exists()
    repo.run("restore", "latest", "--target", tmp_path / "inc", "--include", f"{src}/media")
    assert (tmp_path / "inc" / str(src).lstrip("/") / "media" / "photo.jpg").exists()
    assert not (tmp_path / "inc" / str(src).lstrip("/") / "docs").exists()


def acl_xattr(*entries):
    """A system.posix_acl_access value: version 2, then (tag, perm, id)."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def make_meta_tree(root):
    """What set_meta must get right and in order: a file capability (chown
    clears it), a POSIX ACL (it sets group mode bits), a set-group-id
    directory and its files, files owned by the restorer with another
    group, and more small files than one worker's batch."""
    make_tree(root, big=False)
    many = root / "many"
    many.mkdir()
    for i in range(300):
        (many / f"f{i:03}").write_bytes(b"%d\n" % i * (i % 7))
    cap = root / "docs" / "note7.txt"  # CAP_NET_BIND_SERVICE, effective
    os.setxattr(cap, "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0))
    os.setxattr(root / "docs" / "note8.txt", "system.posix_acl_access",
                acl_xattr((1, 6, 0xFFFFFFFF), (2, 4, 1234), (4, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
                          (0x20, 0, 0xFFFFFFFF)))
    shared = root / "shared"
    shared.mkdir()
    (shared / "a.txt").write_text("a")
    (shared / "sub").mkdir()
    (shared / "sub" / "b.txt").write_text("b")
    os.chown(root / "docs" / "note9.txt", os.geteuid(), 4242)
    for p in (shared, shared / "sub"):
        os.chown(p, os.geteuid(), 5678)
        os.chmod(p, 0o2775)
    os.chown(shared / "a.txt", os.geteuid(), 5678)
    os.chown(shared / "sub" / "b.txt", 1234, 5678)
    for i, p in enumerate(sorted([many, *many.iterdir(), shared, *shared.rglob("*")])):
        os.utime(p, ns=(1_600_000_100_000_000_000 + i, 1_600_000_100_000_000_777 + i), follow_symlinks=False)
    os.utime(root, ns=(1_600_000_000_000_000_001, 1_600_000_000_000_000_001))


@pytest.mark.skipif(os.geteuid() != 0, reason="owners, devices and capabilities need root")
def test_restore_fidelity_capabilities_acls_owners(repo, tmp_path):
    src = tmp_path / "src"
    make_meta_tree(src)
    repo.run("backup", src)
    # into a new directory (what a restore creates is owned by it already)
    repo.run("restore", "latest", "--target", tmp_path / "out")
    assert_same_tree(src, tmp_path / "out" / str(src).lstrip("/"))
    # into an existing set-group-id directory of another group: what is
    # created there takes that group, so every owner is set again
    sgid = tmp_path / "sgid"
    sgid.mkdir()
    os.chown(sgid, 0, 4343)
    os.chmod(sgid, 0o2775)
    repo.run("restore", "latest", "--target", sgid)
    assert_same_tree(src, sgid / str(src).lstrip("/"))


def test_fresh_restore_asks_the_target_nothing(repo, tmp_path):
    """A restore into a directory it creates knows that nothing is there:
    no lstat, unlink or chown per file (issue 23: the kernel's work per
    file is what restore's time is made of)."""
    src = tmp_path / "src"
    make_tree(src, big=False)
    many = src / "many"
    many.mkdir()
    for i in range(300):
        (many / f"f{i:03}").write_text("x" * i)
    repo.run("backup", src)
    out, log = tmp_path / "out", tmp_path / "strace.log"
    conf = sys.modules[type(repo).__module__]  # this directory's conftest: BUILD, PASSWORD
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e",
                        "trace=newfstatat,lstat,stat,fchown,lchown,fchownat,chown,unlink,unlinkat",
                        str(conf.BUILD / "cloudseal"), "restore", "latest", "--target", str(out)],
                       input=conf.PASSWORD + "\n", env=repo.env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_same_tree(src, out / str(src).lstrip("/"))
    calls = [ln for ln in log.read_text(errors="replace").splitlines() if str(out) in ln]
    dirs = sum(1 for p in [out, *out.rglob("*")] if p.is_dir() and not p.is_symlink())
    files = sum(1 for p in out.rglob("*") if not p.is_dir() or p.is_symlink())
    asked = [ln for ln in calls if "stat" in ln]
    # one stat of the new target, one lstat per directory before its metadata
    assert len(asked) <= dirs + 2, (len(asked), dirs, files, asked[:20])
    assert not [ln for ln in calls if "unlink" in ln], calls
    # a call another thread interrupts is two lines ("<unfinished ...>", "<... resumed>")
    chowned = [ln for ln in log.read_text(errors="replace").splitlines() if "chown" in ln and "resumed>" not in ln]
    others = sum(1 for p in [*src.rglob("*")] if os.lstat(p).st_uid != os.geteuid()
                 or os.lstat(p).st_gid != os.getegid())
    assert len(chowned) <= others, (len(chowned), others, chowned[:20])


def test_incremental_listing_diff_stats(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src, big=False)
    # ctimes in a second before the backup starts: cacheable
    waits.sleep_past(max(p.lstat().st_ctime for p in [src, *src.rglob("*")]) + 1)
    first = json.loads(repo.run("--json", "backup", "--tag", "one", src).stdout.splitlines()[-1])
    assert first["summary"]["files_new"] > 30
    second = json.loads(repo.run("--json", "backup", src).stdout.splitlines()[-1])
    assert second["summary"]["files_unchanged"] == first["summary"]["files_new"]
    assert second["summary"]["bytes_added"] < 4096  # only trees of /tmp ancestors that moved
    (src / "docs" / "note1.txt").write_text("changed\n")
    (src / "docs" / "new.txt").write_text("new\n")
    os.unlink(src / "docs" / "note9.txt")
    third = json.loads(repo.run("--json", "backup", src).stdout.splitlines()[-1])
    assert third["summary"]["files_changed"] == 1 and third["summary"]["files_new"] == 1
    snaps = json.loads(repo.run("snapshots", "--json").stdout)
    assert len(snaps) == 3 and snaps[0]["tags"] == ["one"]
    assert snaps[2]["parent"] == snaps[1]["id"]
    d = repo.run("diff", snaps[1]["id"][:8], "latest").stdout
    assert f"M    {src}/docs/note1.txt" in d
    assert f"+    {src}/docs/new.txt" in d
    assert f"-    {src}/docs/note9.txt" in d
    ls = repo.run("ls", "latest", f"{src}/docs").stdout.splitlines()
    assert f"{src}/docs/new.txt" in ls and f"{src}/docs/note9.txt" not in ls
    js = json.loads(repo.run("ls", "--json", "latest", f"{src}/odd names").stdout)
    assert any(e["path"].endswith("with space") for e in js)
    stats = json.loads(repo.run("stats", "--json").stdout)
    assert stats["snapshots"] == 3 and stats["blobs"] > 0
    assert repo.run("ls", "nosuch", check=False).returncode == 4
    # forget keeps the newest; prune frees; check stays clean
    out = repo.run("forget", "--keep-last", "1", "--prune").stdout
    assert "2 snapshot(s) removed" in out
    assert len(json.loads(repo.run("snapshots", "--json").stdout)) == 1
    repo.run("check", "--read-data")
    repo.run("restore", "latest", "--target", tmp_path / "out")
    assert_same_tree(src, tmp_path / "out" / str(src).lstrip("/"))


def test_excludes(repo, tmp_path):
    src = tmp_path / "src"
    (src / "keep").mkdir(parents=True)
    (src / "cache").mkdir()
    (src / "keep" / "a.txt").write_text("a")
    (src / "keep" / "b.o").write_text("b")
    (src / "cache" / "c").write_text("c")
    ex = tmp_path / "excludes"
    ex.write_text("# comment\n*.o\n")
    repo.run("backup", src, "--exclude", f"{src}/cache", "--exclude-file", ex)
    ls = repo.run("ls", "latest").stdout
    assert "a.txt" in ls and "b.o" not in ls and "/cache" not in ls


def flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = offset if offset is not None else len(data) // 2
    data[i] ^= 0x20
    os.chmod(path, 0o600)
    path.write_bytes(bytes(data))


def test_corruption_named_and_partial_restore(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    repo.run("backup", src)
    repo.run("check", "--read-data")
    rd = repo.repo_dir()
    packs = sorted((rd / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    big = packs[-1]
    flip_byte(big, 100)
    r = repo.run("check", "--read-data", check=False)
    assert r.returncode == 5
    assert big.name in r.stderr, r.stderr
    r = repo.run("restore", "latest", "--target", tmp_path / "out", check=False)
    assert r.returncode == 5
    restored = tmp_path / "out" / str(src).lstrip("/")
    # the files that need the damaged pack are absent, never wrong; the rest is exact
    ms, mr = manifest(src), manifest(restored)
    missing = [k for k in ms if k not in mr]
    assert missing, "a damaged pack must cost at least one file"
    for k, v in mr.items():
        assert v == ms[k], k
    # which file's blob the flipped byte hits follows the walk's order; the others restore
    assert any(k.endswith(b".txt") for k in mr), sorted(mr)
    # a damaged index object and snapshot are named too
    idx = next((rd / "index").iterdir())
    flip_byte(idx)
    r = repo.run("check", check=False)
    assert r.returncode == 5 and idx.name in r.stderr
    snap = next((rd / "snapshots").iterdir())
    flip_byte(snap)
    r = repo.run("check", check=False)
    assert r.returncode == 5 and snap.name in r.stderr


def restore_all_and_compare(repo, src, tmp_path):
    """The newest snapshot equals src; older ones (src only grew since) hold
    exactly src's version of every non-directory they have."""
    snaps = json.loads(repo.run("snapshots", "--json").stdout)
    ms = manifest(src)
    for i, s in enumerate(snaps):
        out = tmp_path / f"r-{s['id'][:8]}"
        repo.run("restore", s["id"], "--target", out)
        restored = out / str(src).lstrip("/")
        if i == len(snaps) - 1:
            assert_same_tree(src, restored)
        else:
            for k, v in manifest(restored).items():
                if not stat.S_ISDIR(v["mode"]):
                    assert ms[k] == v, (s["id"], k)
        subprocess.run(["rm", "-rf", str(out)], check=True)
    return len(snaps)


def test_kill9_during_backup_and_prune(repo, tmp_path):
    """kill -9 at random instants of backups and prunes: check passes after
    every kill, every snapshot restores exactly, the next backup succeeds.
    An instant is a step of the run (crashat.so: SIGKILL before the Nth
    write, fsync, rename, link or unlink), not a time, so the kills land
    mid-run however loaded the machine is."""
    src = tmp_path / "src"
    make_tree(src, seed=7)
    rnd = random.Random(int(os.environ.get("CS_REPO_CRASH_SEED", "42")))

    # the length of each kind of run, in steps, from its last run that finished
    length = {"backup": repo.run_crashing("backup", src)}
    kills = 0
    for i in range(CRASH_ITERATIONS):
        # new data each round, so there is something to write when killed
        (src / "docs" / f"round{i}.bin").write_bytes(rnd.randbytes(rnd.randint(1, 2 << 20)))
        if i % 3 == 2:
            repo.run("forget", "--keep-last", "2")
            kind, args = "prune", ("prune",)
        else:
            kind, args = "backup", ("backup", src)
        # a step chosen at random over the run's expected length (a little
        # beyond, so some runs also finish); a first prune is measured whole
        kill_at = rnd.randint(1, int(length[kind] * 1.2) + 1) if kind in length else None
        steps = repo.run_crashing(*args, kill_at=kill_at)
        if steps is None:
            kills += 1
        else:
            length[kind] = steps
        r = repo.run("check", check=False)
        assert r.returncode == 0, f"iteration {i}: {r.stdout}\n{r.stderr}"
    assert kills >= CRASH_ITERATIONS // 4, f"only {kills} kills landed mid-run"
    repo.run("backup", src)
    repo.run("check", "--read-data")
    assert restore_all_and_compare(repo, src, tmp_path) >= 1
    repo.run("prune")
    repo.run("check", "--read-data")


def test_concurrent_backup_and_prune(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src, seed=3)
    repo.run("backup", src)
    for i in range(4):
        (src / f"more{i}").write_bytes(os.urandom(1 << 20))
        repo.run("forget", "--keep-last", "1")
        b = repo.popen("backup", src)
        p = repo.popen("prune")
        rb, rp = b.wait(), p.wait()
        errs = b.stderr.read().decode(errors="replace") + p.stderr.read().decode(errors="replace")
        # each either succeeds or refuses because of the other's lock, never corrupts
        assert rb in (0, 1) and rp in (0, 1), errs
        if rb or rp:
            assert "locked" in errs, errs
        repo.run("check", "--read-data")
    repo.run("backup", src)
    assert restore_all_and_compare(repo, src, tmp_path) >= 1


def test_help_and_usage(repo):
    for c in ("init", "backup", "snapshots", "ls", "restore", "diff", "check", "forget", "prune", "stats"):
        r = repo.run(c, "--help")
        assert "Usage: cloudseal " + c in r.stdout
    assert repo.run("forget", check=False).returncode == 2
    assert repo.run("restore", "latest", check=False).returncode == 2



@pytest.mark.parametrize("args", [("--json", "snapshots"), ("--json", "stats"), ("snapshots",)])
def test_output_to_a_full_disk_fails(repo, tmp_path, args):
    """Output lost (stdout on a full disk, ENOSPC) is a failure with a
    message, not a silent exit 0 (cli_print_json, cli_output_end)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    repo.run("backup", src)
    with open("/dev/full", "w") as full:
        r = repo.run(*args, check=False, stdout=full)
    assert r.returncode == 1, r.stderr
    assert "cannot write the output" in r.stderr and "No space left on device" in r.stderr, r.stderr


def test_init_again_is_success(repo):
    """The agent creates the repository at its first backup: a later
    `cloudseal init` (the README's step) says so and exits 0."""
    r = repo.run("init")
    assert r.returncode == 0
    assert "exists already: nothing to do" in r.stdout, r.stdout


OPENSSL_BASE_ONLY = """openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
base = base_sect
[base_sect]
activate = 1
"""


def test_blob_cipher_fallback_is_the_same_format(repo, tmp_path):
    """With OpenSSL limited to its base provider (as a FIPS-only configuration
    is), ChaCha20-Poly1305 is unavailable and blobs go through libsodium: the
    bytes are the same format, so each path reads what the other wrote."""
    conf = tmp_path / "openssl-base-only.cnf"
    conf.write_text(OPENSSL_BASE_ONLY)
    fallback = dict(repo.env, OPENSSL_CONF=str(conf))
    def provided(env):  # the ciphers providers offer (not the legacy name list)
        out = subprocess.run(["openssl", "list", "-cipher-algorithms"], env=env,
                             capture_output=True, text=True, check=True).stdout
        return out.partition("Provided:")[2].lower()
    assert "chacha20-poly1305" in provided(repo.env)
    assert "chacha20-poly1305" not in provided(fallback)

    src = tmp_path / "src"
    make_tree(src, big=False)
    normal_env = repo.env
    repo.env = fallback
    repo.run("backup", src)                       # written by libsodium
    repo.env = normal_env
    repo.run("check", "--read-data")              # read by OpenSSL
    repo.run("restore", "latest", "--target", tmp_path / "out1")
    assert_same_tree(src, tmp_path / "out1" / str(src).lstrip("/"))

    (src / "added.txt").write_text("written by the OpenSSL path\n" * 1000)
    repo.run("backup", src)                       # written by OpenSSL
    repo.env = fallback
    repo.run("check", "--read-data")              # read by libsodium
    repo.run("restore", "latest", "--target", tmp_path / "out2")
    repo.env = normal_env
    assert_same_tree(src, tmp_path / "out2" / str(src).lstrip("/"))
