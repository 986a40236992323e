# SPDX-License-Identifier: MIT
"""Issue 19 item 2: an allocation that fails while the backup walks the
tree fails the backup; it never saves a "successful" snapshot with the
entry missing.  failalloc.so (LD_PRELOAD) fails the Nth strdup() or
asprintf() of one entry's name, as a real ENOMEM would; every such call
the walk makes for that entry is tried in turn."""
import json
import os

import pytest

VICTIM = "victim-failalloc"


def tree(tmp_path, kind):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("a", "z"):
        (src / name).write_text(name)
    if kind == "dir":
        (src / VICTIM).mkdir()
        (src / VICTIM / "inner").write_text("inner")
    else:
        (src / VICTIM).write_text("victim")
    return src


def snapshots(repo):
    return json.loads(repo.run("snapshots", "--json").stdout)


def run_failing(repo, shim, args, name, call, nth, mark):
    env = dict(repo.env, LD_PRELOAD=str(shim), CS_FAILALLOC_NAME=name, CS_FAILALLOC_CALL=call,
               CS_FAILALLOC_NTH=str(nth), CS_FAILALLOC_MARK=str(mark))
    saved, repo.env = repo.env, env
    try:
        return repo.run(*args, check=False)
    finally:
        repo.env = saved


# files-from: the path list read by `backup --files-from` (add() in cmd_backup.c);
# selected: the victim named on the command line (the walk's selection).
# A file's path is built in the walk's one reusable buffer (join() in backup.c,
# issue 23), so a file has no asprintf() of its own left to fail; its strdup()s are.
@pytest.mark.parametrize("kind,how,call", [
    ("file", "walk", "strdup"),
    ("dir", "walk", "strdup"), ("dir", "walk", "asprintf"),
    ("file", "selected", "strdup"), ("file", "files-from", "strdup"),
])
def test_failed_allocation_fails_the_backup(repo, build_dir, tmp_path, kind, how, call):
    shim = build_dir / "tests" / "failalloc.so"
    assert shim.exists(), f"{shim} missing: run 'make integration' (or make {shim})"
    src = tree(tmp_path, kind)
    args = ["backup", "--password-stdin", "--no-cache"]
    if how == "walk":
        args.append(src)
    elif how == "selected":
        args += [src / "a", src / VICTIM]
    else:
        lst = tmp_path / "list"
        lst.write_text(f"{src / 'a'}\n{src / VICTIM}\n")
        args += ["--files-from", lst]
    injected = 0
    for nth in range(1, 8):
        mark = tmp_path / f"injected-{nth}"
        before = len(snapshots(repo))
        r = run_failing(repo, shim, args, VICTIM, call, nth, mark)
        if not mark.exists():
            assert r.returncode == 0, r.stderr  # past the last such call: an ordinary backup
            break
        injected += 1
        assert r.returncode not in (0, 7), f"call {nth} failed, yet: exit {r.returncode}\n{r.stderr}"
        assert "memory" in r.stderr, r.stderr
        assert len(snapshots(repo)) == before, f"call {nth}: a snapshot was saved"
    assert injected, "no allocation for the entry was failed: failalloc.so matched nothing"


def test_failed_xattr_copy_fails_the_backup(repo, build_dir, tmp_path):
    """An extended attribute the walk cannot copy (its name's strdup()
    fails) fails the backup; read_xattrs() used to skip it and the
    snapshot was saved without it."""
    shim = build_dir / "tests" / "failalloc.so"
    assert shim.exists(), f"{shim} missing: run 'make integration' (or make {shim})"
    src = tree(tmp_path, "file")
    name = "user." + VICTIM
    os.setxattr(src / "a", name, b"kept")
    mark = tmp_path / "injected"
    before = len(snapshots(repo))
    r = run_failing(repo, shim, ["backup", "--password-stdin", "--no-cache", src], name, "strdup", 1, mark)
    assert mark.exists(), "failalloc.so matched no strdup() of the attribute's name"
    assert r.returncode not in (0, 7), f"exit {r.returncode}\n{r.stderr}"
    assert "memory" in r.stderr, r.stderr
    assert len(snapshots(repo)) == before, "a snapshot was saved without the attribute"


def test_failed_storage_listing_fails(repo, build_dir, tmp_path):
    """A read error while listing a file:// store is an error: the listing
    used to end there as if complete, and a snapshot left out of prune's
    listing has its data deleted (walk() in lib/storage/storage_file.c)."""
    shim = build_dir / "tests" / "failalloc.so"
    assert shim.exists(), f"{shim} missing: run 'make integration' (or make {shim})"
    repo.run("backup", "--password-stdin", tree(tmp_path, "file"))
    listed = [p for p in tmp_path.glob("storage/**/snapshots") if p.is_dir()]
    assert len(listed) == 1, listed
    mark = tmp_path / "injected"
    r = run_failing(repo, shim, ["snapshots", "--json"], str(listed[0]), "readdir", 1, mark)
    assert mark.exists(), "failalloc.so matched no readdir() of the snapshots"
    assert r.returncode != 0, f"the listing failed, yet: exit 0\n{r.stdout}"
    assert "Input/output error" in r.stderr, r.stderr
    assert len(snapshots(repo)) == 1
