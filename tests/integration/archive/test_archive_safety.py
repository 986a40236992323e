# SPDX-License-Identifier: MIT
"""A missing, unmounted, recreated or replaced Maildir never deletes mail
(docs/archive.md section 9), and mass deletions wait for consent in both
directions (section 5): two workstations sharing one file:// store."""
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import BUILD, PASSWORD, message  # noqa: E402

FOLDERS = ["", ".Sent", ".Lists.debian"]


def uniques(msgs):
    return sorted(re.sub(r":2,.*$", "", os.path.basename(p)) for p in msgs)


def own_segments(w):
    """How many log segments this workstation wrote (its device's log)."""
    dev = json.loads(w.cli("archive", "status", "--json").stdout)["device_id"]
    return len(list(w.state.parent.parent.glob(f"storage/users/*/archive/log/{dev}/*")))


def populate(a, n, tag="a", size=600):
    for i in range(n):
        a.deliver(f"1700000000.M{i}P1.{tag}", message(i, size), folder=FOLDERS[i % 3],
                  sub="cur" if i % 2 else "new", flags="S" if i % 2 else None)


def random_round(rng, w, tag, r):
    """New mail, flag changes, moves and a few deletions, as a user would."""
    msgs = sorted(w.messages())
    for i in range(rng.randrange(5, 15)):
        w.deliver(f"1700001{r:03d}.M{i}P2.{tag}", message(10000 + r * 100 + i, 600), folder=rng.choice(FOLDERS))
    for p in rng.sample(msgs, 12):
        src = w.maildir / p
        if not src.exists():
            continue
        kind = rng.randrange(3)
        if kind == 0 and "/cur/" in "/" + p:
            os.rename(src, str(src).split(":2,")[0] + ":2,FS")
        elif kind == 1:
            dest = w.maildir / rng.choice([f for f in FOLDERS if f]) / "cur"
            dest.mkdir(parents=True, exist_ok=True)
            for s in ("new", "tmp"):
                (dest.parent / s).mkdir(exist_ok=True)
            os.rename(src, dest / os.path.basename(p))
        else:
            os.unlink(src)


