#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check (default) or add (--fix) the SPDX licence line of every source
file: C sources and headers, scripts, makefiles, linker maps and the
command tables.  The line goes first, or second after a '#!' line."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TAG = "SPDX-License-Identifier: MIT"
C_STYLE = (".c", ".h", ".map", ".def")
HASH_STYLE = (".py", ".sh", ".mk")
HASH_NAMES = {"Makefile", ".ci/run", "debian/rules"}


def sources():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        if f.startswith("tests/fuzz/corpus/"):
            continue
        if f.endswith(C_STYLE):
            yield f, f"/* {TAG} */\n"
        elif f.endswith(HASH_STYLE) or f in HASH_NAMES:
            yield f, f"# {TAG}\n"


def has_tag(text):
    return TAG in "".join(text.splitlines(True)[:3])


def add_tag(text, line):
    lines = text.splitlines(True)
    at = 1 if lines and lines[0].startswith("#!") else 0
    return "".join(lines[:at] + [line] + lines[at:])


def main():
    fix = "--fix" in sys.argv[1:]
    missing = []
    for f, line in sources():
        p = ROOT / f
        text = p.read_text()
        if has_tag(text):
            continue
        if fix:
            p.write_text(add_tag(text, line))
        else:
            missing.append(f)
    if missing:
        print("no SPDX line (run scripts/spdx.py --fix):", *missing, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
