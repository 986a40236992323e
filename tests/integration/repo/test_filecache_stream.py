# SPDX-License-Identifier: MIT
"""The file-change cache as a sealed stream in the walk's order (issue 23,
docs/repository.md "The file-change cache"): written only when something
changed, entries of a directory the walk passed over carried, and a damaged
part costing only the files after it."""
import re

import waits


def make_tree(src, dirs=4, files=1000):
    """dirs x files small files: the cache spans several 64 KiB segments."""
    for d in range(dirs):
        sub = src / f"d{d}"
        sub.mkdir(parents=True)
        for i in range(files):
            (sub / f"file-{i:05d}.txt").write_text(f"{d} {i}\n")
    # ctimes a second before the backup starts: cacheable
    waits.sleep_past(max(p.lstat().st_ctime for p in [src, *src.rglob("*")]) + 1)


def counts(r):
    m = re.search(r"Files: (\d+) new, (\d+) changed, (\d+) unchanged", r.stdout)
    assert m, r.stdout + r.stderr
    return tuple(map(int, m.groups()))


def cache_file(repo):
    files = list(repo.cache.rglob("cloudseal/*/files"))
    assert len(files) == 1, files
    return files[0]


def test_cache_written_only_on_change_and_carried(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    assert counts(repo.run("backup", src)) == (4000, 0, 0)
    cache = cache_file(repo)
    first = cache.read_bytes()
    assert first[:8] == b"CSFC\x03\x00\x00\x00", "a version 3 cache"
    assert cache.stat().st_mode & 0o777 == 0o600
    assert counts(repo.run("backup", src)) == (0, 0, 4000)
    assert cache.read_bytes() == first, "a no-change backup rewrote the file cache"
    # a directory left out is carried, not forgotten: back in, its files are not read
    assert counts(repo.run("backup", src, "--exclude", str(src / "d1"))) == (0, 0, 3000)
    assert cache.read_bytes() != first, "entries age: the cache is written"
    assert counts(repo.run("backup", src)) == (0, 0, 4000)
    # one file changed: the others still skipped
    (src / "d2" / "file-00007.txt").write_text("changed\n")
    assert counts(repo.run("backup", src)) == (0, 1, 3999)
    assert not list(cache.parent.glob("files.tmp.*"))


def test_damaged_cache_costs_only_the_files_after_the_damage(repo, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    repo.run("backup", src)
    cache = cache_file(repo)
    data = bytearray(cache.read_bytes())
    assert len(data) > 4 * 65536
    data[len(data) - 70000] ^= 0x40  # in a segment near the end
    cache.write_bytes(bytes(data))
    r = repo.run("backup", src)
    new, changed, unchanged = counts(r)
    assert "ignoring the rest of the unreadable file cache" in r.stderr, r.stderr
    assert unchanged >= 2000 and new > 0 and new + unchanged == 4000, (new, changed, unchanged)
    # never a wrong hit: what was read again is the same data, and the cache is whole again
    assert counts(repo.run("backup", src)) == (0, 0, 4000)
    out = tmp_path / "out"
    repo.run("restore", "latest", "--target", out)
    got = out / str(src).lstrip("/")
    assert (got / "d3" / "file-00999.txt").read_text() == "3 999\n"
