# SPDX-License-Identifier: MIT
"""Every configuration example in README.md, the man pages and docs/ loads
with the real config loader, end-of-line comments and all (issue 18 item 6),
and a wrong value is reported with file, line and the expected form."""
import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
SECTION_RE = re.compile(r"^\[(\w+)\]\s*([#;].*)?$")
SECTIONS = set(re.findall(r'\{\s*"(\w+)",\s*"\w+",\s*CS_CONF_', (ROOT / "lib/config/config_keys.c").read_text()))


def roff_text(line):
    """A line of an .EX/.nf block as the reader sees it."""
    for a, b in (("\\-", "-"), ("\\(em", "--"), ("\\&", ""), ("\\e", "\\"), ("\\(aq", "'")):
        line = line.replace(a, b)
    return line


def blocks():
    """(where, text) of every literal block: indented or fenced in Markdown,
    .EX/.EE or .nf/.fi in roff."""
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        lines, cur, fenced, start = md.read_text().splitlines(), [], False, 0
        for i, line in enumerate(lines + [""], 1):
            if line.startswith("```"):
                if fenced:
                    yield f"{md.name}:{start}", "\n".join(cur)
                    cur = []
                fenced, start = not fenced, i + 1
            elif fenced:
                cur.append(line)
            elif line.startswith("    ") or (cur and not line.strip()):
                if not cur:
                    start = i
                cur.append(line[4:])
            elif cur:
                yield f"{md.name}:{start}", "\n".join(cur)
                cur = []
    for man in sorted((ROOT / "man").iterdir()):
        cur, start = None, 0
        for i, line in enumerate(man.read_text().splitlines(), 1):
            if line in (".EX", ".nf"):
                cur, start = [], i + 1
            elif line in (".EE", ".fi"):
                if cur is not None:
                    yield f"{man.name}:{start}", "\n".join(cur)
                cur = None
            elif cur is not None and not line.startswith(".") :
                cur.append(roff_text(line))


def config_snippets():
    """The blocks that are configuration: they hold a [section] line of a
    section cloudseal.conf knows; the text from the first such line on."""
    out = []
    for where, text in blocks():
        lines = text.splitlines()
        first = next((i for i, l in enumerate(lines)
                      if (m := SECTION_RE.match(l.strip())) and m.group(1) in SECTIONS), None)
        if first is not None:
            out.append((where, "\n".join(lines[first:]).rstrip() + "\n"))
    return out


def load(conf, *args):
    return subprocess.run([str(BUILD / "cloudseal"), "--config", str(conf), *args],
                          capture_output=True, text=True, timeout=30)


def test_every_config_snippet_in_the_docs_loads(tmp_path):
    snippets = config_snippets()
    where = [w for w, _ in snippets]
    # the two known today; more are welcome, fewer means the extraction broke
    assert any(w.startswith("README.md") for w in where), where
    assert any(w.startswith("cloudseal.conf.5") for w in where), where
    for i, (w, text) in enumerate(snippets):
        # keep the test off the host's /var/lib/cloudseal
        text += f"[paths]\nstate_dir = {tmp_path}/state{i}\n" if "[paths]" not in text else ""
        conf = tmp_path / f"snippet{i}.conf"
        conf.write_text(text)
        r = load(conf, "--debug", "keybag", "dump", "--cache-only")
        assert r.returncode == 4, f"{w}:\n{text}\n{r.stderr}"  # loads fine; not enrolled
        for bad in ("invalid value", "syntax error", "unknown key", "given twice"):
            assert bad not in r.stderr, f"{w}:\n{text}\n{r.stderr}"
        # each value as the example means it: without its end-of-line comment
        section = None
        for n, line in enumerate(text.splitlines(), 1):
            if m := SECTION_RE.match(line.strip()):
                section = m.group(1)
            elif m := re.match(r"\s*(\w+)\s*=\s*(.*?)(\s+[#;].*)?$", line):
                expect = f"{conf}:{n}: [{section}] {m.group(1)} = '{m.group(2)}'"
                assert expect in r.stderr, f"{w}: {line!r} read otherwise:\n{r.stderr}"


def test_wrong_value_names_file_line_and_form(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[storage]\nurl = file:///nonexistent   # a comment\n\n[agent]\n"
                    "interval = often   # every so often\n[session]\nlock = sometimes\n")
    r = load(conf, "status")
    assert r.returncode == 2, r.stderr
    assert (f"invalid value 'often' for 'interval' in [agent] at {conf}:5: "
            "a duration like 1h or 30min, from 1s to 1w") in r.stderr, r.stderr
    assert f"invalid value 'sometimes' for 'lock' in [session] at {conf}:7: logout or reboot" in r.stderr
