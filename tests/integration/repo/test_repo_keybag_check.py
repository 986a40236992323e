# SPDX-License-Identifier: MIT
"""check covers the keybag (issue 17, item 2): a flipped keybag byte is
named by check, whether the keys come from the password (the keybag is
read to unlock) or were unlocked before."""
import json


def test_check_names_a_damaged_keybag(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    repo.run("backup", src)
    repo.run("check")
    kb = repo.storage / "users" / next((repo.storage / "users").iterdir()).name / "keybag"
    doc = json.loads(kb.read_text())
    mac = doc["mac"]
    doc["mac"] = ("B" if mac[0] != "B" else "C") + mac[1:]
    kb.write_text(json.dumps(doc))
    r = repo.run("check", check=False)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "keybag" in r.stderr and ("damaged" in r.stderr or "tamper" in r.stderr), r.stderr
    assert json.loads(repo.run("check", "--json", check=False).stdout)["keybag_ok"] is False
