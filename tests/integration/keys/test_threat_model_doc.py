# SPDX-License-Identifier: MIT
"""docs/threat-model.md stays true: every actor has a table with a row for
every asset, no cell is empty, every row names a test (or says plainly that
nothing is defended), and every test the page names exists."""
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOC = ROOT / "docs/threat-model.md"
ACTORS = ["storage operator", "network attacker", "another local user", "another process of the same user",
          "root of another workstation", "fleet administrator", "thief of a powered-off laptop",
          "thief of a copy of the bucket"]
ASSETS = ["master key", "passwords", "file contents", "file names and metadata", "mail",
          "a login to a fleet account", "the ability to log in at all",
          "the backups' availability and integrity", "the fleet's backup health"]
TEST_RE = re.compile(r"`((?:integration|unit)/[\w/]+\.(?:py|c))::(\w+)`")


def sections():
    """{section title: [lines]} for the '## ' sections of the page."""
    out, cur = {}, None
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            cur = out.setdefault(line[3:].strip(), [])
        elif cur is not None:
            cur.append(line)
    return out


def table(lines):
    rows = [l for l in lines if l.startswith("|")]
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    return cells[0], [c for c in cells[2:]]


def actor_tables():
    found = {}
    for title, lines in sections().items():
        for a in ACTORS:
            if a in title.lower():
                found[a] = table(lines)
    return found


def test_every_actor_has_a_row_for_every_asset_and_no_empty_cell():
    tables = actor_tables()
    assert sorted(tables) == sorted(ACTORS)
    for actor, (head, rows) in tables.items():
        assert head == ["Asset", "Holds (why)", "Does not hold", "Tests"], actor
        assert [r[0] for r in rows] == ASSETS, actor
        for r in rows:
            assert len(r) == 4, (actor, r)
            assert all(c.strip("—- ") for c in r), f"{actor} / {r[0]}: empty cell"
            tests = r[3]
            assert TEST_RE.search(tests) or tests.startswith("not defended: "), \
                f"{actor} / {r[0]}: no test named and not marked 'not defended: ...'"


def defined_tests(path):
    text = path.read_text()
    if path.suffix == ".py":
        return set(re.findall(r"^def (test_\w+)\(", text, re.M))
    # a cmocka test exists when it is registered
    return set(re.findall(r"cmocka_unit_test(?:_setup_teardown)?\((test_\w+)", text))


def test_every_named_test_exists():
    named = TEST_RE.findall(DOC.read_text())
    assert len(named) > 50
    missing = []
    for path, name in set(named):
        p = ROOT / "tests" / path
        if not p.exists() or name not in defined_tests(p):
            missing.append(f"{path}::{name}")
    assert not missing, "docs/threat-model.md names tests that do not exist: " + ", ".join(sorted(missing))


def test_the_check_can_fail(tmp_path, monkeypatch):
    """The checks above must be able to fail: a renamed test is caught."""
    doc = tmp_path / "threat-model.md"
    doc.write_text(DOC.read_text().replace("::test_deleted_pack`", "::test_deleted_pack_renamed`", 1))
    monkeypatch.setattr(sys.modules[__name__], "DOC", doc)
    with pytest.raises(AssertionError, match="test_deleted_pack_renamed"):
        test_every_named_test_exists()
    doc.write_text(DOC.read_text().replace("| mail | As file contents. | As file contents. |",
                                           "| mail | As file contents. | |", 1))
    with pytest.raises(AssertionError, match="empty cell"):
        test_every_actor_has_a_row_for_every_asset_and_no_empty_cell()
