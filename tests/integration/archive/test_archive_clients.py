# SPDX-License-Identifier: MIT
"""Real mail programs on a synced Maildir: mblaze (mflag, mrefile, mpick)
and notmuch (tag changes with synchronize_flags) change it on one
workstation, notmuch reads the result on the other; isync/mbsync-style
names (",U=<uid>") keep their names through the sync."""
import os
import pathlib
import re
import shutil
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import message, run  # noqa: E402


def need(*cmds):
    for c in cmds:
        if not shutil.which(c):
            pytest.fail(f"{c} is missing: run 'scripts/install-deps.sh check'")


def notmuch(tmp_path, w, name):
    cfg = tmp_path / f"notmuch-{name}"
    cfg.write_text(f"[database]\npath={w.maildir}\n[user]\nname=T\nprimary_email=me@example.org\n"
                   "[new]\ntags=unread;inbox\n[maildir]\nsynchronize_flags=true\n")
    env = {"NOTMUCH_CONFIG": str(cfg), "HOME": str(tmp_path)}

    def nm(*args):
        return run(["notmuch", *args], env=env).stdout.strip()
    return nm


def test_mblaze_and_notmuch_changes_reach_the_other_workstation(account, tmp_path):
    need("minc", "mflag", "mrefile", "mpick", "mlist", "notmuch")
    a, b = account("a"), account("b")
    for i in range(30):
        a.deliver(f"1700000000.M{i}P1.a", message(i), folder=".Lists" if i >= 25 else "")
    a.sync(); b.sync()
    nm_a, nm_b = notmuch(tmp_path, a, "a"), notmuch(tmp_path, b, "b")
    nm_a("new", "--quiet")

    # on B, with mblaze: take in the new mail (new/ -> cur/), flag two, file
    # three into .Archive, delete one
    run(["minc", "-q", str(b.maildir)])
    def pick(expr):
        out = run(["sh", "-c", f"mlist '{b.maildir}' | mpick -t '{expr}'"]).stdout.split("\n")
        return [p for p in out if p]
    run(["mflag", "-F", *pick('subject == "message 1" || subject == "message 2"')])
    (b.maildir / ".Archive").mkdir()
    for s in ("cur", "new", "tmp"):
        (b.maildir / ".Archive" / s).mkdir()
    run(["mrefile", *pick('subject =~ "message 1[0-2]$"'), str(b.maildir / ".Archive")])
    for p in pick('subject == "message 20"'):
        os.unlink(p)
    # and with notmuch: read one (synchronize_flags moves it to cur/ with S)
    nm_b("new", "--quiet")
    nm_b("tag", "-unread", "--", 'subject:"message 5"')
    assert nm_b("count", "tag:unread") == "28", nm_b("search", "tag:unread")
    b.sync()
    a.sync()

    nm_a("new", "--quiet")
    assert nm_a("count", "*") == "29"
    assert nm_a("count", "tag:flagged") == "2"
    assert nm_a("count", "folder:.Archive") == "3"
    assert nm_a("count", 'subject:"message 20"') == "0"
    assert nm_a("count", "tag:unread") == "28"
    assert nm_a("count", 'subject:"message 5" and not tag:unread') == "1"
    assert a.messages() == b.messages()


def test_mbsync_names_keep_their_uids(account):
    """isync writes "<time>.<pid>_<n>.<host>,U=<uid>:2,<flags>": the sync
    must keep ",U=" (mbsync finds messages by it), also after a flag change."""
    need("mflag")
    a, b = account("a"), account("b")
    names = [f"1700000000.{100 + i}_{i}.host,U={17 + i}" for i in range(5)]
    for i, n in enumerate(names):
        a.deliver(n, message(i), sub="cur", flags="S")
    a.sync(); b.sync()
    assert sorted(b.messages()) == sorted(f"cur/{n}:2,S" for n in names)
    run(["mflag", "-F", str(b.maildir / "cur" / f"{names[0]}:2,S")])
    b.sync(); a.sync()
    assert (a.maildir / "cur" / f"{names[0]}:2,FS").exists()
    assert all(re.search(r",U=\d+:2,", p) for p in a.messages())
    assert a.messages() == b.messages()
