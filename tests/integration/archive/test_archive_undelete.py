# SPDX-License-Identifier: MIT
"""Recently deleted messages (docs/archive.md section 8): `archive deleted`
lists them for [archive] keep_deleted, `archive undelete` brings them back
on every workstation, and the pack gc keeps their bodies meanwhile."""
import json
import os
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import message  # noqa: E402


def bodies(w):
    """Sorted message bodies: an undeleted message has a new file name."""
    return sorted(w.messages().values())


def deleted(w, *args):
    return json.loads(w.cli("archive", "deleted", "--json", *args).stdout)


def last_json(r):
    return json.loads(r.stdout.splitlines()[-1])


def test_undelete_after_the_deletion_reached_every_workstation(account):
    a, b = account("a"), account("b")
    for i in range(10):
        a.deliver(f"1700000000.M{i}P1.a", message(i), folder=".Sent" if i < 2 else "", sub="cur", flags="S")
    a.sync(); b.sync()
    everything = bodies(a)
    for i in range(4):  # two from .Sent, two from INBOX
        os.unlink(next(a.maildir.glob(f"**/1700000000.M{i}P1.a:2,S")))
    a.sync(); b.sync()
    assert len(b.messages()) == 6

    lst = deleted(b)
    assert sorted(d["id"] for d in lst) == [f"1700000000.M{i}P1.a" for i in range(4)]
    assert {d["folder"] for d in lst} == {".Sent", ""}
    assert all(d["size"] == len(message(0)) and d["deleted_at"] > 0 for d in lst)
    assert len(deleted(b, "--folder", ".Sent")) == 2 and len(deleted(b, "--folder", "INBOX")) == 2
    assert len(deleted(b, "--since", "1h")) == 4
    text = b.cli("archive", "deleted").stdout
    assert "1700000000.M3P1.a" in text and "undelete" in text

    r = b.cli("archive", "undelete", "--password-stdin", "no.such.message", check=False)
    assert r.returncode == 1 and "not a message deleted" in r.stderr
    assert b.cli("archive", "undelete", "--password-stdin", check=False).returncode == 2  # says what

    out = last_json(b.cli("--json", "archive", "undelete", "--password-stdin", "1700000000.M0P1.a"))
    assert out["ok"] and out["undeleted"] == 1 and out["delivered"] == 1
    back = [p for p, v in b.messages().items() if v == message(0)]
    assert len(back) == 1 and back[0].startswith(".Sent/cur/") and back[0].endswith(":2,S")
    assert "M0P1.a" not in back[0]  # a new message: the deletion stays, as everywhere
    a.sync()
    assert message(0) in bodies(a)
    assert sorted(d["id"] for d in deleted(a)) == [f"1700000000.M{i}P1.a" for i in range(1, 4)]

    b.sync()
    b.cli("archive", "undelete", "--password-stdin", "--all")
    a.sync(); b.sync()
    assert bodies(a) == bodies(b) == everything
    assert deleted(a) == [] and deleted(b) == []


def test_undelete_after_gc_within_the_keep_period(account, tmp_path):
    """Collections (grace 0, twice on both sides) within keep_deleted leave
    the bodies of deleted messages: undelete still brings them back."""
    a, b = account("a"), account("b")

    def packs():
        return sorted(p.name for p in tmp_path.glob("storage/users/*/archive/pack/*")
                      if re.fullmatch(r"[0-9a-f]{32}", p.name))

    for i in range(3):
        a.deliver(f"1700000000.M{i}P1.a", message(i))
    a.sync(); b.sync()
    stored = packs()
    for p in list(a.messages()):
        os.unlink(a.maildir / p)
    a.sync(); b.sync()
    assert b.messages() == {}
    for _ in range(2):
        for w in (a, b):
            out = last_json(w.cli("--json", "archive", "sync", "--gc", "--gc-grace", "0", "--password-stdin"))
            assert out["ok"] and out["gc_deleted"] == 0, out
    assert packs() == stored

    a.cli("archive", "undelete", "--password-stdin", "--since", "1d")
    b.sync()
    assert bodies(a) == bodies(b) == sorted(message(i) for i in range(3))


