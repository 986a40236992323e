# SPDX-License-Identifier: MIT
"""The tree says what it is licensed under: LICENSE is MIT, every source
file carries the SPDX line, and debian/copyright says the same."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_license_is_mit():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "Copyright (c) 2026 the cloudseal authors" in text


def test_every_source_file_has_the_spdx_line():
    r = subprocess.run([sys.executable, str(ROOT / "scripts/spdx.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_spdx_check_notices_a_missing_line(tmp_path):
    """The checker itself can fail: a tree with one file lacking the line."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/spdx.py").write_text((ROOT / "scripts/spdx.py").read_text())
    (tmp_path / "a.c").write_text("int a;\n")
    (tmp_path / "b.sh").write_text("#!/bin/sh\n# SPDX-License-Identifier: MIT\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    r = subprocess.run([sys.executable, str(tmp_path / "scripts/spdx.py")], capture_output=True, text=True)
    assert r.returncode == 1 and "a.c" in r.stdout and "b.sh" not in r.stdout


def test_debian_copyright_is_machine_readable_and_expat():
    text = (ROOT / "debian/copyright").read_text()
    first = text.splitlines()[0]
    assert first.startswith("Format: ") and first.endswith("/copyright-format/1.0/")  # DEP-5
    assert "License: Expat\n" in text and "unlicensed" not in text
