# SPDX-License-Identifier: MIT
"""Issue 19 item 2: an allocation that fails while a sync records a folder
fails the sync; it never ends "successfully" with the folder's record
missing.  failalloc.so (tests/integration/repo/failalloc.c, LD_PRELOAD)
fails the Nth strdup() of the folder's name, as a real ENOMEM would; every
such call of a first sync on a fresh workstation is tried in turn."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import message  # noqa: E402

VICTIM = ".Victim-failalloc"


def test_failed_folder_record_fails_the_sync(account, build_dir, tmp_path):
    shim = build_dir / "tests" / "failalloc.so"
    assert shim.exists(), f"{shim} missing: run 'make integration' (or make {shim})"
    a = account("a")
    # a folder holding a message has no folder entry: the receiver makes
    # its record when it delivers the message (folder_made() in sync.c)
    a.deliver("1764300000.M1P1.a", message(1), folder=VICTIM)
    a.sync()
    want = f"{VICTIM}/new/1764300000.M1P1.a"
    injected = 0
    for nth in range(1, 12):
        w = account(f"b{nth}")
        mark = tmp_path / f"injected-{nth}"
        saved = w.env
        w.env = dict(saved, LD_PRELOAD=str(shim), CS_FAILALLOC_NAME=VICTIM, CS_FAILALLOC_CALL="strdup",
                     CS_FAILALLOC_NTH=str(nth), CS_FAILALLOC_MARK=str(mark))
        try:
            r = w.sync(check=False)
        finally:
            w.env = saved
        if not mark.exists():
            assert r.returncode == 0, r.stderr  # past the last such call: an ordinary sync
            assert want in w.messages()
            break
        injected += 1
        assert r.returncode != 0, f"strdup() {nth} of the folder's name failed, yet the sync succeeded:\n{r.stderr}"
        assert "memory" in r.stderr, (nth, r.stderr)
        w.sync()  # the next sync completes what the failed one left
        assert want in w.messages()
    assert injected, "no allocation of the folder's name was failed: failalloc.so matched nothing"


def test_failed_folder_listing_fails_the_sync(account, build_dir, tmp_path):
    """A read error while listing the Maildir's folders fails the sync;
    it used to end as a success that had not looked at the folders after
    the error (readdir() in list_folders(), lib/archive/scan.c)."""
    shim = build_dir / "tests" / "failalloc.so"
    assert shim.exists(), f"{shim} missing: run 'make integration' (or make {shim})"
    a, b = account("a"), account("b")
    a.deliver("1764300000.M1P1.a", message(1))
    a.deliver("1764300000.M2P1.a", message(2), folder=".Sent")
    a.sync()
    before = a.messages()
    mark = tmp_path / "injected"
    saved = a.env
    a.env = dict(saved, LD_PRELOAD=str(shim), CS_FAILALLOC_NAME=a.maildir.name, CS_FAILALLOC_CALL="readdir",
                 CS_FAILALLOC_NTH="1", CS_FAILALLOC_MARK=str(mark))
    try:
        r = a.sync(check=False)
    finally:
        a.env = saved
    assert mark.exists(), "failalloc.so matched no readdir() of the Maildir"
    assert r.returncode != 0, f"the listing failed, yet the sync succeeded:\n{r.stderr}"
    assert "Input/output error" in r.stderr, r.stderr
    b.sync()
    assert sorted(b.messages()) == sorted(before), "a message was deleted"


def test_failed_sync_ends_with_what_to_do(account, build_dir, tmp_path):
    """A failed sync in text mode ends with one line of its own: what failed
    and what to do next, whatever the library logged before (here an
    allocation failure nothing else reports in those words)."""
    shim = build_dir / "tests" / "failalloc.so"
    assert shim.exists(), f"{shim} missing: run 'make integration' (or make {shim})"
    a = account("a")
    a.deliver("1764300000.M1P1.a", message(1), folder=VICTIM)
    a.sync()
    w = account("w")
    mark = tmp_path / "injected"
    saved = w.env
    w.env = dict(saved, LD_PRELOAD=str(shim), CS_FAILALLOC_NAME=VICTIM, CS_FAILALLOC_CALL="strdup",
                 CS_FAILALLOC_NTH="1", CS_FAILALLOC_MARK=str(mark))
    try:
        r = w.sync(check=False)
    finally:
        w.env = saved
    assert mark.exists(), "failalloc.so matched no strdup() of the folder's name"
    assert r.returncode != 0, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "archive sync failed (Cannot allocate memory); run 'cloudseal archive sync' again" in last, r.stderr