def test_keep_deleted_zero_lets_gc_take_the_bodies(account, tmp_path):
    """The control: with keep_deleted = 0 the same collections delete the
    pack, and nothing is listed as recoverable."""
    a = account("a")
    a.config.write_text(a.config.read_text() + "keep_deleted = 0\n")
    a.deliver("1700000000.M1P1.a", message(1))
    a.sync()
    os.unlink(next(a.maildir.glob("new/*")))
    a.sync()
    assert deleted(a) == []
    for _ in range(2):
        a.sync("--gc", "--gc-grace", "0")
    assert not list(tmp_path.glob("storage/users/*/archive/pack/*"))


def test_undelete_a_held_mass_deletion(account):
    """B holds a mass deletion by A; undeleting them on B brings them back on
    A too, and B keeps its files (renamed, not downloaded again)."""
    a, b = account("a"), account("b")
    for i in range(80):
        a.deliver(f"1700000000.M{i}P1.a", message(i))
    a.sync(); b.sync()
    everything = bodies(a)
    for p in list(a.messages())[:60]:
        os.unlink(a.maildir / p)
    a.sync("--allow-deletions", "60")
    assert b.sync(check=False).returncode == 8
    assert len(deleted(b)) == 60
    out = last_json(b.cli("--json", "archive", "undelete", "--password-stdin", "--all"))
    assert out["ok"] and out["undeleted"] == 60 and out["delivered"] == 0 and out["bytes_downloaded"] == 0, out
    assert bodies(b) == everything
    a.sync()
    assert bodies(a) == everything and a.messages() == b.messages()


def test_deleted_listing_of_a_folder_name_that_is_not_utf8(account):
    """A Latin-1 folder name: the JSON listing stays valid UTF-8 (U+FFFD) and
    the exact bytes come back from folder_base64."""
    import base64
    import subprocess
    from archive_helpers import BUILD, PASSWORD
    a = account("a")
    folder = os.fsdecode(b".caf\xe9")
    a.deliver("1700000000.M1P1.a", message(1), folder=folder, sub="cur", flags="S")
    a.sync()
    os.unlink(next((a.maildir / folder / "cur").iterdir()))
    a.sync()
    r = subprocess.run([str(BUILD / "cloudseal"), "archive", "deleted", "--json"], input=(PASSWORD + "\n").encode(),
                       env={**os.environ, **a.env}, capture_output=True, timeout=120, check=True)
    lst = json.loads(r.stdout.decode("utf-8", errors="strict"))
    assert [d["folder"] for d in lst] == [".caf\ufffd"], lst
    assert [base64.b64decode(d["folder_base64"]) for d in lst] == [b".caf\xe9"]


def test_dry_run_actions_of_a_folder_name_that_is_not_utf8(account):
    """sync --dry-run --json lists its actions, which name folders and
    messages (any bytes): the document stays valid UTF-8 and
    actions_base64 has the exact bytes of each line that is not."""
    import base64
    import subprocess
    from archive_helpers import BUILD, PASSWORD
    a, b = account("a"), account("b")
    folder = os.fsdecode(b".caf\xe9")
    a.deliver("1700000000.M1P1.a", message(1), folder=folder, sub="cur", flags="S")
    a.sync()
    r = subprocess.run([str(BUILD / "cloudseal"), "archive", "sync", "--dry-run", "--json", "--password-stdin"],
                       input=(PASSWORD + "\n").encode(), env={**os.environ, **b.env}, capture_output=True,
                       timeout=120, check=True)
    out = json.loads(r.stdout.decode("utf-8", errors="strict").strip().splitlines()[-1])
    exact = [base64.b64decode(e) if e is not None else line.encode()
             for line, e in zip(out["actions"], out["actions_base64"])]
    assert any(b".caf\xe9" in line for line in exact), out
    assert any("\ufffd" in line for line in out["actions"]), out
