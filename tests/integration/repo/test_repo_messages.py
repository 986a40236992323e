# SPDX-License-Identifier: MIT
"""Messages that tell the truth (issue 17, item 5): a full repository disk
fails the backup without blaming source files, a full restore target says
ENOSPC, a damaged snapshot object is an integrity failure (exit 5), not
"no snapshot".  Full disks are small tmpfs mounts in a private mount
namespace (unshare -m): nothing on the host is touched."""
import os
import pathlib
import shutil
import subprocess

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
PASSWORD = "correct horse battery staple"  # the repo fixture's (conftest.py)


def test_backup_to_a_full_repository_disk_blames_the_repository(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.bin").write_bytes(os.urandom(2 << 20))
    copy = tmp_path / "storage.copy"
    shutil.copytree(repo.storage, copy)
    r = repo.run_in_small_fs(repo.storage, "3m", "backup", src, prefill=copy)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "skipping" not in r.stderr, r.stderr
    assert (f"the repository's disk is full (No space left on device) at {repo.storage}: no snapshot was saved; "
            "free space there and back up again (the sources hold 10.0 MiB; deduplication and "
            "compression store less)") in r.stderr, r.stderr


def test_restore_into_a_full_target_says_enospc(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(4 << 20))
    repo.run("backup", src)
    target = tmp_path / "target"
    target.mkdir()
    r = repo.run_in_small_fs(target, "1m", "restore", "latest", "--target", target)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "No space left on device" in r.stderr, r.stderr
    assert "Input/output error" not in r.stderr, r.stderr


def test_a_damaged_snapshot_object_is_an_integrity_failure(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    repo.run("backup", src)
    snap = next((repo.repo_dir() / "snapshots").iterdir())
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 1
    snap.write_bytes(bytes(data))
    shutil.rmtree(repo.cache, ignore_errors=True)
    r = repo.run("restore", snap.name[:12], "--target", tmp_path / "out", check=False)
    assert r.returncode == 5, r.stderr
    assert "no snapshot" not in r.stderr, r.stderr
    assert f"snapshot '{snap.name[:12]}' is damaged: nothing in it can be restored; " \
           "'cloudseal repair snapshots' removes it" in r.stderr, r.stderr
    assert f"snapshots/{snap.name} is damaged (it does not authenticate)" in r.stderr, r.stderr
