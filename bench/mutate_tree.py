#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A deterministic "day of changes" that works on any tree (the real and the 1 M datasets).

  mutate_tree.py DIR [--day N] [--seed S]

Same interface as ../shared/bench/mutate.py (which only knows mkdata.py's layout), so the
shared harness runs it in place of that one.  Counts are relative to the number F of regular
files (symlinks excluded), chosen from a sorted walk with an RNG seeded by (seed, day):
  modify  ~1 % of F: half overwritten in place (a random range, same size), half appended to
  add     ~0.3 % of F new files in existing directories, sizes drawn from the tree's own files
  delete  ~0.2 % of F
  touch   ~0.2 % of F: mtime only
  rename  one directory holding 0.05-1 % of F files (done last)
Changed files and the directories around them get fixed mtimes (2024-06-01 + N days), so two
runs on copies of one tree give the same result.  Prints a JSON summary.
"""
import argparse
import json
import os
import random


def walk(root):
    files, dirs = [], []
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for nm in sorted(fns):
            p = os.path.join(dp, nm)
            if not os.path.islink(p) and os.path.isfile(p):
                files.append(p)
        if dp != root:
            dirs.append((dp, len(fns)))
    return files, dirs


def pick_dir(rng, root, dirs, nfiles):
    """A directory whose subtree holds 0.05-1 % of the files (a 'project' being renamed)."""
    under = {}
    for d, n in dirs:
        p = d
        while p != root:
            under[p] = under.get(p, 0) + n
            p = os.path.dirname(p)
    lo, hi = max(1, nfiles // 2000), max(2, nfiles // 100)
    fit = sorted(d for d, n in under.items() if lo <= n <= hi)
    return rng.choice(fit) if fit else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--day", type=int, default=1)
    ap.add_argument("--seed", default="20240601")
    a = ap.parse_args()
    root = os.fsencode(os.path.abspath(a.root))
    rng = random.Random("%s:tree-day%d" % (a.seed, a.day))
    t0 = (1717200000 + a.day * 86400) * 10**9
    clock = [0]
    touched_dirs = set()

    def stamp(path):
        clock[0] += 1
        t = t0 + clock[0] * 1000003011
        os.utime(path, ns=(t, t), follow_symlinks=False)

    files, dirs = walk(root)
    n = len(files)
    chosen = rng.sample(files, min(n, n * 17 // 1000))
    k_mod, k_del, k_touch = n // 100, n // 500, n // 500
    modify, delete, touch = (chosen[:k_mod], chosen[k_mod:k_mod + k_del],
                             chosen[k_mod + k_del:k_mod + k_del + k_touch])
    stats = {"files_before": n, "modified_inplace": 0, "appended": 0, "added": 0,
             "deleted": 0, "touched": 0, "renamed_dir": None, "bytes_written": 0}

    sizes = [os.path.getsize(p) for p in rng.sample(files, min(n, 1000))] or [1000]
    homes = modify or [os.path.join(root, b"x")]
    for i, p in enumerate(modify):
        size = os.path.getsize(p)
        mode = os.stat(p).st_mode
        os.chmod(p, mode | 0o200)
        with open(p, "r+b") as f:
            if i % 2 == 0 and size > 0:
                ln = min(size, rng.randint(1, 4096))
                f.seek(rng.randrange(0, size - ln + 1))
                f.write(rng.randbytes(ln))
                stats["modified_inplace"] += 1
            else:
                ln = rng.randint(1, 8192)
                f.seek(0, os.SEEK_END)
                f.write(rng.randbytes(ln // 2).hex().encode()[:ln])
                stats["appended"] += 1
        os.chmod(p, mode & 0o7777)
        stats["bytes_written"] += ln
        stamp(p)

    for p in delete:
        os.unlink(p)
        touched_dirs.add(os.path.dirname(p))
        stats["deleted"] += 1

    for p in touch:
        stamp(p)
        stats["touched"] += 1

    for i in range(n * 3 // 1000):
        d = os.path.dirname(rng.choice(homes))
        p = os.path.join(d, b"new-day%d-%d.txt" % (a.day, i))
        ln = min(rng.choice(sizes), 1 << 20)
        with open(p, "wb") as f:
            f.write(rng.randbytes(ln // 2 + 1).hex().encode()[:ln])
        stamp(p)
        touched_dirs.add(d)
        stats["added"] += 1
        stats["bytes_written"] += ln

    d = pick_dir(rng, root, dirs, n)
    if d is not None:
        nd = d + b".renamed-day%d" % a.day
        os.rename(d, nd)
        touched_dirs = {nd + t[len(d):] if t.startswith(d + b"/") or t == d else t for t in touched_dirs}
        touched_dirs.add(os.path.dirname(d))
        stamp(nd)
        stats["renamed_dir"] = os.fsdecode(os.path.relpath(d, root))

    for t in sorted(touched_dirs):
        if os.path.isdir(t):
            stamp(t)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
