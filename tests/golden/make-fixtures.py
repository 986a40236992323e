#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write the golden on-disk fixtures of tests/golden/v1/ with today's build.

Run by hand (never by make check), as root or any user, after `make all
fleet-test-tools golden-tool`:

    tests/golden/make-fixtures.py [--out tests/golden/v1] [--add-readings]

In /tmp/cloudseal-golden it enrolls the test account "golden" (nss_wrapper
gives the caller's uid that name, so the fixtures do not depend on who runs
them), backs up a small fixed tree twice, syncs a fixed Maildir into the
message archive from two workstations, builds a signed fleet directory with
an escrow key and an admin-enrolled user and compiles its NSS cache, and
lets the agent run its jobs once, all with the cheapest KDF.  Then it copies
what today's code wrote into OUT, records what today's code prints when
reading it (tests/golden/golden.py, the same code the test runs) and writes
MANIFEST.sha256 and MODES.  Regenerating changes every byte (new keys, nonces,
times): do it only for a new format version (v2/), never to make
test_golden.py pass.  `--add-readings` keeps the fixtures and records only
readings added to golden.py since (it refuses if a recorded one changed).
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))
import waits  # noqa: E402  (tests/integration/waits.py: inotify and clock waits)
import golden  # noqa: E402

# A fixed place, so the paths recorded inside the snapshots are the same on
# every regeneration.
WORK = pathlib.Path("/tmp/cloudseal-golden")


def tree(root):
    """The backed-up tree: sizes 0, 1, 4 KiB, 200 KiB, a symlink, a hardlink,
    a fifo, a sparse file, an xattr, modes and times fixed."""
    root.mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "docs" / "empty").write_bytes(b"")
    (root / "docs" / "one").write_bytes(b"x")
    (root / "docs" / "page.txt").write_bytes(b"".join(b"line %04d of the golden page\n" % i
                                                     for i in range(146)))
    # 200 KiB that compresses only a little: several chunks' worth of data
    big = bytearray()
    x = 0x2545F491
    while len(big) < 200 * 1024:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        big += (x >> 16).to_bytes(2, "little") + b"golden"[x % 6:]
    (root / "big.bin").write_bytes(bytes(big[:200 * 1024]))
    os.symlink("docs/page.txt", root / "link-to-page")
    os.symlink("../nowhere", root / "dangling")
    os.link(root / "docs" / "one", root / "hardlink-to-one")
    os.mkfifo(root / "fifo")
    with open(root / "sparse", "wb") as f:
        f.seek(1024 * 1024)
        f.write(b"end of the sparse file\n")
    # 9 MiB of one 4 KiB block: no content-defined boundary (4096 positions
    # rarely meet the ~2^-20 mask), so two chunks, cut at the 8 MiB maximum;
    # both compress to almost nothing
    block = bytes((i * 7919 + (i >> 5)) & 0xFF for i in range(4096))
    (root / "repeated.bin").write_bytes(block * 2304)
    (root / "emptydir").mkdir()
    (root / "name with spaces").write_bytes(b"spaces\n")
    (root / "\u00fcn\u00efcode-\u540d\u524d").write_bytes(b"utf-8 name\n")
    with open(os.path.join(os.fsencode(root), b"latin1-\xe9t\xe9"), "wb") as f:
        f.write(b"a name that is not UTF-8\n")
    (root / "script.sh").write_bytes(b"#!/bin/sh\necho golden\n")
    os.chmod(root / "script.sh", 0o750)
    os.chmod(root / "docs" / "one", 0o600)
    try:
        os.setxattr(root / "docs" / "page.txt", "user.golden", b"attribute value")
    except OSError as e:
        print(f"warning: no user xattr on {root}: {e}", file=sys.stderr)
    for p in sorted(root.rglob("*"), reverse=True):
        os.utime(p, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000), follow_symlinks=False)
    os.utime(root, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))


