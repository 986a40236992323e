# SPDX-License-Identifier: MIT
"""What the backup's workers ask of the system per file (issue 23: the initial
backup's per-file overhead).  Counted with strace, so that load does not matter:
a file smaller than the first read costs one read() (no second one to see the
end, no readahead hint), and files taken by the dozen give the same snapshot as
files taken one at a time."""
import json
import os
import re
import subprocess
import sys

READ_FIRST = 2 << 20  # lib/repo/backup.c: the first read of a file

SIZES = [0, 1, 100, 4095, 4096, 4097, 65536, 131072, 200000, READ_FIRST - 1, READ_FIRST, READ_FIRST + 1,
         3 * READ_FIRST + 5]



def make_files(src):
    src.mkdir()
    paths = {}
    for i, n in enumerate(SIZES):
        p = src / f"f{i:02d}-{n}"
        # compressible and not: text-like halves, random halves
        p.write_bytes((b"line %d\n" % i) * (n // 16) + os.urandom(n - len((b"line %d\n" % i) * (n // 16))))
        paths[str(p)] = n
    return paths


def test_small_file_takes_one_read_and_no_hint(repo, tmp_path):
    conf = sys.modules[type(repo).__module__]
    src = tmp_path / "src"
    sizes = make_files(src)
    log = tmp_path / "b.trace"
    r = subprocess.run(["strace", "-f", "-qq", "-y", "-o", str(log), "-e", "trace=read,fadvise64",
                        str(conf.BUILD / "cloudseal"), "backup", src], input=conf.PASSWORD + "\n",
                       env=repo.env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    trace = log.read_text(errors="surrogateescape")
    reads = {p: 0 for p in sizes}
    hinted = set()
    for m in re.finditer(r'^\d+\s+(read|fadvise64)\(\d+<([^>]*)>', trace, re.M):
        if m.group(2) in sizes:
            if m.group(1) == "read":
                reads[m.group(2)] += 1
            else:
                hinted.add(m.group(2))
    for p, n in sizes.items():
        if n < READ_FIRST:
            assert reads[p] == 1, f"{p}: {reads[p]} reads"
            assert p not in hinted, f"{p}: a readahead hint for a file read at once"
        else:  # a full first read cannot tell the end: one more
            assert reads[p] >= 2, f"{p}: {reads[p]} reads"
            assert (p in hinted) == (n > READ_FIRST), f"{p}: hint {p in hinted}"
    out = tmp_path / "out"
    repo.run("restore", "latest", "--target", out)
    for p, n in sizes.items():
        got = out / p.lstrip("/")
        assert got.read_bytes() == open(p, "rb").read(), p


def snapshot_trees(repo):
    return [s["tree"] for s in json.loads(repo.run("snapshots", "--json").stdout)]


def test_batches_store_the_same_tree_as_one_worker(repo, tmp_path):
    """Many small files in a few directories: two workers taking batches and
    one worker (pinned to one core) give the same tree ids.  The path is
    relative, so that the root tree holds src alone (tmp_path, which the
    repository's files change, is not in it)."""
    conf = sys.modules[type(repo).__module__]
    src = tmp_path / "src"
    for d in range(6):
        (src / f"d{d}").mkdir(parents=True)
        for i in range(120):
            (src / f"d{d}" / f"f{i}").write_bytes((b"%d-%d " % (d, i)) * (i * 7 % 300))

    def backup(*pin):
        r = subprocess.run([*pin, str(conf.BUILD / "cloudseal"), "--debug", "backup", "src"],
                           input=conf.PASSWORD + "\n", env=repo.env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stderr.count("worker busy")

    assert backup("taskset", "-c", str(min(os.sched_getaffinity(0)))) == 1
    assert backup() == min(len(os.sched_getaffinity(0)), 64)
    trees = snapshot_trees(repo)
    assert len(trees) == 2 and trees[0] == trees[1], trees
