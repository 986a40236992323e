# SPDX-License-Identifier: MIT
"""cloudseal archive sync/status end to end: two workstations, one account.

Each test checks what a user would: the messages, their flags and folders
arrive on the other workstation; a sync killed with SIGKILL at any point
loses and duplicates nothing; tampering is reported with exit code 5; a real
mail client (notmuch) reads the result."""
import base64
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import waits

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import message, run  # noqa: E402


def uniques(msgs):
    return sorted(re.sub(r":2,.*$", "", os.path.basename(p)) for p in msgs)


def test_help_and_usage(account):
    a = account("a")
    assert re.search(r"^Commands:\n  sync ", a.cli("archive", "--help").stdout, re.M)
    assert "--dry-run" in a.cli("archive", "sync", "--help").stdout
    r = a.cli("archive", "frobnicate", check=False)
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    assert "Try 'cloudseal archive --help'." in r.stderr


def test_two_workstations(account):
    a, b = account("a"), account("b")
    for i in range(20):
        a.deliver(f"1700000000.M{i}P1.a", message(i), folder=".Lists" if i % 3 == 0 else "",
                  sub="cur", flags="S" if i % 2 else "")
    out = json.loads(a.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["local_added"] == 20
    b.sync()
    assert b.messages() == a.messages()
    # a flag on b, a move and a deletion on a
    os.rename(b.maildir / "cur" / "1700000000.M1P1.a:2,S", b.maildir / "cur" / "1700000000.M1P1.a:2,FS")
    (a.maildir / ".Archive" / "cur").mkdir(parents=True)
    os.rename(a.maildir / "cur" / "1700000000.M2P1.a:2,", a.maildir / ".Archive" / "cur" / "1700000000.M2P1.a:2,")
    os.unlink(a.maildir / "cur" / "1700000000.M4P1.a:2,")
    b.sync(); a.sync(); b.sync()
    assert a.messages() == b.messages()
    assert (a.maildir / "cur" / "1700000000.M1P1.a:2,FS").exists()
    assert (b.maildir / ".Archive" / "cur" / "1700000000.M2P1.a:2,").exists()
    assert not any("M4P1" in p for p in b.messages())
    st = json.loads(b.cli("archive", "status", "--json").stdout)
    assert st["initialised"] and st["messages"] == 19 and st["local_messages"] == 19
    assert st["deleted"] == 1 and st["devices"] == 2 and st["last_sync"] > 0
    assert "Messages:" in b.cli("archive", "status").stdout
    # state is owner-only
    assert (os.stat(b.state).st_mode & 0o077) == 0
    assert (os.stat(b.state / "state").st_mode & 0o077) == 0


def test_dry_run_changes_nothing(account):
    a, b = account("a"), account("b")
    a.deliver("1700000001.M1P1.a", message(1))
    a.sync()
    before = sorted(p.name for p in (a.state.parent.parent / "storage").rglob("*"))
    r = b.sync("--dry-run")
    assert "deliver new/1700000001.M1P1.a" in r.stdout
    assert b.messages() == {}
    assert not (b.state / "state").exists()
    j = json.loads(b.cli("--json", "archive", "sync", "--dry-run", "--password-stdin").stdout.splitlines()[-1])
    assert j["dry_run"] and j["delivered"] == 1 and any("deliver" in x for x in j["actions"])
    after = sorted(p.name for p in (a.state.parent.parent / "storage").rglob("*"))
    assert before == after


def test_status_before_first_sync(account):
    a = account("a")
    r = a.cli("archive", "status")
    assert "not synced yet" in r.stdout
    assert json.loads(a.cli("archive", "status", "--json").stdout)["initialised"] is False


def test_concurrent_sync_refused(account):
    a = account("a")
    a.sync()
    with open(a.state / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        r = a.sync(check=False)
    assert r.returncode == 1 and "another sync is running" in r.stderr


def test_tampered_segment_is_reported(account, tmp_path):
    a, b = account("a"), account("b")
    a.deliver("1700000002.M1P1.a", message(2))
    a.sync()
    segs = [p for p in (tmp_path / "storage").rglob("*") if "/archive/log/" in str(p) and p.is_file()]
    assert len(segs) == 1
    data = bytearray(segs[0].read_bytes())
    data[-5] ^= 1
    os.chmod(segs[0], 0o600)
    segs[0].write_bytes(bytes(data))
    r = b.sync(check=False)
    assert r.returncode == 5, r.stderr
    assert "tampered" in r.stderr
    assert b.messages() == {}


def test_tampered_body_is_reported(account, tmp_path):
    a, b = account("a"), account("b")
    a.deliver("1700000003.M1P1.a", message(3))
    a.sync()
    packs = [p for p in (tmp_path / "storage").rglob("*") if "/archive/pack/" in str(p) and p.is_file()]
    data = bytearray(packs[0].read_bytes())
    data[40] ^= 1
    packs[0].write_bytes(bytes(data))
    r = b.sync(check=False)
    assert r.returncode == 5 and "failed verification" in r.stderr
    assert b.messages() == {}


def test_message_arriving_during_sync_and_vanishing(account):
    """Files delivered while a sync runs are picked up by the next one;
    files deleted between readdir and read are skipped, not an error."""
    a, b = account("a"), account("b")
    for i in range(3000):
        a.deliver(f"1700000100.M{i}P1.a", message(i, 600))
    p = a.popen_sync()
    p.stdin.write("archive test password\n")
    p.stdin.close()
    late = a.deliver("1700000999.M1P1.late", message(99999))
    for i in range(0, 3000, 7):
        try:
            os.unlink(a.maildir / "new" / f"1700000100.M{i}P1.a")
        except FileNotFoundError:
            pass
    assert p.wait(timeout=300) == 0, p.stderr.read()
    a.sync()
    b.sync()
    assert a.messages() == b.messages()
    assert "new/" + late.name in b.messages()
    assert len(b.messages()) == 3000 - len(range(0, 3000, 7)) + 1


def wait_for(d, pred, timeout=180):
    """pred() re-checked at each change in directory d (inotify)."""
    return waits.wait_for_change([d], pred, timeout, f"{d} to fill")


def count_files(d):
    try:
        return len(os.listdir(d))
    except FileNotFoundError:
        return 0


def random_message(i, size):
    """A message that does not compress much (attachments in base64)."""
    body = base64.encodebytes(os.urandom(size * 3 // 4))
    return message(i, 200) + b"\n" + body


@pytest.mark.parametrize("kill_after", [1, 25, 90])
def test_kill9_mid_sync_loses_and_duplicates_nothing(account, tmp_path, kill_after):
    """SIGKILL the uploader after kill_after packs are stored, and the
    downloader after 30 * kill_after messages are delivered; sync again."""
    a, b = account("a"), account("b")
    for w in (a, b):  # small packs: many objects, so the kill lands mid-upload
        w.config.write_text(w.config.read_text() + "pack_size = 64K\n")
    n = 4000
    for i in range(n):
        a.deliver(f"1700001000.M{i}P1.a", random_message(i, 3000), sub="cur", flags="S")
    user = run(["id", "-un"]).stdout.strip()
    packs = tmp_path / "storage" / "users" / user / "archive" / "pack"
    p = a.popen_sync()
    p.stdin.write("archive test password\n")
    p.stdin.flush()
    wait_for(packs, lambda: count_files(packs) >= kill_after)
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL, "the sync finished before it could be killed"
    a.sync()
    p = b.popen_sync()
    p.stdin.write("archive test password\n")
    p.stdin.flush()
    wait_for(b.maildir / "cur", lambda: count_files(b.maildir / "cur") >= 30 * kill_after)
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL, "the sync finished before it could be killed"
    b.sync()
    a.sync()
    ma, mb = a.messages(), b.messages()
    assert len(ma) == n and len(mb) == n
    assert uniques(ma) == uniques(mb) == sorted(set(uniques(ma)))
    assert ma == mb


def test_crash_between_upload_and_state_save(account):
    """The window a kill rarely hits: the segment is stored (or the files
    delivered) but the state not yet saved.  Simulated exactly by putting
    the state from before the sync back."""
    a, b = account("a"), account("b")
    a.deliver("1700003000.M1P1.a", message(1))
    a.sync()
    a.deliver("1700003000.M2P1.a", message(2))
    shutil.copytree(a.state, a.state.parent / "saved")
    a.sync()
    shutil.rmtree(a.state)
    shutil.copytree(a.state.parent / "saved", a.state)
    a.deliver("1700003000.M3P1.a", message(3))
    a.sync()  # re-applies its own orphan segment, then writes the next one
    b.sync()
    shutil.copytree(b.state, b.state.parent / "saved")
    a.deliver("1700003000.M4P1.a", message(4))
    a.sync()
    b.sync()  # delivers M4
    shutil.rmtree(b.state)
    shutil.copytree(b.state.parent / "saved", b.state)
    b.sync()  # M4 is on disk but not in the state: recognised, not duplicated
    a.sync()
    assert uniques(a.messages()) == uniques(b.messages()) == [f"1700003000.M{i}P1.a" for i in range(1, 5)]
    assert a.messages() == b.messages()


def test_notmuch_reads_the_result(account, tmp_path):
    if not shutil.which("notmuch"):
        pytest.fail("notmuch is missing: run 'scripts/install-deps.sh check'")
    a, b = account("a"), account("b")
    for i in range(25):
        a.deliver(f"1700002000.M{i}P1.a", message(i), folder=".Work" if i < 5 else "", sub="cur",
                  flags="S" if i < 10 else "")
    a.sync()
    b.sync()
    cfg = tmp_path / "notmuch-config"
    cfg.write_text(f"[database]\npath={b.maildir}\n[user]\nname=T\nprimary_email=me@example.org\n"
                   "[new]\ntags=new\n[maildir]\nsynchronize_flags=true\n")
    env = {"NOTMUCH_CONFIG": str(cfg), "HOME": str(tmp_path)}
    run(["notmuch", "new", "--quiet"], env=env)
    assert run(["notmuch", "count", "*"], env=env).stdout.strip() == "25"
    assert run(["notmuch", "count", "folder:.Work"], env=env).stdout.strip() == "5"
    assert run(["notmuch", "count", "tag:unread"], env=env).stdout.strip() == "15"
    assert run(["notmuch", "count", "subject:\"message 7\""], env=env).stdout.strip() == "1"


def test_gc_deletes_unneeded_packs_after_two_observations(account, tmp_path):
    """archive sync --gc: a pack whose messages were all deleted goes at the
    second collection that finds it unneeded, at least --gc-grace after the
    first; packs with a live message, and objects under pack/ that are not
    packs, stay; a damaged candidates file only delays; a new workstation
    still receives every live message."""
    a, b = account("a"), account("b")
    for w in (a, b):  # no keep period: deleted bodies go at once (test_archive_undelete.py keeps them)
        w.config.write_text(w.config.read_text() + "keep_deleted = 0\n")

    def packs():
        return sorted(p.name for p in tmp_path.glob("storage/users/*/archive/pack/*")
                      if re.fullmatch(r"[0-9a-f]{32}", p.name))

    def gc(ws, *extra):
        out = ws.cli("--json", "archive", "sync", "--password-stdin", "--gc", *extra).stdout
        return json.loads(out.splitlines()[-1])

    for i in range(3):                                  # pack 1: three messages
        a.deliver(f"1700000000.M{i}P1.a", message(i))
    a.sync()
    a.deliver("1700000100.M9P1.a", message(9))           # pack 2: one message
    a.sync()
    b.sync()
    assert len(packs()) == 2
    foreign = next(tmp_path.glob("storage/users/*/archive/pack")) / "README"
    foreign.write_text("not a pack\n")
    for i in range(3):                                   # pack 1 is now unneeded
        os.unlink(next((a.maildir / "new").glob(f"1700000000.M{i}P1.a*")))
    a.sync(); b.sync()
    before = packs()

    out = gc(a, "--gc-grace", "1h")                      # first observation
    assert out["gc_deleted"] == 0 and out["gc_waiting"] == 1 and out["gc_packs"] == 2, out
    out = gc(a, "--gc-grace", "1h")                      # not an hour yet
    assert out["gc_deleted"] == 0 and out["gc_waiting"] == 1, out
    dry = json.loads(a.cli("--json", "archive", "sync", "--password-stdin", "--gc", "--gc-grace", "0",
                           "--dry-run").stdout.splitlines()[-1])
    assert dry["gc_deleted"] == 1 and any(x.startswith("gc: delete pack") for x in dry["actions"]), dry
    assert packs() == before
    # a damaged candidates file: replaced, the pack waits for a new first observation
    (a.state / "gc-candidates").write_text('{"version": 1, "packs": {"zz": 1}}')
    r = a.cli("archive", "sync", "--password-stdin", "--gc", "--gc-grace", "0")
    assert "gc-candidates in the state directory is damaged" in r.stderr
    assert "0 deleted" in r.stdout and packs() == before, r.stdout
    out = gc(a, "--gc-grace", "0")                       # second observation: gone
    assert out["gc_deleted"] == 1 and out["gc_bytes_freed"] > 0, out
    assert len(packs()) == 1 and foreign.exists()
    assert (os.stat(a.state / "gc-candidates").st_mode & 0o077) == 0

    # every live message still reaches a new workstation, and b keeps its own
    c = account("c")
    c.sync()
    assert c.messages() == a.messages() == b.messages()
    assert len(c.messages()) == 1
    r = a.cli("archive", "sync", "--password-stdin", "--gc-grace", "1d", check=False)
    assert r.returncode == 2 and "--gc-grace goes with --gc" in r.stderr


def test_gc_runs_by_itself_every_gc_interval(account, tmp_path):
    """Plain syncs (the agent's) collect when the last collection is
    [archive] gc_interval old, with [archive] gc_grace; gc_interval = 0
    never does."""
    a, never = account("a"), account("never")
    never.config.write_text(never.config.read_text() + "gc_interval = 0\ngc_grace = 0\nkeep_deleted = 0\n")
    a.config.write_text(a.config.read_text() + "gc_interval = 1s\ngc_grace = 0\nkeep_deleted = 0\n")

    def npacks():
        return len([p for p in tmp_path.glob("storage/users/*/archive/pack/*")
                    if re.fullmatch(r"[0-9a-f]{32}", p.name)])

    a.deliver("1700000000.M1P1.a", message(1))
    a.sync()
    a.deliver("1700000100.M2P1.a", message(2))
    a.sync()
    never.sync()
    os.unlink(next((a.maildir / "new").glob("1700000000.M1P1.a*")))

    def sync_json(ws):
        return json.loads(ws.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])

    outs = [sync_json(a)]                 # records the deletion (and may be a due collection)
    last = time.time()                    # after the sync: later than the time it recorded
    for ws in (never, never):
        ws.sync()
    assert npacks() == 2 and not (never.state / "gc-candidates").exists()
    while not outs[-1]["gc_deleted"] and len(outs) < 6:
        waits.sleep_past(last + 1)        # the clock is the event: gc_interval = 1s after the last
        outs.append(sync_json(a))
        last = time.time()
    # deleted by a plain sync, and only after an earlier one had seen it unneeded
    first_seen = next(i for i, o in enumerate(outs) if o["gc_waiting"] == 1)
    deleted = next(i for i, o in enumerate(outs) if o["gc_deleted"] == 1)
    assert first_seen < deleted and npacks() == 1, outs
    never.sync()
    assert never.messages() == a.messages() and len(a.messages()) == 1