def maildir(root):
    """Three messages in INBOX, two in .Work, one in a subfolder whose name
    is modified UTF-7 (IMAP), with flags."""
    msgs = [("", "cur", "1700000001.M1P1.golden", "S", 1),
            ("", "cur", "1700000002.M2P2.golden", "RS", 2),
            ("", "new", "1700000003.M3P3.golden", None, 3),
            (".Work", "cur", "1700000004.M4P4.golden", "FS", 4),
            (".Work", "cur", "1700000005.M5P5.golden", "", 5),
            (".Lists.&AOQ-rger", "cur", "1700000007.M7P7.golden", "DS", 7)]
    for folder, sub, unique, flags, i in msgs:
        d = root / folder if folder else root
        for s in ("cur", "new", "tmp"):
            (d / s).mkdir(parents=True, exist_ok=True)
        name = unique if flags is None else f"{unique}:2,{flags}"
        body = (f"From: Sender {i} <s{i}@example.org>\nTo: golden@example.org\n"
                f"Subject: golden message {i}\nMessage-ID: <{i}.golden@example.org>\n"
                f"Date: Sat, 28 Nov 2026 02:00:0{i} +0000\n\n").encode()
        body += f"body line of golden message {i}\n".encode() * (10 * i)
        (d / sub / name).write_bytes(body)


def archive_two_devices(env):
    """The first workstation syncs its Maildir; a second one receives it,
    reflags, moves, deletes and adds, and syncs; the first applies that and
    reflags one more: segments of two devices with ADD, SET and DEL entries,
    and a device state that knows both (device index 1 in its registers)."""
    env.cs("archive", "sync", "--password-stdin")
    two = golden.Env(WORK, check=True)
    two.config = WORK / "second.conf"
    two.write_config(archive_maildir=WORK / "Maildir-2", archive_state=WORK / "archive-state-2")
    two.cs("archive", "sync", "--password-stdin")
    m2 = WORK / "Maildir-2"
    os.rename(m2 / "cur" / "1700000001.M1P1.golden:2,S", m2 / "cur" / "1700000001.M1P1.golden:2,FS")
    os.rename(m2 / "cur" / "1700000002.M2P2.golden:2,RS", m2 / ".Work" / "cur" / "1700000002.M2P2.golden:2,RS")
    os.unlink(m2 / ".Work" / "cur" / "1700000005.M5P5.golden:2,")
    (m2 / "new" / "1700000006.M6P6.golden").write_bytes(
        b"From: Sender 6 <s6@example.org>\nSubject: golden message 6\n\nfrom the second workstation\n")
    two.cs("archive", "sync", "--password-stdin")
    env.cs("archive", "sync", "--password-stdin")
    one = WORK / "Maildir" / ".Work" / "cur"
    os.rename(one / "1700000004.M4P4.golden:2,FS", one / "1700000004.M4P4.golden:2,FRS")
    env.cs("archive", "sync", "--password-stdin")


def agent_run(env):
    """The agent, started with the keys locked, unlocked: it backs up (a
    third snapshot), syncs the archive, applies retention and writes its
    state file; then it is stopped."""
    cfg = env.config.read_text().replace("[backup]\n", f"[backup]\npaths = {WORK / 'tree'}\n")
    cfg += ("[agent]\nrandomized_delay = 0\nkeyring_poll = 1s\n"
            f"cloudseal = {golden.BUILD / 'cloudseal'}\narchive_sync = yes\nstop_timeout = 20s\n")
    agent = golden.Env(WORK, check=True)
    agent.config = WORK / "agent.conf"
    agent.config.write_text(cfg)
    run = WORK / "run"
    run.mkdir(mode=0o700)
    e = dict(agent.env(), XDG_RUNTIME_DIR=str(run), XDG_STATE_HOME=str(WORK / "xdg-state"))
    state = WORK / "xdg-state" / "cloudseal" / "agent-state.json"
    env.cs("lock")
    with open(WORK / "agent.log", "w") as log:
        proc = subprocess.Popen([golden.BUILD / "cloudseal-agent", "--debug"], env=e, stdout=log,
                                stderr=log, stdin=subprocess.DEVNULL)
        try:
            agent.cs("unlock", "--password-stdin")
            # the agent rewrites its state file after each job: wait for that
            waits.wait_for_change([state], lambda: state.exists() and
                                  state.read_text().count('"last_result":"ok"') == 2, 120,
                                  f"a state with two good jobs; see {WORK / 'agent.log'}", pid=proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)
    shutil.copy2(state, WORK / "agent-state.json")


