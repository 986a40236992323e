# SPDX-License-Identifier: MIT
"""Empty folders created or removed on one workstation appear or disappear
on the other (docs/archive.md section 6); a removed folder that still holds
something stays."""
import json
import os
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import message  # noqa: E402


def mkfolder(w, name):
    for s in ("cur", "new", "tmp"):
        (w.maildir / name / s).mkdir(parents=True)
    (w.maildir / name / "maildirfolder").touch()


def folders(w):
    return sorted(p.name for p in w.maildir.iterdir() if p.name.startswith(".") and p.is_dir())


def segment_versions(tmp_path):
    segs = sorted(p for p in tmp_path.glob("storage/users/*/archive/log/*/*") if p.is_file())
    return [p.read_bytes()[4] for p in segs]


def test_empty_folders_travel(account, tmp_path):
    a, b = account("a"), account("b")
    # folders with messages need no folder entry: readers of version 1 segments keep up
    a.deliver("1700000000.M0P1.a", message(0), folder=".Lists")
    a.sync()
    assert segment_versions(tmp_path) == [1]
    os.unlink(a.maildir / ".Lists" / "new" / "1700000000.M0P1.a")  # emptied: the folder stays
    a.deliver("1700000000.M1P1.a", message(1))
    mkfolder(a, ".Projects")
    mkfolder(a, ".Projects.2026")
    out = json.loads(a.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
    assert out["folders_changed"] == 3, out
    assert segment_versions(tmp_path)[-1] == 2
    b.sync()
    assert folders(b) == [".Lists", ".Projects", ".Projects.2026"]
    assert all((b.maildir / ".Projects" / s).is_dir() for s in ("cur", "new", "tmp"))

    # removed on B (as a client does: the whole directory) -> gone on A
    shutil.rmtree(b.maildir / ".Projects.2026")
    b.sync(); a.sync()
    assert folders(a) == [".Lists", ".Projects"]

    # removed on A while B filed a message into it: the folder stays where
    # the message is, and the message is not lost
    shutil.rmtree(a.maildir / ".Projects")
    os.rename(b.maildir / "new" / "1700000000.M1P1.a", b.maildir / ".Projects" / "new" / "1700000000.M1P1.a")
    a.sync(); b.sync(); a.sync()
    assert folders(a) == folders(b) == [".Lists", ".Projects"]
    assert a.messages() == b.messages() == {".Projects/new/1700000000.M1P1.a": message(1)}

    # a folder with a client's own files in it is left alone
    mkfolder(a, ".Kept")
    a.sync(); b.sync()
    (b.maildir / ".Kept" / "dovecot.index").write_text("x")
    shutil.rmtree(a.maildir / ".Kept")
    a.sync(); b.sync()
    assert ".Kept" in folders(b) and (b.maildir / ".Kept" / "dovecot.index").exists()
    assert ".Kept" not in folders(a)
    # nothing more to do on either side
    for w in (a, b):
        out = json.loads(w.cli("--json", "archive", "sync", "--password-stdin").stdout.splitlines()[-1])
        assert out["folders_changed"] == 0 and out["local_deleted"] == 0, (w.name, out)
