# SPDX-License-Identifier: MIT
"""Issue 18 item 4: a full disk stops a backup or a restore at the first
ENOSPC with one message that names where and how much, the repository
stays consistent (check passes) and the exit status is the documented one
(1).  Full disks are small tmpfs mounts in a private mount namespace, as in
test_repo_messages.py."""
import os
import shutil


def errors(stderr):
    return [l for l in stderr.splitlines() if l.startswith("cloudseal:")]


def test_backup_to_a_full_repository_disk_stops_with_one_message(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i:02}.bin").write_bytes(os.urandom(256 << 10))
    copy = tmp_path / "storage.copy"
    shutil.copytree(repo.storage, copy)
    r = repo.run_in_small_fs(repo.storage, "3m", "backup", src, prefill=copy)
    assert r.returncode == 1, r.stdout + r.stderr
    assert errors(r.stderr) == [
        f"cloudseal: the repository's disk is full (No space left on device) at {repo.storage}: "
        "no snapshot was saved; free space there and back up again (the sources hold 10.0 MiB; "
        "deduplication and compression store less)"], r.stderr
    repo.run("check")


def test_restore_into_a_full_target_stops_with_one_message(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i:02}.bin").write_bytes(os.urandom(128 << 10))
    repo.run("backup", src)
    target = tmp_path / "target"
    target.mkdir()
    r = repo.run_in_small_fs(target, "1m", "restore", "latest", "--target", target)
    assert r.returncode == 1, r.stdout + r.stderr
    errs = errors(r.stderr)
    assert len(errs) == 1, r.stderr
    assert errs[0].startswith("cloudseal: the target's disk is full (No space left on device) writing "), errs
    assert errs[0].endswith(f": restore stopped; free space in {target} (the snapshot holds 5.0 MiB) "
                            "and restore again: what was restored is kept"), errs
