#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The scan-path dataset of issue 23: a deterministic tree of many small files, deep hierarchy.

  mktree.py DEST [--files N] [--seed S]

N files (default 1 000 000) in a tree of "projects" like node_modules or mail folders: each
directory holds 0-60 files and 0-6 subdirectories, down to depth 12.  Sizes mostly below
1 KiB (median ~330 bytes, 3 % up to 16 KiB, empty files), 80 % text-like (slices of a word
pool: compresses ~3x), 20 % incompressible; every file's bytes are distinct (a slice at its
own offset plus its index), so only content-level dedup of whole files happens by chance.
"""
import argparse
import os
import random

WORDS = (b"the of and to in is for on that with as by this from at be are or an it not "
         b"return int char void static const struct if else while for break case switch "
         b"import def class self none true false function var let require module exports "
         b"subject date received message content type charset boundary").split()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest")
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--seed", default="1m-tree")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    text = b" ".join(rng.choice(WORDS) for _ in range(400_000))
    noise = rng.randbytes(1 << 21)
    tmp = a.dest + ".tmp"
    os.makedirs(tmp)
    made = [0]
    t = 1700000000 * 10**9

    def size():
        r = rng.random()
        if r < 0.02:
            return 0
        if r < 0.97:
            return int(rng.lognormvariate(5.8, 0.9)) % 4096
        return rng.randint(4096, 16384)

    def fill(d, depth):
        nf = rng.randint(0, 60) if depth > 0 else 0
        for i in range(min(nf, a.files - made[0])):
            ln = size()
            pool = text if rng.random() < 0.8 else noise
            off = rng.randrange(0, len(pool) - ln)
            name = "f%05d.%s" % (made[0], rng.choice(("js", "txt", "json", "eml", "c", "bin")))
            with open(os.path.join(d, name), "wb") as f:
                f.write(b"%d\n" % made[0] + pool[off:off + ln])
            made[0] += 1
        nd = rng.randint(1, 6) if depth < 3 else rng.randint(0, 3 if depth < 12 else 0)
        for j in range(nd):
            if made[0] >= a.files:
                break
            sub = os.path.join(d, "d%d-%d" % (depth, j))
            os.mkdir(sub)
            fill(sub, depth + 1)
            os.utime(sub, ns=(t, t))

    while made[0] < a.files:
        top = os.path.join(tmp, "p%04d" % made[0])
        os.mkdir(top)
        fill(top, 0)
        os.utime(top, ns=(t, t))
    os.rename(tmp, a.dest)
    print("mktree: %s: %d files" % (a.dest, made[0]))


if __name__ == "__main__":
    main()
