# SPDX-License-Identifier: MIT
"""What a backup of an unchanged tree asks of the system (issue 23: the no-change
backup near the stat floor).  Counted with strace, so that load does not matter:
no extended-attribute listing for a file the file-change cache knows had none,
and every index object read once (not again after taking the lock)."""
import os
import re
import subprocess
import sys

import waits


def traced(repo, log, *args):
    """cloudseal ARGS under strace -f (the syscalls named below only), log to LOG."""
    conf = sys.modules[type(repo).__module__]  # this directory's conftest: BUILD, PASSWORD
    BUILD, PASSWORD = conf.BUILD, conf.PASSWORD
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e", "trace=llistxattr,flistxattr,openat",
                        str(BUILD / "cloudseal"), *map(str, args)], input=PASSWORD + "\n", env=repo.env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return log.read_text(errors="surrogateescape")


def make_tree(src):
    (src / "a" / "b").mkdir(parents=True)
    for i in range(40):
        (src / ("a" if i % 2 else "a/b") / f"f{i}.txt").write_text(f"file {i}\n" * (i + 1))
    os.setxattr(src / "a" / "f1.txt", "user.origin", b"here")
    os.setxattr(src / "a" / "b" / "f2.txt", "user.origin", b"there")
    for i in range(3):
        os.symlink(f"f{i}.txt", src / "a" / f"link{i}")
    # ctimes in a second before the backup starts: cacheable
    waits.sleep_past(max(p.lstat().st_ctime for p in [src, *src.rglob("*")]) + 1)


def test_unchanged_files_are_not_asked_for_xattrs(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    repo.run("backup", src)
    trace = traced(repo, tmp_path / "b2.trace", "backup", src)
    asked = set(re.findall(r'llistxattr\("([^"]+)"', trace))
    with_xattrs = {str(src / "a" / "f1.txt"), str(src / "a" / "b" / "f2.txt")}
    links = {str(src / "a" / f"link{i}") for i in range(3)}
    assert asked - links - with_xattrs == set(), "files the cache knows without xattrs were asked again"
    assert with_xattrs <= asked, "a file with xattrs must be read for them every time"
    # an xattr set later changes the ctime: the next backup sees it
    os.setxattr(src / "a" / "f3.txt", "user.later", b"new")
    repo.run("backup", src)
    out = tmp_path / "out"
    repo.run("restore", "latest", "--target", out)
    got = out / str(src).lstrip("/") / "a"
    assert os.getxattr(got / "f3.txt", "user.later") == b"new"
    assert os.getxattr(got / "f1.txt", "user.origin") == b"here"
    assert os.getxattr(got / "b" / "f2.txt", "user.origin") == b"there"
    assert os.listxattr(got / "f5.txt") == []


def test_backup_reads_each_index_object_once(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    repo.run("backup", src)
    (src / "a" / "new.txt").write_text("another index object\n")
    repo.run("backup", src)
    trace = traced(repo, tmp_path / "b3.trace", "backup", src)
    reads = [m.group(1) for m in re.finditer(r'openat\([^"]*"([^"]*/index/[0-9a-f]{64})"', trace)]
    assert len(set(reads)) >= 2, trace
    assert sorted(reads) == sorted(set(reads)), "an index object was read twice"


def test_one_worker_per_core_it_may_run_on(repo, tmp_path):
    """No fixed worker count: as many as the cores of the process's affinity
    (taskset, a cpuset), not as the machine has (--debug: a line per worker)."""
    src = tmp_path / "src"
    make_tree(src)
    usable = len(os.sched_getaffinity(0))
    assert usable >= 2, "this test needs two cores to pin to one"
    pinned = subprocess.run(["taskset", "-c", str(min(os.sched_getaffinity(0))),
                             str(sys.modules[type(repo).__module__].BUILD / "cloudseal"), "--debug",
                             "backup", src], env=repo.env, capture_output=True, text=True, timeout=120)
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stderr.count("worker busy") == 1, pinned.stderr
    free = repo.run("--debug", "backup", src)
    assert free.stderr.count("worker busy") == min(usable, 64), free.stderr


def test_new_files_xattrs_read_through_the_open_file(repo, tmp_path):
    """A file the backup reads has its extended attributes read through the
    file it opened (flistxattr), not by path (llistxattr walked the whole path
    again, 73 k times on the real-tree benchmark); files, directories,
    symlinks and fifos keep their attributes."""
    src = tmp_path / "src"
    make_tree(src)
    os.mkfifo(src / "a" / "fifo")
    os.setxattr(src / "a" / "b", "user.dir", b"d")
    kinds = [("a/f1.txt", "user.origin", b"here")] + [("a/b", "user.dir", b"d")]
    if os.geteuid() == 0:  # trusted.* is the namespace a symlink or a fifo can carry
        for rel, value in (("a/link0", b"l"), ("a/fifo", b"p")):
            os.setxattr(src / rel, "trusted.kind", value, follow_symlinks=False)
            kinds.append((rel, "trusted.kind", value))
    trace = traced(repo, tmp_path / "b1.trace", "backup", src)
    by_path = set(re.findall(r'llistxattr\("([^"]+)"', trace))
    files = {str(p) for p in src.rglob("*") if p.is_file() and not p.is_symlink()}
    assert by_path & files == set(), "a new file's xattrs were listed by path"
    out = tmp_path / "out"
    repo.run("restore", "latest", "--target", out)
    got = out / str(src).lstrip("/")
    for rel, name, value in kinds:
        assert os.getxattr(got / rel, name, follow_symlinks=False) == value, rel
    assert os.listxattr(got / "a" / "f5.txt") == []
