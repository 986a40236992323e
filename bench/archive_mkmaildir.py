#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate a Maildir of N messages with realistic sizes (deterministic).

Sizes: most mail is small text (log-normal around 6 KiB: headers, a
quoted thread, an HTML alternative); 12% carry a base64 attachment
(log-normal around 150 KiB, capped at 8 MiB) that compresses poorly, as
attachments do.  Folders: INBOX plus a few Maildir++ folders; 70% seen.

usage: archive_mkmaildir.py MAILDIR N [SEED]
"""
import base64
import os
import random
import sys

WORDS = ("the of and to in is you that it he was for on are as with his they at be this have from or one "
         "had by word but not what all were we when your can said there use an each which she do how their "
         "if will up other about out many then them these so some her would make like him into time has look "
         "two more write go see number no way could people my than first water been call who oil its now find "
         "release meeting patch review build server deploy invoice schedule lunch report draft budget").split()
FOLDERS = ["", ".Sent", ".Archive", ".Lists.debian-devel", ".Lists.lkml", ".Work"]


_POOL = None


def text(rng, n):
    """n bytes of English-looking text: a window of a pool made once (fast)."""
    global _POOL
    if _POOL is None:
        words = [rng.choice(WORDS) for _ in range(800_000)]
        lines = [" ".join(words[i:i + 10]) for i in range(0, len(words), 10)]
        _POOL = "\n".join(lines)
    start = rng.randrange(0, len(_POOL) - n - 1) if n < len(_POOL) - 1 else 0
    return _POOL[start:start + n]


def message(rng, i):
    body_len = int(min(rng.lognormvariate(8.7, 0.9), 400_000))  # median ~6 KiB of text
    hdr = (f"Return-Path: <sender{i % 997}@example.org>\n"
           f"Received: from mx{i % 7}.example.org by mail.example.net; Sat, 28 Nov 2026 02:{i % 60:02d}:00 +0000\n"
           f"From: Sender {i % 997} <sender{i % 997}@example.org>\nTo: me@example.net\n"
           f"Subject: {text(rng, 30).strip()[:60]}\nMessage-ID: <{i}.{rng.getrandbits(32)}@example.org>\n"
           f"Date: Sat, 28 Nov 2026 02:{i % 60:02d}:00 +0000\nMIME-Version: 1.0\n")
    parts = [hdr, "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n",
             text(rng, body_len)]
    if rng.random() < 0.12:
        att = int(min(rng.lognormvariate(11.9, 1.0), 8 << 20))  # median ~150 KiB
        parts.append("\n--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n")
        parts.append(base64.encodebytes(rng.randbytes(att)).decode())
    parts.append("\n--b--\n")
    return "".join(parts).encode()


def main():
    root, n = sys.argv[1], int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    for f in FOLDERS:
        for s in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, f, s), exist_ok=True)
    total = 0
    for i in range(n):
        folder = FOLDERS[0] if rng.random() < 0.5 else rng.choice(FOLDERS[1:])
        seen = rng.random() < 0.7
        name = f"1764300000.M{i}P{os.getpid()}.bench" + (":2,S" if seen else "")
        data = message(rng, i)
        total += len(data)
        with open(os.path.join(root, folder, "cur" if seen else "new", name), "wb") as fh:
            fh.write(data)
    print(total)


if __name__ == "__main__":
    main()