def test_moved_away_maildir_deletes_nothing(account):
    """The issue's case: 2 000 messages in three folders, six rounds of
    random new mail, flag changes, moves and deletions on both sides,
    converged; then A's Maildir is moved away (a typo, a disk
    not mounted, a rename).  A's sync fails and records nothing; B loses
    nothing; with the Maildir back, both converge with every message."""
    a, b = account("a"), account("b")
    populate(a, 2000)
    a.sync()
    b.sync()
    rng = random.Random(15)
    for r in range(6):
        random_round(rng, a, "a", r)
        random_round(rng, b, "b", r + 50)
        a.sync(); b.sync(); a.sync()
    assert a.messages() == b.messages()
    before = a.messages()
    segs = own_segments(a)

    moved = a.maildir.parent / "Maildir.moved"
    os.rename(a.maildir, moved)
    r = a.sync(check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "does not exist" in r.stderr and "[archive] maildir" in r.stderr
    assert not a.maildir.exists()  # not recreated either
    assert own_segments(a) == segs  # recorded nothing
    out = json.loads(b.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["removed"] == 0
    assert b.messages() == before

    os.rename(moved, a.maildir)
    out = json.loads(a.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["local_deleted"] == 0
    b.sync()
    assert a.messages() == b.messages() == before


def test_unmounted_disk_deletes_nothing(account, tmp_path):
    """The Maildir is a mount point (a tmpfs in a private mount namespace);
    once unmounted, the empty directory under it is not taken for a Maildir
    whose messages were all deleted."""
    a, b = account("a"), account("b")
    src = tmp_path / "src"
    for i in range(80):
        d = src / FOLDERS[i % 3] / "cur"
        d.mkdir(parents=True, exist_ok=True)
        for s in ("new", "tmp"):
            (d.parent / s).mkdir(exist_ok=True)
        (d / f"1700000000.M{i}P1.disk:2,S").write_bytes(message(i))
    a.maildir.mkdir(parents=True)
    cs = f"{BUILD / 'cloudseal'} archive sync --password-stdin"
    script = f"""
set -e
mount -t tmpfs -o mode=0700 tmpfs '{a.maildir}'
cp -a '{src}/.' '{a.maildir}/'
echo '{PASSWORD}' | {cs}
umount '{a.maildir}'
set +e
echo '{PASSWORD}' | {cs} 2>'{tmp_path}/err'
echo $? >'{tmp_path}/rc'
"""
    subprocess.run(["unshare", "-U", "-r", "-m", "--propagation", "private", "sh", "-c", script], check=True,
                   env={**os.environ, **a.env}, capture_output=True, timeout=300)
    assert (tmp_path / "rc").read_text().strip() == "1"
    err = (tmp_path / "err").read_text()
    assert "has no new/ directory" in err and "mounted" in err, err
    assert list(a.maildir.iterdir()) == []  # nothing written under the mount point
    b.sync()
    assert len(b.messages()) == 80
    st = json.loads(a.cli("archive", "status", "--json").stdout)
    assert st["messages"] == 80 and st["deleted"] == 0


def test_recreated_maildir_joins_as_new(account):
    """An empty Maildir made where the old one was (a mail client's first
    start) gets every message back; a different Maildir put in its place is
    merged; nothing is deleted anywhere."""
    a, b = account("a"), account("b")
    populate(a, 90)
    a.sync(); b.sync()
    before = b.messages()
    shutil.rmtree(a.maildir)
    for s in ("cur", "new", "tmp"):
        (a.maildir / s).mkdir(parents=True)
    out = json.loads(a.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["local_deleted"] == 0 and out["delivered"] == 90, out
    assert a.messages() == before
    marker = (a.maildir / ".cloudseal-maildir-id").read_text()
    assert re.fullmatch(r"cloudseal-maildir-id v1 [0-9a-f]{32}\n", marker)

    # another Maildir (with other mail) moved in its place
    other = a.maildir.parent / "Other"
    for s in ("cur", "new", "tmp"):
        (other / s).mkdir(parents=True)
    (other / "new" / "1700009999.M1P1.other").write_bytes(message(9999))
    os.rename(a.maildir, a.maildir.parent / "Old")
    os.rename(other, a.maildir)
    a.sync(); b.sync()
    assert uniques(b.messages()) == uniques(before) + ["1700009999.M1P1.other"]
    assert a.messages() == b.messages()


def test_damaged_marker_and_missing_folder_dirs(account):
    """A marker that does not parse, or a folder without the cur/ holding
    our messages, stops the sync; nothing is recorded or deleted."""
    a, b = account("a"), account("b")
    populate(a, 30)
    a.sync(); b.sync()
    marker = a.maildir / ".cloudseal-maildir-id"
    good = marker.read_text()
    marker.write_text(good.replace("v1", "v2"))
    r = a.sync(check=False)
    assert r.returncode == 5 and "not a cloudseal Maildir marker" in r.stderr, r.stderr
    marker.write_text(good + "x")
    assert a.sync(check=False).returncode == 5
    marker.write_text(good)

    os.rename(a.maildir / ".Sent" / "cur", a.maildir / "Sent-cur")
    r = a.sync(check=False)
    assert r.returncode == 1 and "the folder .Sent" in r.stderr and "cur/" in r.stderr, r.stderr
    b.sync()
    assert len(b.messages()) == 30
    os.rename(a.maildir / "Sent-cur", a.maildir / ".Sent" / "cur")
    out = json.loads(a.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["local_deleted"] == 0


def test_local_mass_deletion_needs_consent(account):
    """More than 50 deletions that are also more than 25 % of this
    workstation's messages stop the sync (exit 8, counts per folder, what to
    run); --allow-deletions N lets exactly up to N through."""
    a, b = account("a"), account("b")
    populate(a, 200)
    a.sync(); b.sync()
    segs = own_segments(a)
    gone = sorted(a.messages(), key=os.path.basename)[:120]  # from every folder
    for p in gone:
        os.unlink(a.maildir / p)
    r = a.sync(check=False)
    assert r.returncode == 8, r.stdout + r.stderr
    assert "120 of the 200 messages" in r.stderr and "--allow-deletions 120" in r.stderr
    assert all(re.search(rf"{f} \d+", r.stderr) for f in ("INBOX", r"\.Sent", r"\.Lists\.debian")), r.stderr
    assert own_segments(a) == segs
    j = json.loads(a.cli("--json", "archive", "sync", "--password-stdin", check=False).stdout.splitlines()[-1])
    assert not j["ok"] and "mass deletion" in j["error"]
    assert a.sync("--allow-deletions", "119", check=False).returncode == 8
    b.sync()
    assert len(b.messages()) == 200

    a.sync("--allow-deletions", "120")
    assert len(a.messages()) == 80
    # a few deletions need nothing
    os.unlink(a.maildir / sorted(a.messages())[-1])
    a.sync()
    assert len(a.messages()) == 79
    # [archive] max_deletions raises the count
    for p in sorted(a.messages())[:60]:
        os.unlink(a.maildir / p)
    assert a.sync(check=False).returncode == 8
    a.config.write_text(a.config.read_text() + "max_deletions = 100\n")
    a.sync()


def test_remote_mass_deletion_is_held(account):
    """B receiving more deletions from A than the guard allows keeps the
    messages (exit 8, the rest of the sync done); they stay applicable: a
    later sync with --allow-deletions applies them."""
    a, b = account("a"), account("b")
    populate(a, 100)
    a.sync(); b.sync()
    for p in sorted(a.messages())[:70]:
        os.unlink(a.maildir / p)
    a.deliver("1700005555.M1P1.late", message(5555))
    a.sync("--allow-deletions", "70")
    r = b.sync(check=False)
    assert r.returncode == 8, r.stdout + r.stderr
    assert "deleted 70 of the 100 messages here" in r.stderr and "--allow-deletions 70" in r.stderr
    msgs = b.messages()
    assert len(msgs) == 101 and any("late" in p for p in msgs)  # held, and the new one delivered
    assert b.sync(check=False).returncode == 8  # still held
    st = json.loads(b.cli("archive", "status", "--json").stdout)
    assert st["held_deletions"] == 70 and st["local_messages"] == 31, st
    assert "Held:           70" in b.cli("archive", "status").stdout
    b.sync("--allow-deletions", "70")
    assert json.loads(b.cli("archive", "status", "--json").stdout)["held_deletions"] == 0
    assert a.messages() == b.messages() and len(b.messages()) == 31


def test_state_follows_xdg_state_home(account, tmp_path):
    """Without [archive] state_dir the state is under $XDG_STATE_HOME (a
    per-user directory: [paths] state_dir is the system's), and status says
    where, before and after the first sync."""
    a = account("a")
    a.config.write_text(a.config.read_text().replace(f"state_dir = {a.state}\n", ""))
    xdg = tmp_path / "xdg-state"
    a.env["XDG_STATE_HOME"] = str(xdg)
    want = str(xdg / "cloudseal" / "archive")
    assert f"State:   {want}" in a.cli("archive", "status").stdout
    a.deliver("1700000000.M1P1.a", message(1))
    a.sync()
    assert (xdg / "cloudseal" / "archive" / "state").exists()
    st = json.loads(a.cli("archive", "status", "--json").stdout)
    assert st["state_dir"] == want and st["messages"] == 1
    assert want in a.cli("archive", "status").stdout


def test_unreadable_maildir_is_an_error(account):
    """A Maildir (or a folder of it) the user may not read stops the sync
    with exit 1 (not "locked"), records nothing and deletes nothing.  Run
    without the capabilities that let root read anything."""
    a, b = account("a"), account("b")
    populate(a, 30)
    a.sync(); b.sync()
    nocaps = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]

    def sync_nocaps():
        return subprocess.run([*nocaps, str(BUILD / "cloudseal"), "archive", "sync", "--password-stdin"],
                              input=PASSWORD + "\n", env={**os.environ, **a.env}, capture_output=True,
                              text=True, timeout=120)
    assert sync_nocaps().returncode == 0  # readable: fine without them
    for target in (a.maildir / ".Sent" / "cur", a.maildir):
        mode = os.stat(target).st_mode
        os.chmod(target, 0)
        try:
            r = sync_nocaps()
        finally:
            os.chmod(target, mode)
        assert r.returncode == 1, (target, r.stdout, r.stderr)
        assert "Permission denied" in r.stderr and "nothing is deleted" in r.stderr, r.stderr
    b.sync()
    assert len(b.messages()) == 30
    out = json.loads(a.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["ok"] and out["local_deleted"] == 0
