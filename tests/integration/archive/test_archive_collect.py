# SPDX-License-Identifier: MIT
"""Tombstone collection (docs/archive.md section 8, "Tombstone collection"):
a deletion leaves every state and every log once every workstation has
published a claim covering it after [archive] keep_deleted, at a second
collection past the grace period; a workstation that has not claimed holds
it back; a collected name that comes back never brings its message back.

The keep period and the grace are 0 here (keep_deleted = 0, --gc-grace 0):
the rules only compare times, so this is the same path as 30 days later."""
import json
import os
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import message  # noqa: E402


def make(account, *names):
    out = []
    for n in names:
        w = account(n)
        w.config.write_text(w.config.read_text() + "keep_deleted = 0\n")
        out.append(w)
    return out


def gc(w):
    r = w.cli("--json", "archive", "sync", "--gc", "--gc-grace", "0", "--password-stdin")
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["ok"], out
    return out


def collect_rounds(*ws, rounds=3):
    """Tombstones each workstation collected in `rounds` collections of all."""
    got = [0] * len(ws)
    for _ in range(rounds):
        for i, w in enumerate(ws):
            got[i] += gc(w)["tombstones_collected"]
    return got


def status(w):
    return json.loads(w.cli("--json", "archive", "status").stdout)


def state_bytes(w):
    return (w.state / "state").stat().st_size


def log_bytes(tmp_path):
    return sum(p.stat().st_size for p in tmp_path.glob("storage/users/*/archive/log/*/*"))


def bodies(w):
    return sorted(w.messages().values())


def test_deletions_collected_from_every_state_and_log(account, tmp_path):
    a, b, c = make(account, "a", "b", "c")
    for i in range(100):
        a.deliver(f"1700000000.M{i}P1.a", message(i), sub="cur", flags="S")
    for w in (a, b, c):
        w.sync()
    survivors = sorted(message(i) for i in range(60, 100))
    for i in range(60):
        os.unlink(a.maildir / "cur" / f"1700000000.M{i}P1.a:2,S")
    for w in (a, b, c):
        w.sync("--allow-deletions", "60")
    assert all(status(w)["deleted"] == 60 for w in (a, b, c))
    before = {w.name: state_bytes(w) for w in (a, b, c)}
    logs_before = log_bytes(tmp_path)

    # round 1: each publishes its claim; round 2: all claims seen, noted;
    # round 3: dropped (the grace needs two collections)
    for rnd in range(3):
        outs = [gc(w) for w in (a, b, c)]
        if rnd < 2:
            assert all(status(w)["deleted"] == 60 for w in (a, b, c)), rnd
    assert [o["tombstones_collected"] for o in outs] == [60, 60, 60]
    assert all(status(w)["deleted"] == 0 for w in (a, b, c))
    after = {w.name: state_bytes(w) for w in (a, b, c)}
    logs_after = log_bytes(tmp_path)
    print(f"\nstate bytes before/after: {before} -> {after}; log bytes {logs_before} -> {logs_after}")
    assert all(after[n] < before[n] - 60 * 100 for n in after)
    assert logs_after < logs_before

    # nothing comes back, every Maildir is the 40 survivors, and a new
    # workstation reading the store gets exactly that with no tombstone
    for w in (a, b, c):
        assert gc(w)["tombstones_collected"] == 0
        assert bodies(w) == survivors
    d, = make(account, "d")
    d.sync()
    assert bodies(d) == survivors and status(d)["deleted"] == 0


def test_a_workstation_that_has_not_synced_holds_collection_back(account):
    a, b, c = make(account, "a", "b", "c")
    for i in range(20):
        a.deliver(f"1700000000.M{i}P1.a", message(i))
    for w in (a, b, c):
        w.sync()
    for i in range(10):
        os.unlink(a.maildir / "new" / f"1700000000.M{i}P1.a")
    a.sync()
    for _ in range(4):  # c is away: nothing goes, however often a and b collect
        for w in (a, b):
            out = gc(w)
            assert out["tombstones_collected"] == 0 and out["tombstones_blocked"] == 10, out
    assert status(a)["deleted"] == status(b)["deleted"] == 10
    assert len(c.messages()) == 20  # still the old view
    c.sync()  # back: applies the deletions first
    assert len(c.messages()) == 10
    assert collect_rounds(a, b, c) == [10, 10, 10]
    survivors = sorted(message(i) for i in range(10, 20))
    for w in (a, b, c):
        w.sync()
        assert bodies(w) == survivors and status(w)["deleted"] == 0