def generate(out):
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(mode=0o700)
    env = golden.Env(WORK, WORK, check=True)
    env.write_config()
    tree(WORK / "tree")
    maildir(WORK / "Maildir")

    r = env.cs("enroll", "--password-stdin", stdin=golden.PASSWORD + "\n")
    m = golden.RECOVERY_RE.search(r.stdout)
    assert m, r.stdout
    env.cs("init")
    # the file cache keeps only files whose ctime is before the backup's start
    # second (a change within it could go unnoticed): let that second pass
    waits.sleep_past(int(time.time()) + 1)
    env.cs("backup", "--tag", "first", str(WORK / "tree"))
    # a second snapshot that shares most blobs with the first
    (WORK / "tree" / "docs" / "added").write_bytes(b"added for the second snapshot\n")
    os.utime(WORK / "tree" / "docs" / "added", ns=(1_700_000_100_000_000_000,) * 2)
    os.utime(WORK / "tree" / "docs", ns=(1_700_000_100_000_000_000,) * 2)
    waits.sleep_past(int(time.time()) + 1)
    env.cs("backup", "--tag", "second", str(WORK / "tree"))
    golden.record_stats(WORK / "tree", WORK / "filecache-stats")
    archive_two_devices(env)

    env.admin("keygen", "--escrow")
    escrow_pk = [l for l in (WORK / "escrow.pub").read_text().splitlines() if not l.startswith("#")][0]
    env.admin("init", "--fleet", "golden", "--escrow-key", escrow_pk)
    env.admin("add-user", "alice", "--uid", "1400000", "--gecos", "Alice Golden")
    env.admin("add-user", "bob", "--uid", "1400001", "--shell", "/bin/sh")
    env.admin("add-user", "carol", "--uid", "1400002")
    env.admin("add-user", "dave", "--uid", "1400003")
    env.admin("disable-user", "dave")
    env.admin("add-group", "devs", "--gid", "1400100", "--members", "alice,bob,carol")
    env.admin("approve", "alice", "--key", "11" * 32)
    # carol: enrolled by the admin: keybag, keybag seal and escrow object in
    # storage, a keybag floor in the directory, a password to be changed
    r = env.cs("--json", "admin", "enroll-user", "carol", stdin=None)
    carol = json.loads(r.stdout)
    env.admin("publish", "--secret-key", str(WORK / "fleet.key"), "--validity", golden.VALIDITY)
    env.helper("directory-sync")
    agent_run(env)
    env.cs("lock", check=False)

    readme = (out / "README.md").read_bytes() if (out / "README.md").exists() else None
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if readme:
        (out / "README.md").write_bytes(readme)
    for name in golden.FIXTURE_PARTS:
        src = WORK / name
        if src.is_dir():
            shutil.copytree(src, out / name, symlinks=True)
        else:
            shutil.copy2(src, out / name)
    (out / "secrets").write_text(f"password {golden.PASSWORD}\nrecovery {m.group(1)}\n"
                                 f"carol {json.dumps(carol, sort_keys=True)}\n")
    golden.write_manifest(out)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="cloudseal-golden-read."))
    expected = golden.read_all(out, scratch / "r")
    shutil.rmtree(scratch)
    golden.write_expected(out, expected)
    print(f"wrote {out}: {golden.size(out)} bytes")


def add_readings(out):
    """Record readings that are new in golden.py for the existing fixtures,
    which stay as they are.  Refuses when a recorded reading differs: that
    is a change of format (or a bug), not something to record."""
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="cloudseal-golden-read."))
    reading = golden.read_all(out, scratch / "r")
    shutil.rmtree(scratch)
    old = golden.read_expected(out)
    changed = sorted(k for k in old if reading.get(k) != old[k])
    if changed:
        sys.exit(f"refusing: these readings differ from the recorded ones: {', '.join(changed)}")
    new = sorted(k for k in reading if k not in old)
    golden.write_expected(out, {**old, **{k: reading[k] for k in new}})
    print(f"added {len(new)} readings: {', '.join(new) or 'none'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "v1"))
    ap.add_argument("--add-readings", action="store_true",
                    help="keep the fixtures; record only readings golden.py does not have yet")
    args = ap.parse_args()
    if args.add_readings:
        add_readings(pathlib.Path(args.out).resolve())
    else:
        generate(pathlib.Path(args.out).resolve())


if __name__ == "__main__":
    main()
