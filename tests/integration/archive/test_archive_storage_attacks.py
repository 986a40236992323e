# SPDX-License-Identifier: MIT
"""A hostile store against the message archive, through the real CLI on a
file:// store: log segments and packs swapped between two users' archives
and between positions of one, truncated, bytes reordered, a device's log
rolled back, old segments put back after compaction, packs deleted.

What must hold (docs/threat-model.md): `archive sync` never puts a wrong
byte into the Maildir.  Damage is exit status 5 with a message saying the
store was tampered with; every message file present is exactly one that was
delivered, and nothing half written is left in new/ or cur/ (tmp/ is
the Maildir's own scratch space)."""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import BUILD, PASSWORD, Workstation, message, run  # noqa: E402


def objects(storage, kind):
    """Files under .../archive/<kind>/ (kind: "log" or "pack"), oldest first."""
    return sorted((p for p in storage.rglob("*") if f"/archive/{kind}/" in str(p) and p.is_file()),
                  key=lambda p: (p.stat().st_mtime_ns, str(p)))


def put(path, data):
    """What a bucket writer does: replace an object's bytes in place."""
    if path.exists():
        os.chmod(path, 0o600)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def assert_only_true_messages(ws, sent):
    """Every message file in ws's Maildir is byte for byte one of sent."""
    bodies = set(sent)
    for rel, data in ws.messages().items():
        assert data in bodies, f"{ws.name}: {rel} holds bytes nobody delivered"


def assert_tampering_reported(ws, sent, what=("tampered", "failed verification", "rolled back")):
    r = ws.sync(check=False)
    assert r.returncode == 5, f"exit {r.returncode}: {r.stderr}"
    assert any(w in r.stderr for w in what), r.stderr
    assert_only_true_messages(ws, sent)
    return r


@pytest.fixture
def storage(tmp_path):
    return tmp_path / "storage"


@pytest.fixture
def other_user(tmp_path, build_dir, lock_at_end):
    """A second, independently enrolled account (another AMK) in another
    store, with one synced message."""
    base = tmp_path / "other"
    base.mkdir()
    cfg = base / "cloudseal.conf"
    cfg.write_text(f"[storage]\nurl = file://{base}/storage\n[paths]\nstate_dir = {base}/state\n"
                   f"helper = {BUILD}/cloudseal-helper\n[kdf]\ntarget_time_ms = 1\nmemory = 8M\n")
    lock_at_end({"CLOUDSEAL_CONFIG": str(cfg)})
    run([str(BUILD / "cloudseal"), "enroll", "--password-stdin"], input=PASSWORD + "\n",
        env={"CLOUDSEAL_CONFIG": str(cfg)})
    ws = Workstation(base, "x", cfg)
    ws.deliver("1700000100.M1P1.x", message(100))
    ws.sync()
    return base / "storage"


def test_objects_of_another_users_archive_are_refused(account, storage, other_user):
    """Another account's segment or pack under this account's names fails
    authentication (another AMK): exit 5, nothing delivered."""
    a, b = account("a"), account("b")
    sent = [message(1)]
    a.deliver("1700000001.M1P1.a", sent[0])
    a.sync()
    for kind in ("log", "pack"):
        mine, theirs = objects(storage, kind)[0], objects(other_user, kind)[0]
        keep = mine.read_bytes()
        put(mine, theirs.read_bytes())
        assert_tampering_reported(b, sent)
        assert b.messages() == {}
        put(mine, keep)
    b.sync()
    assert b.messages() == a.messages()


def test_segments_or_packs_swapped_within_one_archive(account, storage):
    """Two segments of one device exchanged (position bound in the
    authenticated header), two packs exchanged (bodies bound to their
    content id): exit 5, no wrong message."""
    a, b = account("a"), account("b")
    sent = [message(1), message(2, 5000)]
    a.deliver("1700000001.M1P1.a", sent[0])
    a.sync()
    a.deliver("1700000002.M2P1.a", sent[1])
    a.sync()
    for kind in ("log", "pack"):
        x, y = objects(storage, kind)[:2]
        bx, by = x.read_bytes(), y.read_bytes()
        put(x, by)
        put(y, bx)
        assert_tampering_reported(b, sent)
        put(x, bx)
        put(y, by)
    b.sync()
    assert b.messages() == a.messages()


