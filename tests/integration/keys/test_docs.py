# SPDX-License-Identifier: MIT
"""Every key declared in lib/config/config_keys.c is documented in
cloudseal.conf(5) under its section, and shown with its default in the
installed example configuration (which must itself load cleanly)."""
import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
KEY_RE = re.compile(r'\{\s*"(\w+)",\s*"(\w+)",\s*CS_CONF_\w+,\s*(NULL|"[^"]*")')


def declared_keys():
    keys = KEY_RE.findall((ROOT / "lib/config/config_keys.c").read_text())
    assert len(keys) > 10
    return [(s, k, None if d == "NULL" else d.strip('"')) for s, k, d in keys]


def man_sections():
    sections, current = {}, None
    for line in (ROOT / "man/cloudseal.conf.5").read_text().splitlines():
        m = re.match(r"\.SH \[(\w+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
        elif line.startswith(".SH"):
            current = None
        elif current is not None:
            current.append(line)
    return sections


def test_every_key_is_in_the_man_page():
    sections = man_sections()
    missing = []
    for sec, key, _ in declared_keys():
        lines = sections.get(sec, [])
        if not any(re.match(rf"\.B[RI]? {key}\b", l) for l in lines):
            missing.append(f"[{sec}] {key}")
    assert not missing, "undocumented in man/cloudseal.conf.5: " + ", ".join(missing)


def test_every_key_is_in_the_example_with_its_default():
    text = (ROOT / "systemd/cloudseal.conf.example").read_text()
    section, seen = None, {}
    for line in text.splitlines():
        m = re.match(r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
        m = re.match(r"#(\w+) = ?(.*)$", line)
        if m and section:
            seen[(section, m.group(1))] = m.group(2)
    missing = [f"[{s}] {k}" for s, k, _ in declared_keys() if (s, k) not in seen]
    assert not missing, "missing in systemd/cloudseal.conf.example: " + ", ".join(missing)
    wrong = [f"[{s}] {k}" for s, k, d in declared_keys() if seen.get((s, k)) != (d or "")]
    assert not wrong, "default differs in the example: " + ", ".join(wrong)


def test_example_uncommented_loads(tmp_path):
    """Uncommenting every line with a value gives a valid configuration."""
    out = []
    for line in (ROOT / "systemd/cloudseal.conf.example").read_text().splitlines():
        m = re.match(r"#(\w+ = .+)$", line)
        out.append(m.group(1) if m else line)
    conf = tmp_path / "c.conf"
    text = "\n".join(out) + "\n"
    # keep the test off the host's /var/lib/cloudseal
    text = text.replace("url = file:///var/lib/cloudseal/storage", f"url = file://{tmp_path}/s")
    text = text.replace("state_dir = /var/lib/cloudseal", f"state_dir = {tmp_path}/state")
    conf.write_text(text)
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(conf), "keybag", "dump",
                        "--cache-only"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 4, r.stderr  # loads fine; not enrolled
    assert "invalid value" not in r.stderr and "syntax error" not in r.stderr
    assert "unknown key" not in r.stderr
