# SPDX-License-Identifier: MIT
"""JSON listings of names that are not UTF-8: the document stays valid
UTF-8 (a strict parser reads it), and the exact bytes come back from
KEY_base64."""
import base64
import ctypes
import json
import os
import pathlib
import signal
import subprocess

import waits

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")


def strict(stdout_bytes):
    return json.loads(stdout_bytes.decode("utf-8", errors="strict"))


def run_bytes(repo, *args):
    r = repo.run(*args)  # surrogateescape text: back to the bytes printed
    return r.stdout.encode("utf-8", errors="surrogateescape")


def exact(entry, key):
    raw = entry.get(f"{key}_base64")
    return base64.b64decode(raw) if raw is not None else os.fsencode(entry[key])


def test_latin1_names_in_ls_find_diff(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    latin1 = os.path.join(os.fsencode(str(src)), b"caf\xe9")
    with open(latin1, "wb") as f:
        f.write(b"x\n")
    os.symlink(b"\xff\xfe-target", os.path.join(os.fsencode(str(src)), b"link"))
    (src / "plain").write_text("p\n")
    repo.run("backup", src)
    with open(latin1, "ab") as f:
        f.write(b"more\n")
    repo.run("backup", src)

    entries = strict(run_bytes(repo, "ls", "--json", "latest"))
    by_path = {exact(e, "path"): e for e in entries}
    assert latin1 in by_path, sorted(by_path)
    e = by_path[latin1]
    assert e["path"].endswith("caf\ufffd"), e
    link = by_path[os.path.join(os.fsencode(str(src)), b"link")]
    assert exact(link, "target") == b"\xff\xfe-target" and link["target"] == "\ufffd\ufffd-target"
    plain = by_path[os.fsencode(str(src / "plain"))]
    assert "path_base64" not in plain  # valid UTF-8: as it is, once

    found = strict(run_bytes(repo, "find", "--json", "caf*"))
    assert any(exact(m, "path") == latin1 for s in found for m in s["matches"]), found

    snaps = json.loads(repo.run("snapshots", "--json").stdout)
    changes = strict(run_bytes(repo, "diff", "--json", snaps[0]["id"], snaps[1]["id"]))
    assert any(exact(c, "path") == latin1 and c["change"] == "M" for c in changes), changes


def test_non_utf8_source_path_in_snapshots_json(repo, tmp_path):
    """`snapshots --json` lists the source paths under the same rule: a
    strict parser reads the document, paths_base64 gives the exact bytes
    (null for a path that is UTF-8 as it is)."""
    plain = tmp_path / "plain"
    plain.mkdir()
    latin1 = os.path.join(os.fsencode(str(tmp_path)), b"d\xe9j\xe0")
    os.mkdir(latin1)
    with open(os.path.join(latin1, b"f"), "wb") as f:
        f.write(b"x\n")
    repo.run("backup", plain, os.fsdecode(latin1))
    (snap,) = strict(run_bytes(repo, "snapshots", "--json"))
    exact_paths = [base64.b64decode(b) if b is not None else os.fsencode(p)
                   for p, b in zip(snap["paths"], snap["paths_base64"])]
    assert sorted(exact_paths) == sorted([os.fsencode(str(plain)), latin1]), snap
    i = exact_paths.index(latin1)
    assert snap["paths"][i].endswith("d\ufffdj\ufffd") and snap["paths_base64"][1 - i] is None, snap
    status = strict(run_bytes(repo, "status", "--json"))
    assert status["newest_snapshot"]["paths_base64"] == snap["paths_base64"], status


def test_non_utf8_tags_and_host_in_snapshot_json(repo, tmp_path):
    """Tags come from a command line and host (and user) from whoever wrote
    the snapshot: every string of a snapshot's JSON, in `backup`,
    `snapshots` and `status`, follows the paths' rule."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x\n")
    host, tag = b"caf\xe9-host", b"t\xff"
    out = run_bytes(repo, "backup", "--json", "--host", os.fsdecode(host), "--tag", os.fsdecode(tag),
                    "--tag", "plain", src)
    summary = [strict(line) for line in out.splitlines()][-1]  # JSON lines: status..., summary
    assert summary["message_type"] == "summary", summary
    (snap,) = strict(run_bytes(repo, "snapshots", "--json"))
    status = strict(run_bytes(repo, "status", "--json"))["newest_snapshot"]
    for s in (snap, status):
        assert s["host"] == "caf\ufffd-host" and exact(s, "host") == host, s
        assert s["tags"] == ["t\ufffd", "plain"] and s["tags_base64"] == [base64.b64encode(tag).decode(), None], s
        assert "user_base64" not in s and "paths_base64" not in s, s
    assert summary["host_base64"] == snap["host_base64"] and summary["tags"] == snap["tags"], summary


def test_non_utf8_object_names_in_storage_ls(repo, tmp_path):
    """The store names its objects: `storage ls --json` follows the rule."""
    odd = b"users/stray-\xe9\xff"
    with open(os.path.join(os.fsencode(str(repo.storage)), odd), "wb") as f:
        f.write(b"x")
    listed = strict(run_bytes(repo, "storage", "ls", "--json", "--long"))
    by_key = {exact(e, "key"): e for e in listed}
    assert odd in by_key and by_key[odd]["key"] == "users/stray-\ufffd\ufffd", listed
    assert "key_base64" not in by_key[next(k for k in by_key if k != odd)], listed


def test_non_utf8_url_in_storage_test(repo, tmp_path):
    url = b"file://" + os.fsencode(str(tmp_path)) + b"/caf\xe9"
    os.mkdir(url[len(b"file://"):])
    r = repo.run("storage", "test", "--json", os.fsdecode(url))
    t = strict(r.stdout.encode("utf-8", errors="surrogateescape"))
    assert exact(t, "url") == url and t["ok"], t


def _in_host_named(name):
    """preexec_fn: a UTS namespace of its own whose host name is name (any
    bytes, as sethostname(2) takes them)."""
    def enter():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x04000000) != 0 or libc.sethostname(name, len(name)) != 0:  # CLONE_NEWUTS
            raise OSError(ctypes.get_errno(), "unshare/sethostname")
    return enter


def test_non_utf8_host_in_locks_json(repo, tmp_path):
    """A lock names the host of its writer (any bytes): `locks --json`
    follows the rule.  A backup on a host whose name is not UTF-8 is
    killed once its lock object exists."""
    big = tmp_path / "big"
    big.mkdir()
    (big / "x.bin").write_bytes(os.urandom(32 << 20))
    host = b"caf\xe9"
    p = subprocess.Popen([str(BUILD / "cloudseal"), "backup", str(big)], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=repo.env,
                         preexec_fn=_in_host_named(host))
    p.stdin.write(b"correct horse battery staple\n")
    p.stdin.close()
    locks = repo.repo_dir() / "locks"

    def lock_written():
        return locks.exists() and any(x.is_file() and ".tmp-" not in x.name for x in locks.iterdir())
    waits.wait_for_change([locks], lock_written, 120, "the backup's lock object", pid=p.pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    (lock,) = strict(run_bytes(repo, "locks", "--json"))
    assert lock["host"] == "caf\ufffd" and exact(lock, "host") == host, lock


def test_non_utf8_user_in_snapshot_json(repo, tmp_path):
    """The user of a snapshot is whatever its writer's machine called it
    (pwname.so stands in for one whose name is Latin-1): snapshots and
    status --json keep the document UTF-8, user_base64 the exact bytes."""
    shim = BUILD / "tests" / "pwname.so"
    assert shim.exists(), f"{shim} missing: run 'make integration-tools'"
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x\n")
    user = b"j\xfcrgen"
    r = subprocess.run([str(BUILD / "cloudseal"), "backup", str(src)], input=b"correct horse battery staple\n",
                       env={**repo.env, "LD_PRELOAD": str(shim), "CS_PWNAME": os.fsdecode(user)},
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (snap,) = strict(run_bytes(repo, "snapshots", "--json"))
    status = strict(run_bytes(repo, "status", "--json"))["newest_snapshot"]
    for s in (snap, status):
        assert s["user"] == "j\ufffdrgen" and exact(s, "user") == user, s
        assert "host_base64" not in s and "tags_base64" not in s, s