def test_a_collected_name_coming_back_stays_deleted(account, tmp_path):
    """A Maildir copied before the deletions joins after their collection
    (an old backup restored on a new workstation): the collected messages
    are not brought back anywhere, nor deleted from its disk, and its own
    newer mail syncs as usual."""
    a, b = make(account, "a", "b")
    for i in range(10):
        a.deliver(f"1700000000.M{i}P1.a", message(i))
    a.sync(); b.sync()
    old_copy = tmp_path / "old-copy"
    shutil.copytree(b.maildir, old_copy, ignore=shutil.ignore_patterns(".cloudseal-maildir-id"))
    for i in range(4):
        os.unlink(a.maildir / "new" / f"1700000000.M{i}P1.a")
    a.sync(); b.sync()
    assert collect_rounds(a, b) == [4, 4]

    c, = make(account, "c")
    shutil.copytree(old_copy, c.maildir)
    c.deliver("1800000000.M1P1.c", message(99))  # its own newer mail
    out = json.loads(c.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["collected_names"] == 4 and out["local_added"] == 1, out
    assert len(c.messages()) == 11  # the old files stay where they are
    for w in (a, b):
        w.sync()
        assert bodies(w) == sorted([message(i) for i in range(4, 10)] + [message(99)])
    c.sync()
    assert status(c)["deleted"] == 0 and status(c)["messages"] == 7


def test_forget_a_workstation_gone_for_good(account):
    """A workstation that never syncs again holds collection back until it
    is forgotten; its log is then condensed in its name (again when messages
    it added are deleted later); if it comes back it refuses to sync, loses
    nothing, and joins as a new workstation once its state is moved away."""
    a, b, c = make(account, "a", "b", "c")
    for i in range(20):
        a.deliver(f"1700000000.M{i}P1.a", message(i))
    for i in range(5):
        c.deliver(f"1700000000.M{i}P1.c", message(100 + i))
    for w in (c, a, b, c):
        w.sync()
    cid = status(c)["device_id"]
    for i in range(10):
        os.unlink(a.maildir / "new" / f"1700000000.M{i}P1.a")
    a.sync(); b.sync()
    for _ in range(3):
        for w in (a, b):
            assert gc(w)["tombstones_collected"] == 0
    devs = {d["id"]: d for d in json.loads(a.cli("--json", "archive", "devices").stdout)}
    assert len(devs) == 3 and devs[status(a)["device_id"]]["this_device"]
    assert devs[cid]["holding"] == 10 and not devs[cid]["forgotten"]
    assert "forget-device" in a.cli("archive", "devices").stdout

    r = a.cli("archive", "forget-device", status(a)["device_id"], "--password-stdin", check=False)
    assert r.returncode == 2 and "this workstation" in r.stderr
    r = a.cli("archive", "forget-device", "0123456789abcdef", "--password-stdin", check=False)
    assert r.returncode == 1 and "archive devices" in r.stderr
    a.cli("archive", "forget-device", cid, "--password-stdin")
    assert collect_rounds(a, b) == [10, 10]
    assert json.loads(a.cli("--json", "archive", "devices").stdout)[2]["forgotten"] or \
        any(d["forgotten"] for d in json.loads(a.cli("--json", "archive", "devices").stdout))

    # messages c added, deleted after it was forgotten: its log is condensed again
    for i in range(2):
        os.unlink(next(a.maildir.glob(f"new/1700000000.M{i}P1.c")))
    a.sync(); b.sync()
    assert collect_rounds(a, b) == [2, 2]
    live = sorted([message(i) for i in range(10, 20)] + [message(100 + i) for i in range(2, 5)])
    assert bodies(a) == bodies(b) == live

    # c comes back with the old files and a new message of its own
    c.deliver("1800000000.M1P1.c", message(200))
    before = c.messages()
    r = c.sync(check=False)
    assert r.returncode == 1 and "was forgotten by" in r.stderr and "join as a new workstation" in r.stderr
    assert c.messages() == before  # nothing lost, nothing changed
    shutil.move(str(c.state), str(c.state) + ".old")
    out = json.loads(c.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["collected_names"] == 12 and out["local_added"] == 1, out
    for w in (a, b):
        w.sync()
        assert bodies(w) == sorted(live + [message(200)])
    d, = make(account, "d")
    d.sync()
    assert bodies(d) == sorted(live + [message(200)])


def test_a_held_mass_deletion_holds_collection_back(account):
    """A workstation returning to a mass deletion holds it (its files stay):
    the claim it publishes meanwhile (for an earlier deletion it did apply)
    does not cover the held ones, so they are not collected and nothing
    comes back anywhere until it allows them."""
    a, b, c = make(account, "a", "b", "c")
    for i in range(80):
        a.deliver(f"1700000000.M{i}P1.a", message(i))
    for w in (a, b, c):
        w.sync()
    os.unlink(a.maildir / "new" / "1700000000.M79P1.a")
    for w in (a, b, c):
        w.sync()
    for i in range(60):
        os.unlink(a.maildir / "new" / f"1700000000.M{i}P1.a")
    a.sync("--allow-deletions", "60")
    b.sync("--allow-deletions", "60")
    survivors = sorted(message(i) for i in range(60, 79))
    got = [0, 0, 0]
    for _ in range(3):
        for k, w in enumerate((a, b, c)):
            r = w.cli("--json", "archive", "sync", "--gc", "--gc-grace", "0", "--password-stdin", check=False)
            out = json.loads(r.stdout.splitlines()[-1])
            assert r.returncode == (8 if w is c else 0), out
            got[k] += out["tombstones_collected"]
    assert got == [1, 1, 1]  # the deletion c applied goes; the 60 it holds stay
    assert len(c.messages()) == 79
    assert status(a)["deleted"] == status(b)["deleted"] == status(c)["deleted"] == 60
    assert bodies(a) == bodies(b) == survivors
    c.sync("--allow-deletions", "60")
    assert bodies(c) == survivors
    assert collect_rounds(a, b, c) == [60, 60, 60]
    for w in (a, b, c):
        w.sync()
        assert bodies(w) == survivors and status(w)["deleted"] == 0
