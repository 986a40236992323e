# SPDX-License-Identifier: MIT
"""A message file edited in place (a client rewriting headers, against the
Maildir rules) syncs as a new version: a new message under a new unique
name on every workstation, the old version deleted and recoverable."""
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import message  # noqa: E402


def last_json(r):
    return json.loads(r.stdout.splitlines()[-1])


def jsync(w, *extra):
    return last_json(w.cli("--json", "archive", "sync", "--password-stdin", *extra))


def test_in_place_edit_is_a_new_version(account):
    a, b = account("a"), account("b")
    for i in range(5):
        a.deliver(f"1700000000.M{i}P1.a", message(i), sub="cur", flags="S")
    a.sync(); b.sync()

    # rewritten where it lies (same name, same inode), as a header editor does
    p1 = a.maildir / "cur" / "1700000000.M1P1.a:2,S"
    with open(p1, "r+b") as f:
        f.write(b"X-Label: work\n" + message(1))
    # replaced under the same name (another inode), keeping its mtime
    p2 = a.maildir / "cur" / "1700000000.M2P1.a:2,S"
    st = os.stat(p2)
    tmp = a.maildir / "tmp" / "edit"
    tmp.write_bytes(message(2).replace(b"Subject: message 2", b"Subject: message 2 (edited)"))
    os.rename(tmp, p2)
    os.utime(p2, ns=(st.st_atime_ns, st.st_mtime_ns))
    # only touched: the same message
    os.utime(a.maildir / "cur" / "1700000000.M3P1.a:2,S")

    out = jsync(a)
    assert out["edited"] == 2 and out["local_added"] == 2 and out["local_deleted"] == 0, out
    assert not p1.exists() and not p2.exists()  # the new versions have new names
    b.sync()
    assert a.messages() == b.messages()
    bodies = sorted(b.messages().values())
    assert b"X-Label: work\n" + message(1) in bodies and message(1) not in bodies
    assert any(b"(edited)" in v for v in bodies) and message(2) not in bodies
    assert len(bodies) == 5 and message(3) in bodies
    assert all(n.endswith(":2,S") for n in b.messages())  # flags travel with the new version

    out = jsync(a)  # nothing more to record
    assert out["edited"] == 0 and out["local_added"] == 0 and out["local_changed"] == 0, out

    # the old versions are recoverable
    old = json.loads(b.cli("archive", "deleted", "--json").stdout)
    assert sorted(d["id"] for d in old) == ["1700000000.M1P1.a", "1700000000.M2P1.a"]
    b.cli("archive", "undelete", "--password-stdin", "1700000000.M1P1.a")
    a.sync()
    assert message(1) in a.messages().values() and len(a.messages()) == 6