@pytest.mark.parametrize("kind", ["log", "pack"])
@pytest.mark.parametrize("how", ["truncate-end", "truncate-middle", "reorder", "extend"])
def test_truncated_or_reordered_objects(account, storage, kind, how):
    """Exit 5 and nothing wrong delivered; bytes appended to a pack change
    no body (read by range): the sync is exact."""
    a, b = account("a"), account("b")
    sent = [message(i, 3000) for i in range(3)]
    for i, m in enumerate(sent):
        a.deliver(f"170000000{i}.M{i}P1.a", m)
    a.sync()
    obj = objects(storage, kind)[0]
    data = obj.read_bytes()
    bad = {"truncate-end": data[:-1], "truncate-middle": data[: len(data) // 2],
           "reorder": data[:60] + data[76:92] + data[60:76] + data[92:], "extend": data + b"\0" * 4096}[how]
    put(obj, bad)
    if how == "extend" and kind == "pack":
        b.sync()
        assert b.messages() == a.messages()
        return
    assert_tampering_reported(b, sent, ("tampered", "failed verification", "truncated"))
    if kind == "log":
        assert b.messages() == {}
    put(obj, data)
    b.sync()
    assert b.messages() == a.messages()


def test_log_rolled_back_is_detected(account, storage):
    """A segment hidden from the middle of a device's log is a hole: exit 5.
    The newest segment deleted after another device applied it (the log put
    back to an older state): exit 5 on that device and on the writer.  Not
    defended: a device that never saw the deleted segment cannot tell, until
    the writer's next segment makes a hole."""
    a, b, c, d = account("a"), account("b"), account("c"), account("d")
    sent = [message(i) for i in range(4)]
    a.deliver("1700000000.M0P1.a", sent[0])
    a.sync()
    c.sync()
    for i in (1, 2):
        a.deliver(f"170000000{i}.M{i}P1.a", sent[i])
        a.sync()
    # c's (and b's) first sync wrote an empty segment of its own (docs/archive.md section 8, R3)
    a_log = objects(storage, "log")[0].parent
    seg1, seg2, seg3 = [p for p in objects(storage, "log") if p.parent == a_log]
    keep = seg2.read_bytes()
    seg2.unlink()
    assert_tampering_reported(c, sent, ("missing from storage",))
    assert len(c.messages()) == 1
    put(seg2, keep)
    c.sync()
    assert c.messages() == a.messages()
    a.deliver("1700000003.M3P1.a", sent[3])
    a.sync()
    b.sync()
    newest = [p for p in objects(storage, "log") if p.parent == a_log][-1]
    newest.unlink()
    assert_tampering_reported(b, sent, ("rolled back",))
    assert_tampering_reported(a, sent, ("rolled back",))
    d.sync()
    assert len(d.messages()) == 3


def test_segments_put_back_after_compaction_change_nothing(account, storage):
    """Segments a device deleted when it compacted its log, put back by the
    store (replayed): the merge is idempotent and a deletion is remove-wins,
    so a reader converges to the same Maildir; a deleted message stays
    deleted."""
    a, b = account("a"), account("b")
    a.deliver("1700000001.M0P1.a", message(0))
    a.sync()
    saved = {p: p.read_bytes() for p in objects(storage, "log")}
    os.unlink(next((a.maildir / "new").iterdir()))
    for i in range(1, 66):  # compact_after is 64
        a.deliver(f"17000000{i:02d}.M{i}P1.a", message(i, 300))
        a.sync()
    logs = objects(storage, "log")
    assert len(logs) < 10, "the log was compacted"
    for p, data in saved.items():
        assert not p.exists()
        put(p, data)
    b.sync()
    assert b.messages() == a.messages()
    assert not any("M0P1" in k for k in b.messages())
    a.sync()
    assert b.messages() == a.messages()


def test_deleted_pack(account, storage):
    """A pack deleted: the devices that need its bodies exit 5 and deliver
    nothing wrong.  Not defended: a device that already has the messages does
    not notice (there is no archive check), and those bodies are gone from
    storage for any new device."""
    a, b = account("a"), account("b")
    sent = [message(1)]
    a.deliver("1700000001.M1P1.a", sent[0])
    a.sync()
    objects(storage, "pack")[0].unlink()
    r = a.sync(check=False)
    assert r.returncode == 0, r.stderr
    assert_tampering_reported(b, sent, ("missing",))
    assert b.messages() == {}


def test_store_holds_no_plaintext_mail_or_folder_names(account, storage):
    """A copy of the bucket: no subject, address, body, folder name, unique
    name or flag of a message appears in any stored object."""
    a = account("a")
    body = (b"From: Confidential Sender <whistle@example.org>\nSubject: MARKER-SUBJECT-1234\n\n"
            + b"MARKER-BODY-5678 " * 500)
    a.deliver("1700000009.MARKERUNIQUE.host", body, folder=".MarkerFolder", sub="cur", flags="FS")
    a.sync()
    stored = [p for p in storage.rglob("*") if p.is_file()]
    for p in stored:
        data = p.read_bytes()
        for n in (b"MARKER-SUBJECT", b"MARKER-BODY", b"whistle@example.org", b"MarkerFolder",
                  b"MARKERUNIQUE", PASSWORD.encode()):
            assert n not in data, f"{n!r} in {p}"
