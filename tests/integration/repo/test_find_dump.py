# SPDX-License-Identifier: MIT
"""cloudseal find and dump against the source tree: find's hits (names,
paths, --snapshot, --oldest/--newest, --json) and that a tree shared by
snapshots is read once; dump's bytes of a file and its tar stream of a
directory, extracted with GNU tar, against the source."""
import hashlib
import importlib.util
import base64
import json
import os
import pathlib
import subprocess

_spec = importlib.util.spec_from_file_location("repo_cli_tree", pathlib.Path(__file__).with_name("test_repo_cli.py"))
_tree = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tree)
make_tree, assert_same_tree = _tree.make_tree, _tree.assert_same_tree


def find_json(repo, *args):
    return json.loads(repo.run("find", "--json", *args).stdout)


def test_find_names_paths_and_snapshots(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src, big=False)
    repo.run("backup", src)
    (src / "docs" / "later.txt").write_text("new")
    os.utime(src / "docs" / "later.txt", ns=(1_700_000_000_000_000_000,) * 2)
    repo.run("backup", src)
    snaps = json.loads(repo.run("snapshots", "--json").stdout)
    assert len(snaps) == 2

    res = find_json(repo, "note1*.txt")
    assert [r["snapshot"] for r in res] == [s["id"] for s in snaps]
    for r in res:
        got = sorted(m["path"] for m in r["matches"])
        want = sorted(f"{src}/docs/{p.name}" for p in (src / "docs").glob("note1*.txt"))
        assert got == want
        m = next(m for m in r["matches"] if m["path"] == f"{src}/docs/note1.txt")
        st = os.lstat(src / "docs" / "note1.txt")
        assert (m["size"], m["mtime"], m["mtime_ns"], m["mode"]) == \
            (st.st_size, st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9, 0o644 & st.st_mode)

    # only the second snapshot has it; --snapshot picks one
    res = find_json(repo, "later.txt")
    assert [r["snapshot"] for r in res] == [snaps[1]["id"]]
    assert find_json(repo, "--snapshot", snaps[0]["short_id"], "later.txt") == []
    # a pattern with a '/' matches the path; odd names are found by name
    res = find_json(repo, "--snapshot", "latest", f"{src}/odd*/new*")
    assert [m["path"] for m in res[0]["matches"]] == [f"{src}/odd names/new\nline"]
    res = find_json(repo, "--snapshot", "latest", "bad*")
    # not UTF-8: shown with U+FFFD, the exact bytes in path_base64
    assert [base64.b64decode(m["path_base64"]) for m in res[0]["matches"]] == \
        [os.fsencode(f"{src}/odd names/") + b"bad\xff\xfeutf8"]
    assert res[0]["matches"][0]["path"] == f"{src}/odd names/bad\ufffd\ufffdutf8"
    # --oldest: only what was modified at or after the time
    res = find_json(repo, "--oldest", "2023-11-01", "*.txt")
    assert [m["path"] for r in res for m in r["matches"]] == [f"{src}/docs/later.txt"]
    res = find_json(repo, "--newest", "2023-11-01", "--snapshot", "latest", "later.txt")
    assert res == []
    # human output names the snapshot and the path
    out = repo.run("find", "later.txt").stdout
    assert f"snapshot {snaps[1]['short_id']}" in out and f"{src}/docs/later.txt" in out
    assert repo.run("find", check=False).returncode == 2
    assert repo.run("find", "--oldest", "yesterday", "x", check=False).returncode == 2


def test_find_reads_a_shared_tree_once(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src, big=False)
    for i in range(40):
        (src / "many" / f"d{i}").mkdir(parents=True)
        (src / "many" / f"d{i}" / "f").write_text(str(i))
    for _ in range(3):
        repo.run("backup", src)
    one = repo.run("--debug", "find", "--snapshot", "latest", "nothing-matches").stderr
    three = repo.run("--debug", "find", "nothing-matches").stderr
    loads = lambda err: int(err.split("find: ")[1].split(" trees read")[0])
    assert loads(one) > 40
    # src's trees are shared; only the parents of src (this test's
    # directories, changed between the backups) differ
    assert loads(three) < loads(one) + 10, three


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_dump_file_and_directory(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    repo.run("backup", src)
    for rel in ("media/photo.jpg", "docs/note7.txt", "docs/empty.txt", "sparse.img", "odd names/new\nline"):
        r = subprocess.run([str(_tree_build() / "cloudseal"), "dump", "latest", f"{src}/{rel}"],
                           env=repo.env, capture_output=True, timeout=120, input=b"")
        assert r.returncode == 0, r.stderr
        assert sha(r.stdout) == sha((src / rel).read_bytes()), rel

    # a directory: a tar stream that GNU tar extracts to the source
    out = tmp_path / "out"
    out.mkdir()
    dump = subprocess.Popen([str(_tree_build() / "cloudseal"), "dump", "latest", str(src)], env=repo.env,
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    subprocess.run(["tar", "-x", "--xattrs", "--xattrs-include=*", "--same-owner", "-p", "-C", str(out)],
                   stdin=dump.stdout, check=True, timeout=120)
    dump.stdout.close()
    assert dump.wait(timeout=120) == 0
    assert_same_tree(src, out / "src")
    assert os.stat(out / "src" / "hardlink").st_ino == os.stat(out / "src" / "docs" / "note2.txt").st_ino

    # what has no contents, and what is not there
    r = repo.run("dump", "latest", f"{src}/fifo", check=False)
    assert r.returncode == 2 and "fifo" in r.stderr
    r = repo.run("dump", "latest", f"{src}/nosuch", check=False)
    assert r.returncode == 4 and "not in the snapshot" in r.stderr
    assert repo.run("dump", "latest", check=False).returncode == 2


def _tree_build():
    return pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")


def test_help(repo):
    for c in ("find", "dump", "mount"):
        r = repo.run(c, "--help")
        assert r.stdout.startswith(f"Usage: cloudseal {c} "), r.stdout
